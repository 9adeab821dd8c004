"""What the manager pages need at a million leads (bench/manager.py): an index for ROI's
attribution, two for the Scoring page and the campaign audience (call list; heatmaps
and audience counts) and a daily rollup of message costs.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 23:55:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TOUCH_SQL = "direction = 'outbound' AND category = 'marketing' AND sent_at IS NOT NULL"


def upgrade() -> None:
    op.create_table(
        "daily_message_costs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("campaign_id", sa.BigInteger(), nullable=True),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("category", sa.String(length=16), nullable=False),
        sa.Column("sent", sa.Integer(), nullable=False),
        sa.Column("segments", sa.Integer(), nullable=False),
        sa.Column("cost_microdollars", sa.BigInteger(), nullable=False),
        sa.Column("computed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_daily_message_costs_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_daily_message_costs")),
    )
    op.create_index(
        "ix_daily_message_costs_tenant_day", "daily_message_costs", ["tenant_id", "day"]
    )
    # ROI attribution reads each deal's recovery messages by (lead, sent_at): partial and, on
    # PostgreSQL, covering, so a deal is one index-only range read instead of a table scan.
    op.create_index(
        "ix_messages_touches",
        "messages",
        ["lead_id", "sent_at"],
        unique=False,
        postgresql_include=["id", "tenant_id", "campaign_id", "channel"],
        postgresql_where=sa.text(TOUCH_SQL),
        sqlite_where=sa.text(TOUCH_SQL),
    )

    # The call list ranks the leads that reached out lately first (see models.lead).
    op.create_index(
        "ix_leads_tenant_reached",
        "leads",
        ["tenant_id", sa.text("coalesce(last_inbound_at, created_at)")],
        unique=False,
    )
    # The heatmaps' and the audience's counts read this instead of the leads table
    # (covering on PostgreSQL).
    op.create_index(
        "ix_leads_tenant_status_heat",
        "leads",
        ["tenant_id", "status"],
        unique=False,
        postgresql_include=[
            "score",
            "source",
            "temperature",
            "assigned_user_id",
            "last_outbound_at",
            "last_inbound_at",
            "phone",
            "email",
            "opted_out_sms",
            "opted_out_email",
        ],
    )
    # What an office sent in a time range (the rollup; ROI's last days, read live).
    op.create_index("ix_messages_tenant_sent", "messages", ["tenant_id", "sent_at"], unique=False)
    # ROI's lead-source costs: new leads of a range by source, from the index (PostgreSQL).
    op.drop_index("ix_leads_tenant_created", table_name="leads")
    op.create_index(
        "ix_leads_tenant_created",
        "leads",
        ["tenant_id", "created_at"],
        unique=False,
        postgresql_include=["source"],
    )


def downgrade() -> None:
    op.drop_index("ix_leads_tenant_created", table_name="leads")
    op.create_index("ix_leads_tenant_created", "leads", ["tenant_id", "created_at"], unique=False)
    op.drop_index("ix_messages_tenant_sent", table_name="messages")
    op.drop_index("ix_leads_tenant_status_heat", table_name="leads")
    op.drop_index("ix_leads_tenant_reached", table_name="leads")
    op.drop_index("ix_daily_message_costs_tenant_day", table_name="daily_message_costs")
    op.drop_table("daily_message_costs")
    op.drop_index("ix_messages_touches", table_name="messages")
