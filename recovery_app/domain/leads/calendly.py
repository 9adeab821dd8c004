"""Calendly webhook events as appointments of existing leads (`appointments.py`).

`invitee.created` and `invitee.canceled` are acted on; other event types are not ours. The
invitee is matched within the office the webhook URL names, by email (lower-cased) or by the
text-reminder number (E.164, read like intake reads phones); a booking by someone who is not a
lead is recorded in the inbox and nothing else happens - a lead is never created from one.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from recovery_app import jsonbody
from recovery_app.domain.leads.appointments import (
    Booking,
    Cancellation,
    appointment_canceled,
    appointment_set,
)
from recovery_app.domain.leads.intake import find_person, phone_e164
from recovery_app.errors import ValidationFailed
from recovery_app.messaging.inbox import Unmatched
from recovery_app.models import Lead, Tenant, WebhookEvent

CREATED = "invitee.created"
CANCELED = "invitee.canceled"
EVENTS = (CREATED, CANCELED)
MAX_TEXT = 500
MAX_ANSWERS = 5


@dataclass(frozen=True, slots=True)
class InviteeEvent:
    kind: str  # CREATED or CANCELED
    invitee_uri: str
    email: str | None
    phone: str | None  # as the invitee typed it
    booking: Booking
    cancellation: Cancellation

    @property
    def event_id(self) -> str:
        """What makes a delivery unique (Calendly retries carry the same one)."""
        return f"{self.kind}:{self.invitee_uri}"


def _text(value: Any, limit: int = MAX_TEXT) -> str | None:
    if not isinstance(value, str):
        return None
    return value.strip()[:limit] or None


def _moment(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    # An appointment is this century: year 1 or 9999 overflowed the reminders' arithmetic
    # after the post was acknowledged (refused up front instead, with a 422).
    if not 2000 <= moment.year <= 2100:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_event(data: Any) -> InviteeEvent | None:
    """The invitee event in a Calendly webhook body; None for an event type we do not act on;
    ValidationFailed naming each missing or malformed field."""
    if not isinstance(data, dict):
        raise ValidationFailed("Expected a JSON object.", fields={"body": "a JSON object"})
    kind = data.get("event")
    if not isinstance(kind, str) or not kind.strip():
        raise ValidationFailed("Which Calendly event is this?", fields={"event": "required"})
    if kind not in EVENTS:
        return None
    payload = data.get("payload")
    if not isinstance(payload, dict):
        raise ValidationFailed("The event has no payload.", fields={"payload": "an object"})
    problems: dict[str, str] = {}
    uri = _text(payload.get("uri"), 1000)
    if uri is None:
        problems["payload.uri"] = "the invitee URI"
    email, phone = _text(payload.get("email"), 254), _text(payload.get("text_reminder_number"), 40)
    if email is None and phone is None:
        problems["payload.email"] = "the invitee's email (or a text_reminder_number)"
    scheduled = payload.get("scheduled_event")
    scheduled = scheduled if isinstance(scheduled, dict) else {}
    starts_at = _moment(scheduled.get("start_time"))
    if starts_at is None:
        problems["payload.scheduled_event.start_time"] = "an ISO 8601 time, years 2000-2100"
    if problems:
        raise ValidationFailed("The Calendly event lacks what we need.", fields=problems)
    assert uri is not None and starts_at is not None
    answers = [
        f"{_text(qa.get('question'), 200) or 'Question'}: {_text(qa.get('answer'), 300)}"
        for qa in payload.get("questions_and_answers") or []
        if isinstance(qa, dict) and _text(qa.get("answer"))
    ][:MAX_ANSWERS]
    cancellation = payload.get("cancellation")
    cancellation = cancellation if isinstance(cancellation, dict) else {}
    return InviteeEvent(
        kind=kind,
        invitee_uri=uri,
        email=email.lower() if email else None,
        phone=phone,
        booking=Booking(
            invitee_uri=uri,
            starts_at=starts_at,
            ends_at=_moment(scheduled.get("end_time")),
            event_name=_text(scheduled.get("name"), 200) or "",
            event_uri=_text(scheduled.get("uri"), 1000),
            cancel_url=_text(payload.get("cancel_url"), 1000),
            reschedule_url=_text(payload.get("reschedule_url"), 1000),
            answers=answers,
        ),
        cancellation=Cancellation(
            invitee_uri=uri,
            rescheduled=payload.get("rescheduled") is True,
            reason=_text(cancellation.get("reason"), 300),
            canceled_by=_text(cancellation.get("canceled_by"), 200),
        ),
    )


def match_lead(
    session: Session, tenant: Tenant, *, email: str | None, phone: str | None
) -> Lead | None:
    """The office's lead with this email, else with this phone; None when nobody matches."""
    number = phone_e164(phone, region=tenant.default_region) if phone else None
    found = find_person(
        session, tenant_id=int(tenant.id or 0), phone=number, email=email.lower() if email else None
    )
    by_email = next((lead for lead in found if email and lead.email == email.lower()), None)
    return by_email or (found[0] if found else None)


def handle(session: Session, event: WebhookEvent, now: datetime) -> None:
    """The inbox handler of provider "calendly" (the route stored the office's id on the row)."""
    parsed = parse_event(jsonbody.loads(event.raw_body))
    if parsed is None:
        return
    tenant = session.get(Tenant, event.tenant_id) if event.tenant_id is not None else None
    if tenant is None:
        raise Unmatched("the office this webhook named no longer exists", final=True)
    lead = match_lead(session, tenant, email=parsed.email, phone=parsed.phone)
    if lead is None:
        raise Unmatched("no lead of this office has the invitee's email or phone", final=True)
    if parsed.kind == CREATED:
        appointment_set(session, lead, parsed.booking, now=now)
    else:
        appointment_canceled(session, lead, parsed.cancellation, now=now)
