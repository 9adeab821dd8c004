"""Outbox queries: claiming due and stale rows, and the facts the compliance guard needs."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import ColumnElement, TextClause, func, select, text, update
from sqlalchemy.orm import Session
from sqlmodel import col

from recovery_app.models import Channel, Direction, Message, MessageCategory, MessageStatus
from recovery_app.models.message import URGENT_SQL

# Statuses meaning the message reached the provider (or the sandbox).
LEFT = (
    MessageStatus.SENT,
    MessageStatus.DELIVERED,
    MessageStatus.OPENED,
    MessageStatus.CLICKED,
    MessageStatus.SIMULATED,
)


def _claim(
    session: Session,
    *,
    status: MessageStatus,
    now: datetime,
    limit: int,
    lease: timedelta,
    bump_attempts: bool,
    urgent_only: bool = False,
    texts: bool | None = None,
) -> list[int]:
    """Atomically take up to `limit` due rows in `status`.

    On PostgreSQL the due rows are picked in a MATERIALIZED CTE with FOR UPDATE SKIP LOCKED:
    claimers never wait for or double-take each other's rows, and the pick runs exactly once.
    (`WHERE id IN (SELECT ... LIMIT n FOR UPDATE SKIP LOCKED)` does not: the planner may rescan
    the subquery and one claim took 134 rows with a limit of 50.) On SQLite one statement under
    the database's write lock does the same."""
    where: list[ColumnElement[bool] | TextClause] = [
        col(Message.status) == status,
        col(Message.direction) == Direction.OUTBOUND,
        col(Message.next_attempt_at) <= now,
    ]
    if urgent_only:
        # Literal, as the partial index's own predicate: a bound parameter would keep the
        # planner from proving the index covers the rows.
        where.append(text(URGENT_SQL))
    if texts is not None:  # only texts, or everything but texts
        is_sms = col(Message.channel) == Channel.SMS
        where.append(is_sms if texts else col(Message.channel) != Channel.SMS)
    due = (
        select(col(Message.id))
        .where(*where)
        .order_by(col(Message.next_attempt_at), col(Message.id))
        .limit(limit)
    )
    values: dict = {
        "status": MessageStatus.SENDING,
        "next_attempt_at": now + lease,
        "updated_at": now,
    }
    if bump_attempts:
        values["attempts"] = col(Message.attempts) + 1
    if session.get_bind().dialect.name == "postgresql":
        picked = due.with_for_update(skip_locked=True).cte("due").prefix_with("MATERIALIZED")
        where = [col(Message.id) == picked.c.id]
    else:
        where = [col(Message.id).in_(due.scalar_subquery()), col(Message.status) == status]
    stmt = (
        update(Message)
        .where(*where)
        .values(**values)
        .returning(col(Message.id))
        .execution_options(synchronize_session=False)
    )
    return sorted(i for i in session.execute(stmt).scalars() if i is not None)


def claim_due(
    session: Session,
    *,
    now: datetime,
    limit: int,
    lease: timedelta,
    bulk_texts: int | None = None,
) -> list[int]:
    """Queued messages whose time has come, marked `sending` with one more attempt: first
    those a person is waiting for (anything but marketing), then the rest by due time, so a
    new lead's first text never waits behind a campaign that fell due at the same moment.
    `bulk_texts`: at most this many marketing texts (what the numbers' pacing can send now;
    None: no such limit). Claiming more only to put them back costs a guard check and a
    transaction each, and a campaign of thousands due at once would be taken round and round
    by every pass."""
    urgent = _claim(
        session,
        status=MessageStatus.QUEUED,
        now=now,
        limit=limit,
        lease=lease,
        bump_attempts=True,
        urgent_only=True,
    )
    if len(urgent) >= limit:
        return urgent
    if bulk_texts is None:
        rest = _claim(
            session,
            status=MessageStatus.QUEUED,
            now=now,
            limit=limit - len(urgent),
            lease=lease,
            bump_attempts=True,
        )
        return sorted(urgent + rest)
    rest = _claim(
        session,
        status=MessageStatus.QUEUED,
        now=now,
        limit=limit - len(urgent),
        lease=lease,
        bump_attempts=True,
        texts=False,
    )
    room = min(limit - len(urgent) - len(rest), bulk_texts)
    if room > 0:
        rest += _claim(
            session,
            status=MessageStatus.QUEUED,
            now=now,
            limit=room,
            lease=lease,
            bump_attempts=True,
            texts=True,
        )
    return sorted(urgent + rest)


def claim_stale(session: Session, *, now: datetime, limit: int, lease: timedelta) -> list[int]:
    """`sending` messages past their lease: the answer never came (a timeout or a crashed
    worker). They are reconciled with the provider, not simply sent again."""
    return _claim(
        session,
        status=MessageStatus.SENDING,
        now=now,
        limit=limit,
        lease=lease,
        bump_attempts=False,
    )


def prior_outbound_sms(session: Session, *, lead_id: int, exclude_id: int) -> bool:
    stmt = select(col(Message.id)).where(
        col(Message.lead_id) == lead_id,
        col(Message.channel) == Channel.SMS,
        col(Message.direction) == Direction.OUTBOUND,
        col(Message.status).in_(LEFT),
        col(Message.id) != exclude_id,
    )
    return session.execute(stmt.limit(1)).first() is not None


def outbound_sms_bounds(session: Session, *, lead_ids: set[int]) -> dict[int, tuple[int, int]]:
    """For each of these leads with a text that left, the lowest and highest such message id:
    `prior_outbound_sms` for a whole batch in one query (a lead has a prior text other than
    message m unless its only one is m itself)."""
    if not lead_ids:
        return {}
    stmt = (
        select(col(Message.lead_id), func.min(col(Message.id)), func.max(col(Message.id)))
        .where(
            col(Message.lead_id).in_(lead_ids),
            col(Message.channel) == Channel.SMS,
            col(Message.direction) == Direction.OUTBOUND,
            col(Message.status).in_(LEFT),
        )
        .group_by(col(Message.lead_id))
    )
    # Every grouped row has a lead and both ids; the column types only allow NULLs.
    rows = cast(list[tuple[int, int, int]], session.execute(stmt).all())
    return {lead_id: (low, high) for lead_id, low, high in rows}


def marketing_sent_since(
    session: Session, *, lead_id: int, since: datetime, exclude_id: int
) -> list[datetime]:
    stmt = select(col(Message.sent_at)).where(
        col(Message.lead_id) == lead_id,
        col(Message.direction) == Direction.OUTBOUND,
        col(Message.category) == MessageCategory.MARKETING,
        col(Message.sent_at) >= since,
        col(Message.id) != exclude_id,
    )
    return [moment for moment in session.execute(stmt).scalars() if moment is not None]


def by_provider_id(session: Session, *, provider: str, provider_id: str) -> Message | None:
    stmt = select(Message).where(
        col(Message.provider) == provider, col(Message.provider_id) == provider_id
    )
    return session.execute(stmt).scalars().first()


@dataclass(frozen=True, slots=True)
class OutboxDepth:
    queued: int  # waiting, due or not (a quiet-hours hold waits for the morning)
    due: int  # queued and due now: what the dispatchers have not caught up with
    sending: int  # claimed by a dispatcher, the provider's answer not recorded yet
    oldest_due_at: datetime | None  # when the longest-waiting due message became due


def outbox_depth(session: Session, *, now: datetime) -> OutboxDepth:
    """The outbox at a glance for /health and /metrics. Every row of these statuses is
    outbound, so both queries range over ix_messages_status_next_attempt alone."""
    is_due = col(Message.next_attempt_at) <= now
    counts = {
        status: (int(total), int(due or 0))
        for status, total, due in session.execute(
            select(
                col(Message.status),
                func.count(),
                func.count(col(Message.id)).filter(is_due),
            )
            .where(col(Message.status).in_([MessageStatus.QUEUED, MessageStatus.SENDING]))
            .group_by(col(Message.status))
        )
    }
    oldest = session.execute(
        select(func.min(col(Message.next_attempt_at))).where(
            col(Message.status) == MessageStatus.QUEUED, is_due
        )
    ).scalar_one()
    queued, due = counts.get(MessageStatus.QUEUED, (0, 0))
    return OutboxDepth(queued, due, counts.get(MessageStatus.SENDING, (0, 0))[0], oldest)
