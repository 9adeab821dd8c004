from datetime import datetime

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from recovery_app.models.base import (
    created_field,
    fk_field,
    id_field,
    json_field,
    str_field,
    text_field,
    when_field,
)
from recovery_app.models.enums import CampaignGoal, CampaignStatus, Channel, EnrollmentStatus


class Template(SQLModel, table=True):
    """A reusable message with `{{variable}}` placeholders; tenant NULL = built-in library."""

    __tablename__ = "templates"

    id: int | None = id_field()
    tenant_id: int | None = fk_field("tenants.id", nullable=True)
    channel: Channel = str_field(8, nullable=False)
    name: str = str_field(120, nullable=False)
    situation: str | None = str_field(64)
    subject: str | None = str_field(255)
    body: str = text_field("", nullable=False)
    is_builtin: bool = Field(default=False, nullable=False)
    created_at: datetime = created_field()
    updated_at: datetime = created_field()

    __table_args__ = (Index("ix_templates_tenant_channel", "tenant_id", "channel"),)


class Campaign(SQLModel, table=True):
    """A nurture sequence: who (audience rule), what (steps), when (send window)."""

    __tablename__ = "campaigns"

    id: int | None = id_field()
    tenant_id: int = fk_field("tenants.id")
    name: str = str_field(200, nullable=False)
    goal: CampaignGoal = str_field(16, CampaignGoal.REPLY, nullable=False)
    status: CampaignStatus = str_field(16, CampaignStatus.DRAFT, nullable=False)
    # {"status": ["silent"], "temperature": ["warm"], "min_score": 40, "silent_for_hours": 168, ...}
    audience: dict = json_field()
    channels: list = json_field(list)
    # {"days": [0, 1, 2, 3, 4], "start": "09:00", "end": "19:00"} in the lead's local time.
    send_window: dict = json_field()
    # Keep enrolling new matches after launch, not only those matching at launch.
    always_on: bool = Field(default=False, nullable=False)
    # False: AI drafts wait in the approval queue before they are sent.
    autopilot: bool = Field(default=True, nullable=False)
    frequency_cap_per_day: int = Field(default=3, nullable=False)
    created_by_user_id: int | None = fk_field("users.id", nullable=True)
    created_at: datetime = created_field()
    updated_at: datetime = created_field()
    starts_at: datetime | None = when_field()
    launched_at: datetime | None = when_field()
    archived_at: datetime | None = when_field()

    __table_args__ = (Index("ix_campaigns_tenant_status", "tenant_id", "status"),)


class CampaignStep(SQLModel, table=True):
    __tablename__ = "campaign_steps"

    id: int | None = id_field()
    campaign_id: int = fk_field("campaigns.id", ondelete="CASCADE")
    position: int = Field(nullable=False)
    channel: Channel = str_field(8, nullable=False)
    # Minutes after the previous step (or after enrollment for the first step).
    delay_minutes: int = Field(default=0, nullable=False)
    template_id: int | None = fk_field("templates.id", nullable=True)
    subject: str | None = str_field(255)
    body: str | None = text_field()
    ai_personalize: bool = Field(default=False, nullable=False)
    # e.g. "not_opened": skip unless the previous email was not opened.
    condition: str | None = str_field(32)

    __table_args__ = (Index("ix_campaign_steps_campaign_position", "campaign_id", "position"),)


class Enrollment(SQLModel, table=True):
    """A lead going through a campaign; the recovery sweep advances it step by step."""

    __tablename__ = "enrollments"

    id: int | None = id_field()
    tenant_id: int = fk_field("tenants.id")
    lead_id: int = fk_field("leads.id", ondelete="CASCADE")
    campaign_id: int = fk_field("campaigns.id", ondelete="CASCADE")
    # Position of the next step to run; equal to the step count when all have run.
    current_step: int = Field(default=0, nullable=False)
    next_run_at: datetime | None = when_field()
    status: EnrollmentStatus = str_field(16, EnrollmentStatus.ACTIVE, nullable=False)
    stopped_reason: str | None = str_field(64)
    enrolled_at: datetime = created_field()
    updated_at: datetime = created_field()
    completed_at: datetime | None = when_field()

    __table_args__ = (
        UniqueConstraint("lead_id", "campaign_id", name="uq_enrollments_lead_campaign"),
        # The sweep's claim: active enrollments whose next step is due.
        Index("ix_enrollments_status_next_run", "status", "next_run_at"),
        Index("ix_enrollments_campaign_status", "campaign_id", "status"),
    )
