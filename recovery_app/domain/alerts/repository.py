"""Queries of the Slack alert queue."""

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import ColumnElement, delete, func, or_, select, update
from sqlalchemy.orm import Session
from sqlmodel import col

from recovery_app.db import insert_unless_taken
from recovery_app.models import SlackAlert

# Rows a job run takes at most; the rest wait for the next run.
CLAIM_LIMIT = 500
OPEN = ("queued", "sending")


def enqueue(session: Session, alert: SlackAlert) -> bool:
    """Queue `alert` unless one with its dedupe key exists for the office; True if queued."""
    return insert_unless_taken(session, alert, unique=["tenant_id", "dedupe_key"]) is not None


def existing_keys(session: Session, *, tenant_id: int, keys: Collection[str]) -> set[str]:
    if not keys:
        return set()
    return set(
        session.execute(
            select(col(SlackAlert.dedupe_key)).where(
                col(SlackAlert.tenant_id) == tenant_id, col(SlackAlert.dedupe_key).in_(keys)
            )
        ).scalars()
    )


def _target(user_id: int | None) -> ColumnElement[bool]:
    return (
        col(SlackAlert.user_id).is_(None) if user_id is None else col(SlackAlert.user_id) == user_id
    )


def claim_due(session: Session, *, now: datetime, limit: int = CLAIM_LIMIT) -> list[SlackAlert]:
    """Queued rows that are due, and `sending` rows whose claim ran out (a run that died
    between claiming and recording), oldest first; locked against a second runner."""
    return list(
        session.execute(
            select(SlackAlert)
            .where(
                col(SlackAlert.status).in_(OPEN),
                or_(
                    col(SlackAlert.next_attempt_at).is_(None),
                    col(SlackAlert.next_attempt_at) <= now,
                ),
            )
            .order_by(col(SlackAlert.id))
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).scalars()
    )


def posts_since(session: Session, *, tenant_id: int, user_id: int | None, since: datetime) -> int:
    """Posts made to one destination since `since` (a summary is one post)."""
    return int(
        session.execute(
            select(func.count())
            .select_from(SlackAlert)
            .where(
                col(SlackAlert.tenant_id) == tenant_id,
                _target(user_id),
                col(SlackAlert.sent_at) >= since,
                col(SlackAlert.status) == "sent",
            )
        ).scalar_one()
    )


def queued_count(session: Session, *, tenant_id: int) -> int:
    return int(
        session.execute(
            select(func.count())
            .select_from(SlackAlert)
            .where(col(SlackAlert.tenant_id) == tenant_id, col(SlackAlert.status).in_(OPEN))
        ).scalar_one()
    )


def release_held_alerts(session: Session, *, tenant_id: int, user_id: int | None) -> None:
    """A destination was fixed or changed: what waited for it is due now."""
    session.execute(
        update(SlackAlert)
        .where(
            col(SlackAlert.tenant_id) == tenant_id,
            _target(user_id),
            col(SlackAlert.status) == "queued",
        )
        .values(next_attempt_at=None)
        .execution_options(synchronize_session=False)
    )


def delete_for_lead(session: Session, *, lead_id: int) -> None:
    """Erasure: alerts name the lead, so they go with its data; a summary that listed it
    keeps only a line saying so."""
    summaries = select(col(SlackAlert.folded_into_id)).where(
        col(SlackAlert.lead_id) == lead_id, col(SlackAlert.folded_into_id).is_not(None)
    )
    scrubbed = "Several alerts (one was about a lead since erased)"
    session.execute(
        update(SlackAlert)
        .where(col(SlackAlert.id).in_(summaries))
        .values(title=scrubbed, payload={"text": scrubbed})
        .execution_options(synchronize_session=False)
    )
    session.execute(delete(SlackAlert).where(col(SlackAlert.lead_id) == lead_id))
