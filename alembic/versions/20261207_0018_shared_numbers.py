"""Texting from numbers several offices share, and a lane for texts a person waits for.

- `tenants.sender_pool`: more numbers of an office's own beside `sender_phone`.
- `unmatched_texts`: inbound texts no office could be found for, kept for an admin.
- `ix_messages_sms_to_from`: which office last texted a phone from a number (inbound texts
  to a shared number are attributed by it).
- `ix_messages_urgent_due`: the due rows that are not marketing, which the dispatcher claims
  first, so a new lead's first text does not wait behind a campaign due at the same moment.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0018"
down_revision: str | Sequence[str] | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
WHEN = sqlmodel.sql.sqltypes.UTCDateTime
URGENT = "category <> 'marketing'"
OUTBOUND_SMS = "direction = 'outbound' AND channel = 'sms'"


def upgrade() -> None:
    # Not through a batch (a copy of the table on SQLite, which breaks the triggers on it).
    op.add_column("tenants", sa.Column("sender_pool", JSON, nullable=False, server_default="[]"))
    op.create_table(
        "unmatched_texts",
        sa.Column("id", BIGID, primary_key=True),
        sa.Column("webhook_event_id", BIGID, sa.ForeignKey("webhook_events.id"), nullable=False),
        sa.Column("from_phone", sa.String(20), nullable=False),
        sa.Column("to_number", sa.String(64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("provider_id", sa.String(255), nullable=False),
        sa.Column("keyword", sa.String(16), nullable=False),
        sa.Column("received_at", WHEN(), nullable=False),
        sa.Column("assigned_tenant_id", BIGID, sa.ForeignKey("tenants.id"), nullable=True),
        sa.Column("assigned_by_user_id", BIGID, sa.ForeignKey("users.id"), nullable=True),
        sa.Column("assigned_at", WHEN(), nullable=True),
        sa.UniqueConstraint("webhook_event_id", name="uq_unmatched_texts_event"),
    )
    op.create_index("ix_unmatched_texts_open", "unmatched_texts", ["assigned_at", "received_at"])
    op.create_index(
        "ix_messages_sms_to_from",
        "messages",
        ["to_address", "from_address", "id"],
        postgresql_where=sa.text(OUTBOUND_SMS),
        sqlite_where=sa.text(OUTBOUND_SMS),
    )
    op.create_index(
        "ix_messages_urgent_due",
        "messages",
        ["status", "next_attempt_at"],
        postgresql_where=sa.text(URGENT),
        sqlite_where=sa.text(URGENT),
    )


def downgrade() -> None:
    op.drop_index("ix_messages_urgent_due", table_name="messages")
    op.drop_index("ix_messages_sms_to_from", table_name="messages")
    op.drop_index("ix_unmatched_texts_open", table_name="unmatched_texts")
    op.drop_table("unmatched_texts")
    # SQLite 3.35+ and PostgreSQL drop a column in place.
    op.execute("ALTER TABLE tenants DROP COLUMN sender_pool")
