"""JSON shapes of the REST API (they are also its OpenAPI schema)."""

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel

from recovery_app.domain.campaigns.service import CampaignView
from recovery_app.domain.ids import RowId
from recovery_app.models import Activity, Lead, Message


class LeadOut(BaseModel):
    id: int
    first_name: str
    last_name: str
    email: str | None
    phone: str | None
    status: str
    score: int
    temperature: str
    score_factors: list[dict[str, Any]]
    source: str
    message: str | None
    timezone: str | None
    assigned_user_id: int | None
    tags: list[str]
    consent: dict[str, bool]
    opted_out: dict[str, bool]
    est_value_cents: int | None
    created_at: datetime
    first_response_at: datetime | None
    last_inbound_at: datetime | None
    last_outbound_at: datetime | None
    last_activity_at: datetime

    @classmethod
    def of(cls, lead: Lead) -> "LeadOut":
        return cls(
            id=lead.id,  # type: ignore[arg-type]
            first_name=lead.first_name,
            last_name=lead.last_name,
            email=lead.email,
            phone=lead.phone,
            status=lead.status,
            score=lead.score,
            temperature=lead.temperature,
            score_factors=lead.score_factors,
            source=lead.source,
            message=lead.message,
            timezone=lead.timezone,
            assigned_user_id=lead.assigned_user_id,
            tags=lead.tags,
            consent={"sms": lead.consent_sms, "email": lead.consent_email},
            opted_out={"sms": lead.opted_out_sms, "email": lead.opted_out_email},
            est_value_cents=lead.est_value_cents,
            created_at=lead.created_at,
            first_response_at=lead.first_response_at,
            last_inbound_at=lead.last_inbound_at,
            last_outbound_at=lead.last_outbound_at,
            last_activity_at=lead.last_activity_at,
        )


class ActivityOut(BaseModel):
    id: int
    kind: str
    occurred_at: datetime
    actor_user_id: int | None
    message_id: int | None
    data: dict[str, Any]

    @classmethod
    def of(cls, activity: Activity) -> "ActivityOut":
        return cls.model_validate(activity, from_attributes=True)


class MessageOut(BaseModel):
    id: int
    channel: str
    direction: str
    category: str
    status: str
    subject: str | None
    body: str
    to_address: str | None
    from_address: str | None
    campaign_id: int | None
    error_code: str | None
    error_message: str | None
    hold_reason: str | None
    attempts: int
    segments: int | None
    cost_microdollars: int | None
    queued_at: datetime
    next_attempt_at: datetime | None
    sent_at: datetime | None
    delivered_at: datetime | None
    drafted_by: str | None

    @classmethod
    def of(cls, message: Message) -> "MessageOut":
        fields = {name: getattr(message, name) for name in cls.model_fields if name != "queued_at"}
        return cls(**fields, queued_at=message.created_at)


class LeadDetailOut(LeadOut):
    assigned_name: str | None
    activities: list[ActivityOut]
    messages: list[MessageOut]


class LeadListOut(BaseModel):
    items: list[LeadOut]
    next_cursor: str | None


class StepOut(BaseModel):
    position: int
    channel: str
    delay_minutes: int
    template_id: int | None
    subject: str | None
    body: str | None
    ai_personalize: bool
    condition: str | None


class CampaignOut(BaseModel):
    id: int
    name: str
    goal: str
    status: str
    audience: dict[str, Any]
    channels: list[str]
    send_window: dict[str, Any]
    always_on: bool
    autopilot: bool
    frequency_cap_per_day: int
    starts_at: datetime | None
    launched_at: datetime | None
    created_at: datetime
    steps: list[StepOut]
    enrolled: int
    active_enrollments: int

    @classmethod
    def of(cls, view: CampaignView) -> "CampaignOut":
        c = view.campaign
        return cls(
            id=c.id,  # type: ignore[arg-type]
            name=c.name,
            goal=str(c.goal),
            status=str(c.status),
            audience=c.audience or {},
            channels=list(c.channels or []),
            send_window=c.send_window or {},
            always_on=c.always_on,
            autopilot=c.autopilot,
            frequency_cap_per_day=c.frequency_cap_per_day,
            starts_at=c.starts_at,
            launched_at=c.launched_at,
            created_at=c.created_at,
            steps=[
                StepOut(
                    position=s.position,
                    channel=str(s.channel),
                    delay_minutes=s.delay_minutes,
                    template_id=s.template_id,
                    subject=s.subject,
                    body=s.body,
                    ai_personalize=s.ai_personalize,
                    condition=s.condition,
                )
                for s in view.steps
            ],
            enrolled=view.enrolled,
            active_enrollments=view.active,
        )


class CampaignListOut(BaseModel):
    items: list[CampaignOut]
    next_cursor: str | None = None


class TriggerIn(BaseModel):
    lead_id: RowId
    campaign_id: RowId | None = None


class TriggerOut(BaseModel):
    action: str
    lead_id: int
    enrollment_id: int | None
    campaign_id: int | None
    message_id: int | None
    channel: str | None
    status: str | None
    hold_reason: str | None
    drafted_by: str | None


class RevenueSliceOut(BaseModel):
    key: str
    label: str
    deals: float
    revenue_cents: int
    sent: int | None = None
    cost_microdollars: int | None = None
    roi: float | None = None


class DaySpeedOut(BaseModel):
    day: date
    speed_p50_seconds: int | None
    speed_p90_seconds: int | None


class CohortOut(BaseModel):
    start: date
    end: date
    went_silent: int
    recovered: int
    rate: float | None


class AnalyticsOut(BaseModel):
    """`funnel`: what moved through the office in the range (from the daily rollup);
    `roi`: recovered revenue against cost under the attribution `model`."""

    start: date
    end: date
    model: str
    attribution_window_days: int
    funnel: dict[str, int]
    recovery_rate: float | None
    response_times: list[DaySpeedOut]
    revenue_cents: int
    deals: int
    closed_revenue_cents: int
    closed_deals: int
    costs_microdollars: dict[str, int]
    roi: float | None
    cost_per_recovered_cents: int | None
    before_go_live: CohortOut | None
    after_go_live: CohortOut | None
    go_live: date | None
    by_campaign: list[RevenueSliceOut]
    by_channel: list[RevenueSliceOut]
    by_source: list[RevenueSliceOut]
    by_agent: list[RevenueSliceOut]
