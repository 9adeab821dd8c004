from datetime import datetime

from sqlalchemy import BigInteger, Index, UniqueConstraint
from sqlmodel import Field, SQLModel
from sqlmodel.sql.sqltypes import UTCDateTime

from recovery_app.models.base import (
    created_field,
    fk_field,
    id_field,
    json_field,
    str_field,
    text_field,
    when_field,
)
from recovery_app.models.enums import (
    CampaignGoal,
    CampaignStatus,
    Channel,
    DraftStatus,
    EnrollmentStatus,
)


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
    # Why the next step waits (e.g. "Outside the send window until Tue 09:00"); NULL when due.
    hold_reason: str | None = str_field(255)

    __table_args__ = (
        UniqueConstraint("lead_id", "campaign_id", name="uq_enrollments_lead_campaign"),
        # The sweep's claim: active enrollments whose next step is due.
        Index("ix_enrollments_status_next_run", "status", "next_run_at"),
        Index("ix_enrollments_campaign_status", "campaign_id", "status"),
    )


class AiDraft(SQLModel, table=True):
    """A message the AI wrote for one campaign step and audience segment, with `{{variables}}`
    left in: every lead of that segment gets it rendered with their own values, so most sends
    need no AI call. Token counts and cost are kept per draft."""

    __tablename__ = "ai_drafts"

    id: int | None = id_field()
    tenant_id: int = fk_field("tenants.id")
    campaign_step_id: int | None = fk_field("campaign_steps.id", nullable=True, ondelete="CASCADE")
    # e.g. "step:12:seg:hot|web_form" or "next-best:silent_7d:sms:warm|referral".
    cache_key: str = str_field(200, nullable=False)
    channel: Channel = str_field(8, nullable=False)
    subject: str | None = str_field(255)
    body: str = text_field("", nullable=False)
    model: str = str_field(64, "", nullable=False)
    input_tokens: int = Field(default=0, nullable=False)
    output_tokens: int = Field(default=0, nullable=False)
    cost_microdollars: int = Field(default=0, sa_type=BigInteger(), nullable=False)
    # How many messages were rendered from this draft (the AI-call-to-message ratio's other half).
    uses: int = Field(default=0, nullable=False)
    created_at: datetime = created_field()

    __table_args__ = (
        UniqueConstraint("tenant_id", "cache_key", name="uq_ai_drafts_tenant_cache_key"),
    )


class DraftReview(SQLModel, table=True):
    """One lead's next campaign message waiting for a person (campaigns not on autopilot):
    approved goes to the outbox, rejected falls back to the template text."""

    __tablename__ = "draft_reviews"

    id: int | None = id_field()
    tenant_id: int = fk_field("tenants.id")
    campaign_id: int = fk_field("campaigns.id", ondelete="CASCADE")
    campaign_step_id: int = fk_field("campaign_steps.id", ondelete="CASCADE")
    enrollment_id: int = fk_field("enrollments.id", ondelete="CASCADE")
    lead_id: int = fk_field("leads.id", ondelete="CASCADE")
    position: int = Field(nullable=False)
    channel: Channel = str_field(8, nullable=False)
    subject: str | None = str_field(255)
    body: str = text_field("", nullable=False)
    # What goes out instead when the draft is rejected.
    fallback_subject: str | None = str_field(255)
    fallback_body: str = text_field("", nullable=False)
    # "ai" or "template": which path wrote `body`.
    drafted_by: str = str_field(16, "template", nullable=False)
    ai_draft_id: int | None = fk_field("ai_drafts.id", nullable=True)
    status: DraftStatus = str_field(16, DraftStatus.PENDING, nullable=False)
    created_at: datetime = created_field()
    updated_at: datetime = created_field()
    decided_at: datetime | None = when_field()
    decided_by_user_id: int | None = fk_field("users.id", nullable=True)
    message_id: int | None = fk_field("messages.id", nullable=True)

    __table_args__ = (
        UniqueConstraint("enrollment_id", "position", name="uq_draft_reviews_enrollment_position"),
        Index("ix_draft_reviews_tenant_status_created", "tenant_id", "status", "created_at"),
        Index("ix_draft_reviews_campaign_status", "campaign_id", "status"),
    )


class TriggerRule(SQLModel, table=True):
    """A tenant's behavioral trigger: when a lead's activity matches `event` (`threshold` times
    within `window_hours`), do `action`. Fires at most once per rule, lead and window."""

    __tablename__ = "trigger_rules"

    id: int | None = id_field()
    tenant_id: int = fk_field("tenants.id")
    name: str = str_field(120, nullable=False)
    enabled: bool = Field(default=True, nullable=False)
    # email_open | email_click | reply_keywords | form_resubmitted | no_open
    event: str = str_field(32, nullable=False)
    threshold: int = Field(default=1, nullable=False)
    window_hours: int = Field(default=24, nullable=False)
    keywords: list = json_field(list)
    # raise_score | alert_agent | move_campaign | pause_nurture | mark_hot
    action: str = str_field(32, nullable=False)
    # {"points": 10} | {"channels": ["in_app", "sms"]} | {"campaign_id": 7}
    params: dict = json_field()
    created_by_user_id: int | None = fk_field("users.id", nullable=True)
    created_at: datetime = created_field()
    updated_at: datetime = created_field()

    __table_args__ = (Index("ix_trigger_rules_tenant_enabled", "tenant_id", "enabled"),)


class TriggerFiring(SQLModel, table=True):
    """A rule that fired for a lead; unique per window, so a rule fires once per lead and window
    however many activities (or workers) see the match."""

    __tablename__ = "trigger_firings"

    id: int | None = id_field()
    tenant_id: int = fk_field("tenants.id")
    rule_id: int = fk_field("trigger_rules.id", ondelete="CASCADE")
    lead_id: int = fk_field("leads.id", ondelete="CASCADE")
    window_start: datetime = Field(sa_type=UTCDateTime(), nullable=False)
    fired_at: datetime = created_field()
    data: dict = json_field()

    __table_args__ = (
        UniqueConstraint("rule_id", "lead_id", "window_start", name="uq_trigger_firings_window"),
        Index("ix_trigger_firings_lead_fired", "lead_id", "fired_at"),
    )
