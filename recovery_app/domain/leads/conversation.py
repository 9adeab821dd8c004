"""A person working a lead: writing to it (through the outbox and the compliance guard, with
the guard's verdict shown at once), taking notes and logging calls. Each counts as the lead's
first human touch for speed to lead. Agents act only on leads they may see."""

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlmodel import col

from recovery_app.domain.accounts.schemas import Viewer
from recovery_app.domain.compliance import guard
from recovery_app.domain.leads import timeline
from recovery_app.domain.leads.service import get_lead
from recovery_app.errors import ValidationFailed
from recovery_app.messaging import outbox
from recovery_app.messaging.dispatcher import facts_for
from recovery_app.models import (
    Activity,
    ActivityKind,
    Channel,
    Message,
    MessageCategory,
    Tenant,
    pk,
)

CALL_OUTCOMES = ("connected", "left_voicemail", "no_answer", "wrong_number", "booked_appointment")
MAX_NOTE = 4000


@dataclass(frozen=True, slots=True)
class SendOutcome:
    message_id: int
    action: str  # what the guard would do now: "send", "hold" or "block"
    detail: str  # why, for hold and block ("21:40 in America/Chicago - quiet hours ...")


def send_message(
    session: Session,
    *,
    viewer: Viewer,
    lead_id: int,
    channel: Channel,
    body: str,
    now: datetime,
    subject: str | None = None,
    idempotency_key: str | None = None,
) -> SendOutcome:
    """Queue a message a person wrote to the lead. The dispatcher sends it (the guard decides
    again then); the verdict returned is the guard's on it right now, so a send that will wait
    or be refused says why before anyone wonders."""
    lead = get_lead(session, viewer=viewer, lead_id=lead_id)
    key = idempotency_key or uuid.uuid4().hex
    message = outbox.enqueue(
        session,
        lead=lead,
        channel=channel,
        body=body,
        subject=subject,
        category=MessageCategory.CONVERSATIONAL,
        idempotency_key=f"manual:{lead_id}:{key}",
        sent_by_user_id=viewer.user_id,
        now=now,
    )
    if viewer.user_id is not None:
        timeline.touched_by_human(lead, now=now)
    session.flush()
    tenant = session.get(Tenant, lead.tenant_id)
    assert tenant is not None
    verdict = guard.check(facts_for(session, message, lead, tenant, now), now=now)
    return SendOutcome(pk(message), str(verdict.action), verdict.detail)


def add_note(
    session: Session, *, viewer: Viewer, lead_id: int, text: str, now: datetime
) -> Activity:
    text = text.strip()
    if not 1 <= len(text) <= MAX_NOTE:
        raise ValidationFailed(
            "Write a note first.", fields={"note": f"1 to {MAX_NOTE} characters"}
        )
    lead = get_lead(session, viewer=viewer, lead_id=lead_id)
    timeline.touched_by_human(lead, now=now)
    return timeline.add_activity(
        session, lead, ActivityKind.NOTE, now=now, data={"text": text}, actor_user_id=viewer.user_id
    )


def log_call(
    session: Session,
    *,
    viewer: Viewer,
    lead_id: int,
    outcome: str,
    minutes: int,
    note: str,
    now: datetime,
) -> Activity:
    errors = {}
    if outcome not in CALL_OUTCOMES:
        errors["outcome"] = "one of " + ", ".join(CALL_OUTCOMES)
    if not 0 <= minutes <= 600:
        errors["minutes"] = "0 to 600"
    if len(note) > MAX_NOTE:
        errors["note"] = f"at most {MAX_NOTE} characters"
    if errors:
        raise ValidationFailed("Check the call.", fields=errors)
    lead = get_lead(session, viewer=viewer, lead_id=lead_id)
    timeline.touched_by_human(lead, now=now)
    return timeline.add_activity(
        session,
        lead,
        ActivityKind.CALL_LOGGED,
        now=now,
        data={"outcome": outcome, "minutes": minutes, "note": note.strip()},
        actor_user_id=viewer.user_id,
    )


def fingerprint(session: Session, *, viewer: Viewer, lead_id: int) -> str:
    """Moves whenever the lead's conversation does (a new or updated message, a new activity):
    an open lead page polls it, two cheap indexed aggregates, and reloads when it changes."""
    get_lead(session, viewer=viewer, lead_id=lead_id)
    newest, updated = session.execute(
        select(func.max(col(Message.id)), func.max(col(Message.updated_at))).where(
            col(Message.lead_id) == lead_id
        )
    ).one()
    activity = session.execute(
        select(func.max(col(Activity.id))).where(col(Activity.lead_id) == lead_id)
    ).scalar_one()
    return f"{newest}:{updated.isoformat() if updated else ''}:{activity}"
