"""Lead enrichment (Apollo people match): the enriched profile on the lead with its source and
queue state, the enrichment cache (per Apollo account and person) and the call log the
monthly budget counts.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 13:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
WHEN = sqlmodel.sql.sqltypes.UTCDateTime
PENDING = "enrichment_status = 'pending'"


def upgrade() -> None:
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.add_column(sa.Column("job_title", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("company", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("seniority", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("linkedin_url", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("location", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("enriched_at", WHEN(), nullable=True))
        batch_op.add_column(sa.Column("enrichment_source", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("enrichment_status", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("enrichment_note", sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column("enrichment_due_at", WHEN(), nullable=True))
        batch_op.add_column(
            sa.Column("enrichment_attempts", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.create_index(
            "ix_leads_enrichment_due",
            ["enrichment_due_at"],
            unique=False,
            postgresql_where=sa.text(PENDING),
            sqlite_where=sa.text(PENDING),
        )
    op.create_table(
        "enrichment_cache",
        sa.Column("id", BIGID, nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("lookup_key", sa.String(length=300), nullable=False),
        sa.Column("matched", sa.Boolean(), nullable=False),
        sa.Column("data", JSON, nullable=False),
        sa.Column("fetched_at", WHEN(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_enrichment_cache")),
        sa.UniqueConstraint(
            "provider", "account", "lookup_key", name="uq_enrichment_cache_provider_account_key"
        ),
    )
    op.create_table(
        "enrichment_calls",
        sa.Column("id", BIGID, nullable=False),
        sa.Column("tenant_id", BIGID, nullable=False),
        sa.Column("lead_id", BIGID, nullable=True),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("called_at", WHEN(), nullable=False),
        sa.ForeignKeyConstraint(
            ["lead_id"],
            ["leads.id"],
            name=op.f("fk_enrichment_calls_lead_id_leads"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_enrichment_calls_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_enrichment_calls")),
    )
    with op.batch_alter_table("enrichment_calls", schema=None) as batch_op:
        batch_op.create_index(
            "ix_enrichment_calls_tenant_called", ["tenant_id", "called_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("enrichment_calls", schema=None) as batch_op:
        batch_op.drop_index("ix_enrichment_calls_tenant_called")
    op.drop_table("enrichment_calls")
    op.drop_table("enrichment_cache")
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.drop_index("ix_leads_enrichment_due")
        for name in (
            "enrichment_attempts",
            "enrichment_due_at",
            "enrichment_note",
            "enrichment_status",
            "enrichment_source",
            "enriched_at",
            "location",
            "linkedin_url",
            "seniority",
            "company",
            "job_title",
        ):
            batch_op.drop_column(name)
