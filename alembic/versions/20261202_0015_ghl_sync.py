"""GoHighLevel two-way sync: the write-back queue (one row per write, an idempotency key
unique) that is also each lead's sync log. The office's token, its health and the import's
progress live in `tenant_integrations` (integration "ghl").

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
WHEN = sqlmodel.sql.sqltypes.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "ghl_writes",
        sa.Column("id", BIGID, nullable=False),
        sa.Column("tenant_id", BIGID, nullable=False),
        sa.Column("lead_id", BIGID, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("idempotency_key", sa.String(length=120), nullable=False),
        sa.Column("summary", sa.String(length=300), nullable=False),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("sent_version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", WHEN(), nullable=True),
        sa.Column("ghl_id", sa.String(length=64), nullable=True),
        sa.Column("result", sa.String(length=500), nullable=True),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("created_at", WHEN(), nullable=False),
        sa.Column("updated_at", WHEN(), nullable=False),
        sa.Column("done_at", WHEN(), nullable=True),
        sa.ForeignKeyConstraint(
            ["lead_id"], ["leads.id"], name=op.f("fk_ghl_writes_lead_id_leads"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_ghl_writes_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ghl_writes")),
        sa.UniqueConstraint("idempotency_key", name="uq_ghl_writes_idempotency_key"),
    )
    with op.batch_alter_table("ghl_writes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_ghl_writes_status_next", ["status", "next_attempt_at"], unique=False
        )
        batch_op.create_index("ix_ghl_writes_lead", ["lead_id", "id"], unique=False)
        batch_op.create_index("ix_ghl_writes_tenant_status", ["tenant_id", "status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("ghl_writes", schema=None) as batch_op:
        batch_op.drop_index("ix_ghl_writes_tenant_status")
        batch_op.drop_index("ix_ghl_writes_lead")
        batch_op.drop_index("ix_ghl_writes_status_next")
    op.drop_table("ghl_writes")
