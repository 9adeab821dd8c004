"""Queries of the GoHighLevel write-back queue (which is also each lead's sync log)."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import case, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlmodel import col

from recovery_app.models import GhlWrite, TenantIntegration

CLAIM_LIMIT = 300
OPEN = ("queued", "sending")
LOG_ROWS = 50


def enqueue(session: Session, rows: Sequence[dict[str, Any]], *, rearm: bool) -> None:
    """Queue writes (dicts of GhlWrite columns). A key already queued is left alone; with
    `rearm` (the state-like kinds) a key already written is queued again with its version
    bumped, so the lead's latest values go out once more. One statement for many rows."""
    if not rows:
        return
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(GhlWrite).values(list(rows))
    if not rearm:
        session.execute(stmt.on_conflict_do_nothing(index_elements=["idempotency_key"]))
        return
    table = GhlWrite.__table__  # type: ignore[attr-defined]
    settled = table.c.status.not_in(OPEN)
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["idempotency_key"],
            set_={
                "version": table.c.version + 1,
                # In flight: stays `sending`; the run that sends it sees the new version.
                "status": case((settled, "queued"), else_=table.c.status),
                "attempts": case((settled, 0), else_=table.c.attempts),
                "next_attempt_at": case(
                    (settled, stmt.excluded.next_attempt_at), else_=table.c.next_attempt_at
                ),
                "error": case((settled, None), else_=table.c.error),
                "summary": stmt.excluded.summary,
                "updated_at": stmt.excluded.updated_at,
            },
        )
    )


def claim_due(session: Session, *, now: datetime, limit: int = CLAIM_LIMIT) -> list[GhlWrite]:
    """Due queued rows and `sending` rows whose claim ran out (a run that died between
    claiming and recording), oldest first; locked against a second runner."""
    return list(
        session.execute(
            select(GhlWrite)
            .where(
                col(GhlWrite.status).in_(OPEN),
                or_(col(GhlWrite.next_attempt_at).is_(None), col(GhlWrite.next_attempt_at) <= now),
            )
            .order_by(col(GhlWrite.id))
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).scalars()
    )


def for_lead(session: Session, *, lead_id: int, limit: int = LOG_ROWS) -> list[GhlWrite]:
    """The lead's sync log, newest first."""
    return list(
        session.execute(
            select(GhlWrite)
            .where(col(GhlWrite.lead_id) == lead_id)
            .order_by(col(GhlWrite.updated_at).desc(), col(GhlWrite.id).desc())
            .limit(limit)
        ).scalars()
    )


def office_counts(session: Session, *, tenant_id: int) -> tuple[dict[str, int], datetime | None]:
    """Writes per status for the office, and when the last one went through."""
    counts = {
        str(status): int(n)
        for status, n in session.execute(
            select(col(GhlWrite.status), func.count())
            .where(col(GhlWrite.tenant_id) == tenant_id)
            .group_by(col(GhlWrite.status))
        ).all()
    }
    last = session.execute(
        select(func.max(col(GhlWrite.done_at))).where(
            col(GhlWrite.tenant_id) == tenant_id, col(GhlWrite.status) == "done"
        )
    ).scalar_one()
    return counts, last


def release_waiting(session: Session, *, tenant_id: int, now: datetime) -> None:
    """The token was fixed or changed: what waited for it is due now."""
    session.execute(
        update(GhlWrite)
        .where(col(GhlWrite.tenant_id) == tenant_id, col(GhlWrite.status) == "queued")
        .values(next_attempt_at=now)
        .execution_options(synchronize_session=False)
    )


def requeue_failed(session: Session, *, lead_id: int, now: datetime) -> int:
    """A person asked for a resync: the lead's failed writes get a fresh start."""
    result = session.execute(
        update(GhlWrite)
        .where(col(GhlWrite.lead_id) == lead_id, col(GhlWrite.status).in_(("failed", "skipped")))
        .values(status="queued", attempts=0, next_attempt_at=now, error=None, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def recently_written(session: Session, *, lead_id: int, since: datetime) -> bool:
    """Did a write to this lead's contact go through since `since` (its echo may come back
    as a GoHighLevel webhook)?"""
    return (
        session.execute(
            select(col(GhlWrite.id))
            .where(
                col(GhlWrite.lead_id) == lead_id,
                col(GhlWrite.done_at) >= since,
            )
            .limit(1)
        ).first()
        is not None
    )


def importing_offices(session: Session) -> list[int]:
    """Offices whose GoHighLevel import is running (the `ghl_import` job's work)."""
    rows = session.execute(
        select(col(TenantIntegration.tenant_id), col(TenantIntegration.state)).where(
            col(TenantIntegration.integration) == "ghl"
        )
    ).all()
    return [
        int(tenant_id)
        for tenant_id, state in rows
        if ((state or {}).get("import") or {}).get("status") == "running"
    ]


def delete_for_lead(session: Session, *, lead_id: int) -> None:
    """Erasure: the log quotes the lead's messages."""
    session.execute(delete(GhlWrite).where(col(GhlWrite.lead_id) == lead_id))
