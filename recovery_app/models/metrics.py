from datetime import date, datetime

from sqlalchemy import BigInteger, Date, Index, text
from sqlmodel import Field, SQLModel

from recovery_app.models.base import created_field, fk_field, id_field, str_field


class DailyMetric(SQLModel, table=True):
    """One local day of an office (`user_id` NULL) or of one agent (the leads assigned to them):
    what came in, how fast we answered, what we sent and what it earned. Rebuilt from the
    source rows by the `rollup_daily_metrics` job, so it can always be recomputed."""

    __tablename__ = "daily_metrics"

    id: int | None = id_field()
    tenant_id: int = fk_field("tenants.id")
    day: date = Field(sa_type=Date(), nullable=False)
    user_id: int | None = fk_field("users.id", nullable=True, ondelete="CASCADE")
    leads_new: int = Field(default=0, nullable=False)
    # Speed to lead: created -> our first message, over the day's new leads that got one.
    first_responses: int = Field(default=0, nullable=False)
    speed_p50_seconds: int | None = Field(default=None)
    speed_p90_seconds: int | None = Field(default=None)
    human_touches: int = Field(default=0, nullable=False)
    human_touch_p50_seconds: int | None = Field(default=None)
    sms_sent: int = Field(default=0, nullable=False)
    sms_segments: int = Field(default=0, nullable=False)
    emails_sent: int = Field(default=0, nullable=False)
    delivered: int = Field(default=0, nullable=False)
    failed: int = Field(default=0, nullable=False)
    replies: int = Field(default=0, nullable=False)
    went_silent: int = Field(default=0, nullable=False)
    recovered: int = Field(default=0, nullable=False)
    converted: int = Field(default=0, nullable=False)
    revenue_cents: int = Field(default=0, sa_type=BigInteger(), nullable=False)
    message_cost_microdollars: int = Field(default=0, sa_type=BigInteger(), nullable=False)
    ai_calls: int = Field(default=0, nullable=False)
    ai_cost_microdollars: int = Field(default=0, sa_type=BigInteger(), nullable=False)
    computed_at: datetime = created_field()

    __table_args__ = (
        # One row per office-day and per agent-day (NULL user = the office, hence COALESCE).
        Index(
            "uq_daily_metrics_scope",
            "tenant_id",
            "day",
            text("coalesce(user_id, 0)"),
            unique=True,
        ),
    )


class DailyMessageCost(SQLModel, table=True):
    """An office's messages sent on one local day, per campaign (NULL: none), channel and
    category: how many, their segments and what they cost when sent. Rebuilt with
    `daily_metrics` by the same job; ROI's costs read it instead of millions of messages."""

    __tablename__ = "daily_message_costs"

    id: int | None = id_field()
    tenant_id: int = fk_field("tenants.id")
    day: date = Field(sa_type=Date(), nullable=False)
    # No foreign key: a campaign's spend stays in the books after the campaign is deleted.
    campaign_id: int | None = Field(default=None, sa_type=BigInteger())
    channel: str = str_field(8, nullable=False)
    category: str = str_field(16, nullable=False)
    sent: int = Field(default=0, nullable=False)
    segments: int = Field(default=0, nullable=False)
    cost_microdollars: int = Field(default=0, sa_type=BigInteger(), nullable=False)
    # A day computed after it ended is final (a message's send time and price never change).
    computed_at: datetime = created_field()

    __table_args__ = (Index("ix_daily_message_costs_tenant_day", "tenant_id", "day"),)
