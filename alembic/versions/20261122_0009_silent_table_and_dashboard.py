"""The silent-lead table and the live dashboard: the channel of a lead's last outbound
message (a filter), and a partial index for the dashboard's failed-sends count.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22 18:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("leads", sa.Column("last_outbound_channel", sa.String(length=8), nullable=True))
    # Existing leads: the channel of their newest sent outbound message (ix_messages_lead_created
    # finds it per lead).
    op.execute(
        """
        UPDATE leads SET last_outbound_channel = (
            SELECT m.channel FROM messages m
            WHERE m.lead_id = leads.id AND m.direction = 'outbound' AND m.sent_at IS NOT NULL
            ORDER BY m.sent_at DESC, m.id DESC
            LIMIT 1
        )
        WHERE last_outbound_at IS NOT NULL
        """
    )


    op.create_index(
        "ix_messages_tenant_failed",
        "messages",
        ["tenant_id", "failed_at"],
        unique=False,
        postgresql_where=sa.text("failed_at IS NOT NULL"),
        sqlite_where=sa.text("failed_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_messages_tenant_failed", table_name="messages")
    op.drop_column("leads", "last_outbound_channel")
