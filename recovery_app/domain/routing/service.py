"""Routing: who gets a new lead.

Round-robin among agents who are active, inside their working hours and under capacity,
preferring a specialty match and, for hot leads, the fastest recent responders. In
first-to-claim mode the lead is offered to several agents instead; the first to claim it wins
and after the claim window it falls back to round-robin. Whoever gets it is notified; when
nobody can take it, the managers are.
"""

import re
import statistics
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import event, func, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import col

from recovery_app.domain.accounts.schemas import Viewer
from recovery_app.domain.leads import repository, timeline
from recovery_app.domain.notifications.service import notify, notify_managers
from recovery_app.errors import Conflict, Forbidden, NotFound
from recovery_app.models import (
    ActivityKind,
    Lead,
    LeadOffer,
    LeadStatus,
    Role,
    Temperature,
    Tenant,
    User,
    pk,
)

OFFER_TO = 3
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
CLOSED = (LeadStatus.CONVERTED, LeadStatus.LOST)
NEEDS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "sellers",
        re.compile(r"\bsell|\blist (my|our)|home worth|valuation|what('s| is) (my|our) home", re.I),
    ),
    ("relocation", re.compile(r"relocat|moving to|transferr", re.I)),
    ("condos", re.compile(r"condo|townho", re.I)),
    ("first-time buyers", re.compile(r"first[- ]time|first home", re.I)),
    ("investors", re.compile(r"invest|rental|duplex|cash flow", re.I)),
    ("new construction", re.compile(r"new construction|new build|builder", re.I)),
)


def lead_needs(lead: Lead) -> set[str]:
    """Specialties that fit what the lead wrote (and its budget)."""
    text = f"{lead.message or ''} {' '.join(str(v) for v in (lead.attributes or {}).values())}"
    needs = {name for name, pattern in NEEDS if pattern.search(text)}
    if (lead.est_value_cents or 0) >= 100_000_000:
        needs.add("luxury")
    return needs or {"buyers"}


def working_now(user: User, now: datetime) -> bool:
    """Inside the user's working hours in their time zone (no hours set: always)."""
    if not user.working_hours:
        return True
    try:
        local = now.astimezone(ZoneInfo(user.timezone))
    except (ZoneInfoNotFoundError, ValueError):
        local = now.astimezone(UTC)
    span = user.working_hours.get(DAYS[local.weekday()])
    if not span:
        return False
    return time.fromisoformat(span[0]) <= local.time() < time.fromisoformat(span[1])


@dataclass(frozen=True, slots=True)
class Candidate:
    user: User
    open_leads: int
    specialty_match: bool
    response_seconds: float | None


def candidates(session: Session, *, tenant: Tenant, lead: Lead, now: datetime) -> list[Candidate]:
    """Agents who can take `lead` now, best first."""
    # Nothing pending in this session changes who can take the lead: flushing it now would only
    # split the caller's writes into more statements.
    with session.no_autoflush:
        return _candidates(session, tenant=tenant, lead=lead, now=now)


def _candidates(session: Session, *, tenant: Tenant, lead: Lead, now: datetime) -> list[Candidate]:
    agents = (
        session.execute(
            select(User).where(
                col(User.tenant_id) == tenant.id,
                col(User.role) == Role.AGENT,
                col(User.active).is_(True),
            )
        )
        .scalars()
        .all()
    )
    agents = [a for a in agents if working_now(a, now)]
    if not agents:
        return []
    loads = dict(
        session.execute(
            select(col(Lead.assigned_user_id), func.count())
            .where(
                col(Lead.tenant_id) == tenant.id,
                col(Lead.assigned_user_id).in_([a.id for a in agents]),
                col(Lead.status).not_in(CLOSED),
            )
            .group_by(col(Lead.assigned_user_id))
        ).all()
    )
    speed = (
        _response_times(session, tenant_id=pk(tenant), now=now)
        if lead.temperature == Temperature.HOT
        else {}
    )
    needs = lead_needs(lead)
    found = [
        Candidate(
            a,
            int(loads.get(a.id, 0)),
            bool(needs & {s.lower() for s in a.specialties}),
            speed.get(pk(a)),
        )
        for a in agents
        if loads.get(a.id, 0) < a.capacity
    ]
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return sorted(
        found,
        key=lambda c: (
            not c.specialty_match,
            c.response_seconds if c.response_seconds is not None else float("inf"),
            c.user.last_assigned_at or epoch,
            c.user.id,
        ),
    )


# (tenant id) -> (computed at, medians): a 30-day median barely moves in a minute, and every hot
# lead would otherwise re-read a month of touched leads.
_RESPONSE_TIMES: dict[int, tuple[datetime, dict[int, float]]] = {}
RESPONSE_TIMES_TTL = timedelta(seconds=60)


def _response_times(session: Session, *, tenant_id: int, now: datetime) -> dict[int, float]:
    """Each agent's median time to first human touch, over leads touched in the last 30 days
    (by the index on first_human_touch_at: untouched leads are never read). Kept a minute."""
    cached = _RESPONSE_TIMES.get(tenant_id)
    if cached is not None and timedelta(0) <= now - cached[0] < RESPONSE_TIMES_TTL:
        return cached[1]
    medians = _median_response_times(session, tenant_id=tenant_id, now=now)
    _RESPONSE_TIMES[tenant_id] = (now, medians)
    return medians


def forget_response_times() -> None:
    """Drop the cached medians (a database that was wiped, in tests)."""
    _RESPONSE_TIMES.clear()


def _median_response_times(session: Session, *, tenant_id: int, now: datetime) -> dict[int, float]:
    rows = session.execute(
        select(
            col(Lead.assigned_user_id), col(Lead.created_at), col(Lead.first_human_touch_at)
        ).where(
            col(Lead.tenant_id) == tenant_id,
            col(Lead.first_human_touch_at) >= now - timedelta(days=30),
            col(Lead.assigned_user_id).is_not(None),
        )
    ).all()
    by_agent: dict[int, list[float]] = {}
    for user_id, created, touched in rows:
        if user_id is not None and touched is not None:
            by_agent.setdefault(user_id, []).append((touched - created).total_seconds())
    return {user_id: statistics.median(times) for user_id, times in by_agent.items()}


def record_assignment(
    session: Session, *, lead: Lead, user: User, now: datetime, how: str, actor_user_id: int | None
) -> None:
    """The activity every assignment leaves, and the agent's place in the round-robin."""
    _advance_round_robin(session, user, now)
    timeline.add_activity(
        session,
        lead,
        ActivityKind.ASSIGNED,
        now=now,
        actor_user_id=actor_user_id,
        data={"user_id": user.id, "name": user.full_name, "how": how},
    )


_ROUND_ROBIN = "round_robin_moves"


def _advance_round_robin(session: Session, user: User, now: datetime) -> None:
    """Move the agent to the back of the round-robin, written just before the transaction
    commits (see `_write_round_robin`)."""
    set_committed_value(user, "last_assigned_at", now)
    session.info.setdefault(_ROUND_ROBIN, {})[pk(user)] = now


@event.listens_for(Session, "before_commit")
def _write_round_robin(session: Session) -> None:
    """The agent's round-robin time is the last write of the transaction. Written where the
    assignment happens, it locks the agent's row for the rest of the intake, and under load
    every simultaneous new lead ranking the same agent first queued behind it (40 intakes
    waiting on one row at 30 leads/s); written last, the lock lasts one round trip."""
    moves = session.info.pop(_ROUND_ROBIN, None)
    for user_id, at in sorted((moves or {}).items()):  # one order: no deadlock between two
        session.execute(
            update(User)
            .where(col(User.id) == user_id)
            .values(last_assigned_at=at)
            .execution_options(synchronize_session=False)
        )


@event.listens_for(Session, "after_rollback")
def _drop_round_robin(session: Session) -> None:
    """A rolled-back assignment never happened: its move must not ride on a later commit."""
    session.info.pop(_ROUND_ROBIN, None)


def assign(
    session: Session,
    *,
    lead: Lead,
    user: User,
    now: datetime,
    how: str,
    actor_user_id: int | None = None,
) -> None:
    lead.assigned_user_id = user.id
    record_assignment(session, lead=lead, user=user, now=now, how=how, actor_user_id=actor_user_id)
    name = f"{lead.first_name} {lead.last_name}".strip() or lead.phone or lead.email or "New lead"
    notify(
        session,
        user=user,
        kind="assigned",
        title=f"New lead: {name}",
        body=f"{lead.temperature} lead from {lead.source}, score {lead.score}.",
        lead_id=lead.id,
        now=now,
        dedupe_key=f"assigned:{lead.id}:{user.id}",
    )


def route(session: Session, *, lead: Lead, tenant: Tenant, now: datetime) -> User | None:
    """Give `lead` to an agent (or offer it, in first-to-claim mode); None when it waits."""
    ranked = candidates(session, tenant=tenant, lead=lead, now=now)
    if not ranked:
        notify_managers(
            session,
            tenant_id=pk(tenant),
            kind="unrouted",
            title="A lead is waiting for an agent",
            body="No agent is working, active and under capacity right now.",
            lead_id=lead.id,
            now=now,
            dedupe_key=f"unrouted:{lead.id}",
        )
        return None
    if tenant.routing_mode == "first_to_claim":
        expires = now + timedelta(minutes=max(1, tenant.claim_window_minutes))
        for candidate in ranked[:OFFER_TO]:
            session.add(
                LeadOffer(
                    tenant_id=pk(tenant),
                    lead_id=pk(lead),
                    user_id=pk(candidate.user),
                    offered_at=now,
                    expires_at=expires,
                )
            )
            notify(
                session,
                user=candidate.user,
                kind="offer",
                title="Lead up for grabs",
                body=f"First to claim gets it ({tenant.claim_window_minutes} min).",
                lead_id=lead.id,
                now=now,
                dedupe_key=f"offer:{lead.id}:{candidate.user.id}",
            )
        session.flush()
        return None
    best = ranked[0].user
    assign(session, lead=lead, user=best, now=now, how="round_robin")
    return best


def _too_late(session: Session, lead_id: int) -> Conflict:
    holder = session.execute(
        select(col(User.full_name))
        .join(Lead, col(Lead.assigned_user_id) == col(User.id))
        .where(col(Lead.id) == lead_id)
    ).scalar_one_or_none()
    return Conflict(f"Too late: {holder or 'another agent'} already claimed this lead.")


def claim(session: Session, *, viewer: Viewer, lead_id: int, now: datetime) -> None:
    """An agent claims a lead offered to them (or, where the tenant allows, from the pool).
    The first claim wins; everyone else is told it is gone."""
    if viewer.role != Role.AGENT or viewer.user_id is None:
        raise Forbidden("Only agents claim leads.")
    offered = session.execute(
        select(LeadOffer).where(
            col(LeadOffer.lead_id) == lead_id, col(LeadOffer.user_id) == viewer.user_id
        )
    ).scalar_one_or_none()
    lead = repository.visible_lead(session, viewer=viewer, lead_id=lead_id)
    if lead is None:
        # The agent was offered it but was too slow: say so, rather than "no such lead".
        if offered is not None and offered.status == "lost":
            raise _too_late(session, lead_id)
        if offered is not None and offered.status == "expired":
            raise Conflict("The offer expired; the lead went to round-robin.")
        raise NotFound("No such lead.")
    if lead.assigned_user_id == viewer.user_id:
        return  # already theirs (a double click)
    # A conditional UPDATE: of several agents clicking at once, exactly one changes the row.
    won = session.execute(
        update(Lead)
        .where(col(Lead.id) == lead_id, col(Lead.assigned_user_id).is_(None))
        .values(assigned_user_id=viewer.user_id)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    if not won:
        raise _too_late(session, lead_id)
    session.refresh(lead)
    user = session.get(User, viewer.user_id)
    assert user is not None
    record_assignment(
        session, lead=lead, user=user, now=now, how="claimed", actor_user_id=viewer.user_id
    )
    timeline.touched_by_human(lead, now=now)
    session.execute(
        update(LeadOffer)
        .where(col(LeadOffer.lead_id) == lead_id, col(LeadOffer.status) == "open")
        .values(status="lost")
    )
    if offered is not None:
        offered.status = "claimed"


def expire_offers(session: Session, *, now: datetime) -> int:
    """Offers nobody claimed in time: round-robin takes over."""
    expired_leads = (
        session.execute(
            select(col(LeadOffer.lead_id))
            .where(col(LeadOffer.status) == "open", col(LeadOffer.expires_at) <= now)
            .distinct()
        )
        .scalars()
        .all()
    )
    routed = 0
    for lead_id in expired_leads:
        session.execute(
            update(LeadOffer)
            .where(col(LeadOffer.lead_id) == lead_id, col(LeadOffer.status) == "open")
            .values(status="expired")
        )
        lead = session.get(Lead, lead_id)
        tenant = session.get(Tenant, lead.tenant_id) if lead else None
        if lead is None or tenant is None or lead.assigned_user_id is not None:
            continue
        ranked = candidates(session, tenant=tenant, lead=lead, now=now)
        if ranked:
            assign(session, lead=lead, user=ranked[0].user, now=now, how="claim window expired")
            routed += 1
    return routed


def tell_agent_lead_returned(session: Session, *, lead: Lead, now: datetime) -> None:
    agent = session.get(User, lead.assigned_user_id) if lead.assigned_user_id else None
    if agent is not None:
        name = f"{lead.first_name} {lead.last_name}".strip() or "A lead"
        notify(
            session,
            user=agent,
            kind="returned",
            title=f"{name} inquired again",
            body=(lead.message or "")[:200],
            lead_id=lead.id,
            now=now,
        )


def escalate_untouched_hot_leads(session: Session, *, now: datetime) -> int:
    """Managers hear about hot leads no person has touched within the tenant's window (in the
    app, and in the office's Slack when it is on)."""
    from recovery_app.domain.alerts import service as alerts

    escalated = 0
    for tenant in session.execute(select(Tenant)).scalars():
        cutoff = now - timedelta(hours=max(1, tenant.escalate_after_hours))
        stale = (
            session.execute(
                select(Lead)
                .where(
                    col(Lead.tenant_id) == tenant.id,
                    col(Lead.temperature) == Temperature.HOT,
                    col(Lead.first_human_touch_at).is_(None),
                    col(Lead.escalated_at).is_(None),
                    col(Lead.created_at) <= cutoff,
                    col(Lead.status).not_in(CLOSED),
                )
                .limit(500)
            )
            .scalars()
            .all()
        )
        for lead in stale:
            lead.escalated_at = now
            name = (
                f"{lead.first_name} {lead.last_name}".strip()
                or lead.phone
                or lead.email
                or "A hot lead"
            )
            notify_managers(
                session,
                tenant_id=pk(tenant),
                kind="escalation",
                title=f"Hot lead untouched for {tenant.escalate_after_hours} h: {name}",
                body=f"Score {lead.score}; no call, note or message from a person yet.",
                lead_id=lead.id,
                now=now,
                dedupe_key=f"escalation:{lead.id}",
            )
            alerts.hot_lead_untouched(
                session, lead=lead, hours=tenant.escalate_after_hours, now=now
            )
            escalated += 1
    return escalated
