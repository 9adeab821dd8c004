"""Slack alerts: each office's integration settings and health (`tenant_integrations`), the
durable Slack alert queue (`slack_alerts`, unique per office and dedupe key) and each agent's
own Slack webhook.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
WHEN = sqlmodel.sql.sqltypes.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "tenant_integrations",
        sa.Column("id", BIGID, nullable=False),
        sa.Column("tenant_id", BIGID, nullable=False),
        sa.Column("integration", sa.String(length=32), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("secret", sa.Text(), nullable=True),
        sa.Column("config", JSON, nullable=False),
        sa.Column("state", JSON, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attention_key", sa.String(length=64), nullable=True),
        sa.Column("last_ok_at", WHEN(), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("last_error_at", WHEN(), nullable=True),
        sa.Column("updated_at", WHEN(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_tenant_integrations_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenant_integrations")),
        sa.UniqueConstraint(
            "tenant_id", "integration", name="uq_tenant_integrations_tenant_integration"
        ),
    )
    op.create_table(
        "slack_alerts",
        sa.Column("id", BIGID, nullable=False),
        sa.Column("tenant_id", BIGID, nullable=False),
        sa.Column("user_id", BIGID, nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("dedupe_key", sa.String(length=200), nullable=False),
        sa.Column("lead_id", BIGID, nullable=True),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=True),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", WHEN(), nullable=True),
        sa.Column("folded_into_id", BIGID, nullable=True),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("created_at", WHEN(), nullable=False),
        sa.Column("sent_at", WHEN(), nullable=True),
        sa.ForeignKeyConstraint(
            ["folded_into_id"],
            ["slack_alerts.id"],
            name=op.f("fk_slack_alerts_folded_into_id_slack_alerts"),
        ),
        sa.ForeignKeyConstraint(
            ["lead_id"],
            ["leads.id"],
            name=op.f("fk_slack_alerts_lead_id_leads"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_slack_alerts_tenant_id_tenants")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_slack_alerts_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_slack_alerts")),
        sa.UniqueConstraint("tenant_id", "dedupe_key", name="uq_slack_alerts_tenant_dedupe"),
    )
    with op.batch_alter_table("slack_alerts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_slack_alerts_status_next", ["status", "next_attempt_at"], unique=False
        )
        batch_op.create_index(
            "ix_slack_alerts_target_sent", ["tenant_id", "user_id", "sent_at"], unique=False
        )
    op.add_column("users", sa.Column("slack_webhook_url", sa.String(length=500), nullable=True))
    op.add_column(
        "users", sa.Column("slack_webhook_error", sa.String(length=500), nullable=True)
    )


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("slack_webhook_error")
        batch_op.drop_column("slack_webhook_url")
    with op.batch_alter_table("slack_alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_slack_alerts_target_sent")
        batch_op.drop_index("ix_slack_alerts_status_next")
    op.drop_table("slack_alerts")
    op.drop_table("tenant_integrations")
