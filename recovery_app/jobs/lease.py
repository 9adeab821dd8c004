"""The scheduler lease: one row per lease name; whoever holds an unexpired row leads.

Taking over is a single conditional UPDATE (mine, or expired), so two workers racing for an
expired lease cannot both win: the database serialises the writes and re-checks the condition.
"""

from datetime import datetime, timedelta

from sqlalchemy import case, or_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlmodel import col

from recovery_app.models import SchedulerLease


def acquire(session: Session, *, name: str, holder: str, now: datetime, ttl: timedelta) -> bool:
    """Take or renew the lease; True when `holder` leads until now + ttl."""
    result = session.execute(
        update(SchedulerLease)
        .where(
            col(SchedulerLease.name) == name,
            or_(col(SchedulerLease.holder) == holder, col(SchedulerLease.expires_at) < now),
        )
        .values(
            acquired_at=case(
                (col(SchedulerLease.holder) == holder, col(SchedulerLease.acquired_at)), else_=now
            ),
            holder=holder,
            expires_at=now + ttl,
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount == 1:  # type: ignore[attr-defined]
        return True
    try:
        with session.begin_nested():
            session.add(
                SchedulerLease(name=name, holder=holder, acquired_at=now, expires_at=now + ttl)
            )
    except IntegrityError:
        return False  # someone else holds it
    return True


def release(session: Session, *, name: str, holder: str, now: datetime) -> None:
    """Give the lease up early (on shutdown), so another worker can lead at once."""
    session.execute(
        update(SchedulerLease)
        .where(col(SchedulerLease.name) == name, col(SchedulerLease.holder) == holder)
        .values(expires_at=now)
        .execution_options(synchronize_session=False)
    )
