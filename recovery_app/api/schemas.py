"""JSON shapes of the REST API (they are also its OpenAPI schema)."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel

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
