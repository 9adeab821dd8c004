from datetime import date, datetime

from sqlalchemy import BigInteger, Date, Index, text
from sqlmodel import Field, SQLModel

from recovery_app.models.base import created_field, fk_field, id_field


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
