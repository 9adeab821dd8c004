"""Index leads by first human touch: routing ranks hot-lead agents by their recent response
times, which must not scan every lead of the last 30 days on each new lead.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 08:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.create_index(
            "ix_leads_tenant_first_touch", ["tenant_id", "first_human_touch_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.drop_index("ix_leads_tenant_first_touch")
