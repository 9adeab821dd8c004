"""The webhook inbox: every provider event is stored, raw, under a unique (provider, event id)
before it is answered; processing happens after, and a replay finds the row and changes nothing.
Events that fail or cannot be matched yet are retried by the `process_webhook_inbox` job."""

import logging
import traceback
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from recovery_app.db import insert_unless_taken, session_scope
from recovery_app.models import WebhookEvent

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
UNMATCHED = "unmatched"


class Unmatched(Exception):
    """The event names a message or lead we do not (yet) know."""

    def __init__(self, why: str, *, final: bool = False):
        super().__init__(why)
        self.final = final


def store(
    session: Session,
    *,
    provider: str,
    event_id: str,
    raw_body: str,
    headers: dict[str, str] | None = None,
    tenant_id: int | None = None,
    now: datetime,
) -> tuple[WebhookEvent, bool]:
    """Insert the event, or find the one already stored; True when it is new."""
    event = WebhookEvent(
        provider=provider,
        event_id=event_id[:255],
        raw_body=raw_body,
        headers=headers or {},
        tenant_id=tenant_id,
        received_at=now,
    )
    stored = insert_unless_taken(session, event, unique=["provider", "event_id"])
    if stored is not None:
        return stored, True
    existing = session.execute(
        select(WebhookEvent).where(
            col(WebhookEvent.provider) == provider, col(WebhookEvent.event_id) == event_id[:255]
        )
    ).scalar_one()
    return existing, False


Handler = Callable[[Session, WebhookEvent, datetime], None]


def process(event_id: int, handlers: dict[str, Handler]) -> None:
    """Handle one stored event in its own transaction; failures are recorded, not raised."""
    now = datetime.now(UTC)
    try:
        with session_scope() as session:
            event = session.get(WebhookEvent, event_id)
            if event is None or event.handled_at is not None:
                return
            handlers[event.provider](session, event, now)
            event.handled_at, event.error = now, None
            event.attempts += 1
    except Unmatched as exc:
        with session_scope() as session:
            event = session.get(WebhookEvent, event_id)
            assert event is not None
            event.attempts += 1
            event.error = f"{UNMATCHED}: {exc}"[:2000]
            # Stop retrying once it is clearly never going to match.
            if exc.final or event.attempts >= MAX_ATTEMPTS:
                event.handled_at = now
    except Exception as exc:
        logger.exception("webhook event %s failed", event_id)
        with session_scope() as session:
            event = session.get(WebhookEvent, event_id)
            assert event is not None
            event.attempts += 1
            event.error = "".join(traceback.format_exception_only(exc)).strip()[:2000]
            if event.attempts >= MAX_ATTEMPTS:
                event.handled_at = now


def pending(session: Session, *, now: datetime, limit: int = 200) -> list[int]:
    """Events still to handle: unhandled, under the attempt limit, older than a few seconds
    (the request that stored them handles them first)."""
    stmt = (
        select(col(WebhookEvent.id))
        .where(
            col(WebhookEvent.handled_at).is_(None),
            col(WebhookEvent.attempts) < MAX_ATTEMPTS,
            col(WebhookEvent.received_at) <= now - timedelta(seconds=30),
        )
        .order_by(col(WebhookEvent.received_at))
        .limit(limit)
    )
    return [i for i in session.execute(stmt).scalars() if i is not None]
