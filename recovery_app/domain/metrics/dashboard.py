"""The live dashboard's numbers: one snapshot per office, computed with a handful of grouped SQL
queries and shared by every open dashboard of that office (`SnapshotCache`), so a hundred open
browsers cost the database what one does.

A snapshot holds the office's figures and each agent's (the leads assigned to them), the
recovery funnel and the latest activities; `view_for` cuts out what one viewer may see
(a manager: the office and the per-agent table; an agent: their own numbers and leads).
"""

import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session
from sqlmodel import col

from recovery_app.db import plan_for_these_values
from recovery_app.domain.accounts.schemas import Viewer
from recovery_app.domain.leads.inbox import waiting_clause
from recovery_app.domain.metrics.rollup import (
    arrivals_by_owner,
    percentile,
    status_changes_by_owner,
)
from recovery_app.messaging.outbox import PAUSED_HOLD
from recovery_app.models import (
    Activity,
    ActivityKind,
    Direction,
    Lead,
    LeadStatus,
    Message,
    MessageStatus,
    Role,
    Tenant,
    User,
    pk,
)

FEED_SIZE = 40
FUNNEL_DAYS = 90
FUNNEL_MAX_AGE = timedelta(seconds=60)
RATE_DAYS = 30
OPEN = tuple(s for s in LeadStatus if s not in (LeadStatus.CONVERTED, LeadStatus.LOST))
FIGURES = (
    "new_today",
    "responded_today",
    "silent_now",
    "recovered_week",
    "went_silent_30d",
    "recovered_30d",
    "replies_waiting",
    "held",
    "failed_today",
)
FEED_TEXT = {
    ActivityKind.FORM_SUBMITTED: "Form from {name}",
    ActivityKind.SMS_IN: "Text from {name}",
    ActivityKind.EMAIL_IN: "Email from {name}",
    ActivityKind.REPLY: "{name} replied",
    ActivityKind.STATUS_CHANGED: "{name}: {status}",
    ActivityKind.CONVERTED: "{name} converted",
    ActivityKind.OPTED_OUT: "{name} opted out",
    ActivityKind.TRIGGER_FIRED: "{name}: {rule}",
    ActivityKind.EMAIL_CLICK: "{name} clicked a link",
    ActivityKind.APPOINTMENT_SET: "{name} booked an appointment",
    ActivityKind.APPOINTMENT_CANCELED: "{name} canceled an appointment",
}


@dataclass(frozen=True)
class Figures:
    new_today: int = 0
    responded_today: int = 0
    speed_p50_seconds: int | None = None
    speed_p90_seconds: int | None = None
    silent_now: int = 0
    recovered_week: int = 0
    went_silent_30d: int = 0
    recovered_30d: int = 0
    replies_waiting: int = 0
    held: int = 0
    failed_today: int = 0

    @property
    def recovery_rate(self) -> float | None:
        """Recovered over went silent in the last 30 days (None before anything went silent)."""
        return self.recovered_30d / self.went_silent_30d if self.went_silent_30d else None


@dataclass(frozen=True)
class FeedItem:
    activity_id: int
    lead_id: int
    owner_id: int | None
    kind: str
    text: str
    at: datetime


@dataclass(frozen=True)
class AgentFigures:
    user_id: int
    name: str
    figures: Figures


@dataclass(frozen=True)
class StatusChanges:
    """Leads that went silent or were recovered, per owner, in the `RATE_DAYS` before `until`,
    with those since the week began as "silent@since" and "recovered@since"."""

    until: datetime
    week: datetime
    by_owner: dict[int | None, Counter[str]]


@dataclass(frozen=True)
class Snapshot:
    tenant_id: int
    computed_at: datetime
    office: Figures
    agents: list[AgentFigures]
    funnel: list[tuple[str, int]]  # the office's, stage by stage
    agent_funnels: dict[int, list[tuple[str, int]]] = field(default_factory=dict)
    feed: list[FeedItem] = field(default_factory=list)
    # When the funnel was counted: it is reused for `FUNNEL_MAX_AGE` (see compute_snapshot).
    funnel_at: datetime | None = None
    changes: StatusChanges | None = None  # counted with the funnel, reused with it


@dataclass(frozen=True)
class DashboardView:
    figures: Figures
    agents: list[AgentFigures]  # managers only
    funnel: list[tuple[str, int]]
    feed: list[FeedItem]
    computed_at: datetime


def compute_snapshot(
    session: Session, tenant_id: int, now: datetime, previous: Snapshot | None = None
) -> Snapshot:
    """The office's figures, per-agent figures, funnel and feed as of `now`.

    Two parts read months of rows and move slowly: the 90-day funnel and the silent/recovered
    counts of the week and the last 30 days (at a million leads 4.2 s and 0.8 s, against a
    snapshot every second). They are taken from `previous` while that counted them less than
    `FUNNEL_MAX_AGE` ago (and in the same week); the status changes recorded since are read
    on every snapshot and added, so those figures stay live. The 30 days' far end then lags by
    at most `FUNNEL_MAX_AGE`. Everything else is read fresh."""
    plan_for_these_values(session)
    tenant = session.get(Tenant, tenant_id)
    zone = ZoneInfo(tenant.timezone if tenant else "UTC")
    local = now.astimezone(zone)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    today = midnight.astimezone(UTC)
    week = (midnight - timedelta(days=local.weekday())).astimezone(UTC)
    owner = col(Lead.assigned_user_id)
    counts: defaultdict[int | None, dict[str, int]] = defaultdict(dict)

    def grouped(name: str, query: Any) -> None:
        for user_id, number in session.execute(query.group_by(owner)):
            counts[user_id][name] = counts[user_id].get(name, 0) + int(number)

    leads = select(owner, func.count()).select_from(Lead).where(col(Lead.tenant_id) == tenant_id)
    arrivals = arrivals_by_owner(session, tenant_id, today)
    for user_id, new in arrivals.items():
        counts[user_id]["new_today"] = new.count
        counts[user_id]["responded_today"] = len(new.response_seconds)
    grouped("silent_now", leads.where(col(Lead.status) == LeadStatus.SILENT))
    # A person answered after our last message and the lead is still open: someone should reply.
    grouped(
        "replies_waiting",
        leads.where(col(Lead.status).in_(OPEN), waiting_clause()),
    )
    reuse = (
        previous is not None
        and previous.funnel_at is not None
        and previous.changes is not None
        and previous.changes.week == week
        and timedelta(0) <= now - previous.funnel_at < FUNNEL_MAX_AGE
    )
    if reuse:
        assert previous is not None and previous.changes is not None
        changes = previous.changes
    else:
        changes = StatusChanges(
            until=now,
            week=week,
            by_owner=status_changes_by_owner(
                session, tenant_id, now - timedelta(days=RATE_DAYS), now, since=week
            ),
        )
    # Since they were counted: seconds of rows, all of them inside the week and the 30 days.
    recent = (
        status_changes_by_owner(session, tenant_id, changes.until) if changes.until < now else {}
    )
    for user_id in set(changes.by_owner) | set(recent):
        counted, added = changes.by_owner.get(user_id, Counter()), recent.get(user_id, Counter())
        counts[user_id]["recovered_week"] = counted["recovered@since"] + added["recovered"]
        counts[user_id]["recovered_30d"] = counted["recovered"] + added["recovered"]
        counts[user_id]["went_silent_30d"] = counted["silent"] + added["silent"]
    to_leads = (
        select(owner, func.count())
        .select_from(Message)
        .join(Lead, col(Lead.id) == col(Message.lead_id))
        .where(col(Message.tenant_id) == tenant_id, col(Message.direction) == Direction.OUTBOUND)
    )
    grouped(
        "held",
        to_leads.where(
            col(Message.status) == MessageStatus.QUEUED,
            col(Message.hold_reason).is_not(None),
            col(Message.hold_reason) != PAUSED_HOLD,
        ),
    )
    grouped("failed_today", to_leads.where(col(Message.failed_at) >= today))

    names = dict(
        session.execute(
            select(col(User.id), col(User.full_name)).where(
                col(User.tenant_id) == tenant_id, col(User.role) == Role.AGENT
            )
        ).all()
    )
    speeds = {user_id: new.response_seconds for user_id, new in arrivals.items()}
    all_speeds = [s for values in speeds.values() for s in values]
    office = _figures(_sum(counts.values()), all_speeds)
    agents = [
        AgentFigures(
            int(user_id),
            names.get(user_id, f"User {user_id}"),
            _figures(c, speeds.get(user_id, [])),
        )
        for user_id, c in counts.items()
        if user_id is not None
    ]
    agents += [
        AgentFigures(int(user_id), name, Figures())
        for user_id, name in names.items()
        if user_id is not None and user_id not in counts
    ]
    agents.sort(key=lambda a: a.name)
    if reuse:
        assert previous is not None and previous.funnel_at is not None
        funnel, agent_funnels, funnel_at = (
            previous.funnel,
            previous.agent_funnels,
            previous.funnel_at,
        )
    else:
        funnels = _funnels(session, tenant_id, now)
        funnel = _stages(_sum(funnels.values()))
        agent_funnels = {int(u): _stages(f) for u, f in funnels.items() if u is not None}
        funnel_at = now
    return Snapshot(
        tenant_id=tenant_id,
        computed_at=now,
        office=office,
        agents=agents,
        funnel=funnel,
        agent_funnels=agent_funnels,
        feed=_feed(session, tenant_id),
        funnel_at=funnel_at,
        changes=changes,
    )


def _sum(parts: Any) -> dict[str, int]:
    total: dict[str, int] = {}
    for part in parts:
        for name, value in part.items():
            total[name] = total.get(name, 0) + value
    return total


def _figures(numbers: dict[str, int], speeds: list[int]) -> Figures:
    return Figures(
        **{name: numbers.get(name, 0) for name in FIGURES},
        speed_p50_seconds=percentile(speeds, 50),
        speed_p90_seconds=percentile(speeds, 90),
    )


STAGES = ("New", "Contacted", "Engaged", "Went silent", "Recovered", "Converted")


def _funnels(session: Session, tenant_id: int, now: datetime) -> dict[int | None, dict[str, int]]:
    """How far the last 90 days' leads got, per owner: each stage counts the leads that reached
    it, whatever they did after (a converted lead was also contacted)."""
    since = now - timedelta(days=FUNNEL_DAYS)
    to_status = col(Activity.data)["to"].as_string()

    def was(status: str) -> Any:
        return func.max(case((to_status == status, 1), else_=0))

    # Which of them ever went silent or were recovered: a lead's activities come after it was
    # created, so theirs are among the office's status changes since `since` - one grouped
    # read of those, where a probe of every lead's history took 4.2 s at a million leads.
    changes = (
        select(
            col(Activity.lead_id).label("lead_id"),
            was(LeadStatus.SILENT).label("silent"),
            was(LeadStatus.RECOVERED).label("recovered"),
        )
        .where(
            col(Activity.tenant_id) == tenant_id,
            col(Activity.kind) == ActivityKind.STATUS_CHANGED,
            col(Activity.occurred_at) >= since,
            to_status.in_([LeadStatus.SILENT, LeadStatus.RECOVERED]),
        )
        .group_by(col(Activity.lead_id))
        .subquery()
    )
    reached = {
        "Contacted": col(Lead.last_outbound_at).is_not(None),
        "Engaged": col(Lead.inbound_count) > 0,
        "Went silent": or_(col(Lead.status) == LeadStatus.SILENT, changes.c.silent == 1),
        "Recovered": or_(col(Lead.status) == LeadStatus.RECOVERED, changes.c.recovered == 1),
        "Converted": col(Lead.status) == LeadStatus.CONVERTED,
    }
    columns = [func.count()] + [func.count().filter(and_(clause)) for clause in reached.values()]
    result: dict[int | None, dict[str, int]] = {}
    for user_id, *numbers in session.execute(
        select(col(Lead.assigned_user_id), *columns)
        .select_from(Lead)
        .outerjoin(changes, changes.c.lead_id == col(Lead.id))
        .where(col(Lead.tenant_id) == tenant_id, col(Lead.created_at) >= since)
        .group_by(col(Lead.assigned_user_id))
    ):
        result[user_id] = dict(zip(STAGES, (int(n) for n in numbers), strict=True))
    return result


def _stages(numbers: dict[str, int]) -> list[tuple[str, int]]:
    return [(stage, numbers.get(stage, 0)) for stage in STAGES]


def _feed(session: Session, tenant_id: int) -> list[FeedItem]:
    rows = session.execute(
        select(Activity, col(Lead.first_name), col(Lead.last_name), col(Lead.assigned_user_id))
        .join(Lead, col(Lead.id) == col(Activity.lead_id))
        .where(
            col(Activity.tenant_id) == tenant_id,
            col(Activity.kind).in_([str(kind) for kind in FEED_TEXT]),
        )
        .order_by(col(Activity.occurred_at).desc(), col(Activity.id).desc())
        .limit(FEED_SIZE * 3)
    ).all()
    return [
        FeedItem(
            activity_id=pk(activity),
            lead_id=activity.lead_id,
            owner_id=owner,
            kind=activity.kind,
            text=_feed_text(activity, f"{first} {last}".strip() or "A lead"),
            at=activity.occurred_at,
        )
        for activity, first, last, owner in rows
    ]


def _feed_text(activity: Activity, name: str) -> str:
    data = activity.data or {}
    template = FEED_TEXT.get(ActivityKind(activity.kind), "{name}")
    status = str(data.get("to", "")).replace("_", " ")
    return template.format(name=name, status=status, rule=data.get("rule", "trigger"))


def view_for(snapshot: Snapshot, viewer: Viewer) -> DashboardView:
    """What `viewer` may see of their office's snapshot."""
    if viewer.role == Role.AGENT:
        mine = next((a.figures for a in snapshot.agents if a.user_id == viewer.user_id), Figures())
        feed = [item for item in snapshot.feed if item.owner_id == viewer.user_id]
        funnel = snapshot.agent_funnels.get(viewer.user_id or 0, _stages({}))
        return DashboardView(mine, [], funnel, feed[:FEED_SIZE], snapshot.computed_at)
    return DashboardView(
        snapshot.office,
        snapshot.agents,
        snapshot.funnel,
        snapshot.feed[:FEED_SIZE],
        snapshot.computed_at,
    )


class SnapshotCache:
    """Each office's latest snapshot, recomputed at most once per `ttl` seconds however many
    dashboards ask: the first caller after it expires computes it, the others wait for it."""

    def __init__(self, ttl: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl, self.clock = ttl, clock
        self._lock = threading.Lock()
        self._office_locks: dict[int, threading.Lock] = {}
        self._entries: dict[int, tuple[float, Snapshot]] = {}
        self.computed = 0

    def get(self, tenant_id: int, compute: Callable[[Snapshot | None], Snapshot]) -> Snapshot:
        """The office's snapshot; `compute(previous)` makes a new one when it is stale."""
        with self._lock:
            office_lock = self._office_locks.setdefault(tenant_id, threading.Lock())
        with office_lock:
            entry = self._entries.get(tenant_id)
            if entry is not None and self.clock() - entry[0] < self.ttl:
                return entry[1]
            snapshot = compute(entry[1] if entry else None)
            self._entries[tenant_id] = (self.clock(), snapshot)
            self.computed += 1
            return snapshot

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def expire(self, tenant_id: int) -> None:
        """Make the office's snapshot stale now (the next `get` recomputes it from it)."""
        with self._lock:
            if tenant_id in self._entries:
                self._entries[tenant_id] = (float("-inf"), self._entries[tenant_id][1])


CACHE = SnapshotCache()


def office_snapshot(tenant_id: int, now: datetime | None = None) -> Snapshot:
    """The office's shared snapshot (computed in its own session when it is stale)."""
    from recovery_app.db import session_scope

    def compute(previous: Snapshot | None) -> Snapshot:
        with session_scope() as session:
            return compute_snapshot(session, tenant_id, now or datetime.now(UTC), previous)

    return CACHE.get(tenant_id, compute)
