"""The conversations inbox: a partial index on leads whose last word is theirs.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22 15:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WAITING_SQL = (
    "last_inbound_at IS NOT NULL AND "
    "(last_outbound_at IS NULL OR last_inbound_at > last_outbound_at)"
)


def upgrade() -> None:
    op.create_index(
        "ix_leads_waiting",
        "leads",
        ["tenant_id", "assigned_user_id", "last_inbound_at"],
        unique=False,
        postgresql_where=sa.text(WAITING_SQL),
        sqlite_where=sa.text(WAITING_SQL),
    )


def downgrade() -> None:
    op.drop_index("ix_leads_waiting", table_name="leads")
