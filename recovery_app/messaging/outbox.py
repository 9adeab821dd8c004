"""The outbox: every send starts as a `queued` Message row, written in the same transaction as
the change that caused it, under an idempotency key that makes a second enqueue of the same
cause return the first row instead of a second message."""

import hashlib
from datetime import datetime

from sqlalchemy import event, select
from sqlalchemy.orm import Session
from sqlmodel import col

from recovery_app.db import insert_unless_taken
from recovery_app.errors import ValidationFailed
from recovery_app.messaging import wake
from recovery_app.models import (
    Channel,
    Direction,
    Lead,
    Message,
    MessageCategory,
    MessageStatus,
    User,
    pk,
)
from recovery_app.observability import request_id as request_ids

# Why a campaign's queued message waits with no due time: its campaign is paused.
PAUSED_HOLD = "Campaign paused"
MAX_SMS_LENGTH = 1600  # Twilio's limit (10 segments); templates stay far below it
MAX_EMAIL_LENGTH = 100_000
# The columns' widths (models/message.py).
KEY_LENGTH, PROVIDER_ID_LENGTH = 200, 64


def fitted(value: str, length: int) -> str:
    """`value` as it fits a column of `length`: itself, or (longer) a digest of all of it,
    so two long ids never collapse into one the way cutting them would."""
    if len(value) <= length:
        return value
    return "sha256:" + hashlib.sha256(value.encode()).hexdigest()[: length - 7]


def inbound_key(provider: str, ref: str, *, tenant_id: int | None = None) -> str:
    """The idempotency key of an inbound message: per provider, and per office where the
    provider's ids are only unique within an account (GoHighLevel's per location)."""
    scope = f"{tenant_id}:" if tenant_id is not None else ""
    return fitted(f"in:{provider}:{scope}{ref}", KEY_LENGTH)


def enqueue(
    session: Session,
    *,
    lead: Lead,
    channel: Channel,
    body: str,
    idempotency_key: str,
    now: datetime,
    category: MessageCategory | str = MessageCategory.CONVERSATIONAL,
    subject: str | None = None,
    send_at: datetime | None = None,
    campaign_id: int | None = None,
    campaign_step_id: int | None = None,
    enrollment_id: int | None = None,
    template_id: int | None = None,
    sent_by_user_id: int | None = None,
    request_id: str | None = None,
    drafted_by: str | None = None,
) -> Message:
    """Queue one outbound message; the same `idempotency_key` always yields the same row.
    (The insert itself finds a taken key: no lookup first, on the path of every new lead.)"""
    body = body.strip()
    limit = MAX_SMS_LENGTH if channel == Channel.SMS else MAX_EMAIL_LENGTH
    problem = None
    if not body or len(body) > limit:
        problem = ValidationFailed(
            "Message body is empty or too long.", fields={"body": f"1 to {limit} characters"}
        )
    elif channel == Channel.EMAIL and not (subject or "").strip():
        problem = ValidationFailed("An email needs a subject.", fields={"subject": "required"})
    if problem is not None:
        existing = _existing(session, idempotency_key[:200])
        if existing is not None:  # a cause already queued is answered with its row, as ever
            return existing
        raise problem
    message = Message(
        tenant_id=lead.tenant_id,
        lead_id=pk(lead),
        channel=channel,
        direction=Direction.OUTBOUND,
        category=MessageCategory(category),
        status=MessageStatus.QUEUED,
        to_address=lead.phone if channel == Channel.SMS else lead.email,
        subject=(subject or "").strip()[:255] or None,
        body=body,
        idempotency_key=idempotency_key[:200],
        next_attempt_at=send_at or now,
        campaign_id=campaign_id,
        campaign_step_id=campaign_step_id,
        enrollment_id=enrollment_id,
        template_id=template_id,
        sent_by_user_id=sent_by_user_id,
        # The request or job run this send belongs to, so the dispatcher logs under its id.
        request_id=request_id or request_ids.current(),
        drafted_by=drafted_by,
        created_at=now,
        updated_at=now,
    )
    return insert_once(session, message)


def insert_once(session: Session, message: Message) -> Message:
    """Insert `message` unless its idempotency key is taken; the dispatcher wakes on commit."""
    stored = insert_unless_taken(session, message, unique=["idempotency_key"])
    if stored is None:
        # The same cause was queued before (or by another transaction just now): that row.
        existing = _existing(session, message.idempotency_key)
        assert existing is not None
        return existing
    session.info["wake_dispatcher"] = True
    return stored


def _existing(session: Session, idempotency_key: str) -> Message | None:
    return session.execute(
        select(Message).where(col(Message.idempotency_key) == idempotency_key)
    ).scalar_one_or_none()


@event.listens_for(Session, "after_commit")
def _wake_after_commit(session: Session) -> None:
    """Queued messages go out right after the commit that queued them, not on the next tick."""
    if session.info.pop("wake_dispatcher", False):
        wake.notify()


def enqueue_internal(
    session: Session,
    *,
    user: User,
    channel: Channel,
    body: str,
    idempotency_key: str,
    now: datetime,
    subject: str | None = None,
) -> Message:
    """A message to one of our own users (an alert), through the same outbox and dispatcher."""
    message = Message(
        tenant_id=user.tenant_id,
        lead_id=None,
        recipient_user_id=user.id,
        channel=channel,
        direction=Direction.OUTBOUND,
        category=MessageCategory.INTERNAL,
        status=MessageStatus.QUEUED,
        to_address=user.phone if channel == Channel.SMS else user.email,
        subject=(subject or "Lead Recovery")[:255],
        body=body.strip()[: MAX_SMS_LENGTH if channel == Channel.SMS else MAX_EMAIL_LENGTH],
        idempotency_key=idempotency_key[:200],
        next_attempt_at=now,
        request_id=request_ids.current(),
        created_at=now,
        updated_at=now,
    )
    return insert_once(session, message)
