"""Daily metrics: each office's day (in its own timezone) and each agent's, rolled up from the
source rows into `daily_metrics`, so dashboards and trend charts read a few hundred small rows
instead of scanning months of leads and messages. Each office-day's messages are also rolled
per campaign, channel and category into `daily_message_costs` (ROI's costs), back to the
office's creation.

The `rollup_daily_metrics` job recomputes today and yesterday every hour (delivery receipts,
replies and conversions keep arriving after the day ends); an office without any rows yet gets
its last `BACKFILL_DAYS` days. A day is rebuilt whole - its rows deleted and inserted again in
one transaction - so running the job twice, or after a crash, gives the same rows. The same
job folds the running totals' change logs (running_totals.py: the reply-rate grid, campaign
figures and factor effects) into their totals.

Aggregation is SQL (one GROUP BY per source table and day); only the speed-to-lead
percentiles are taken in Python, from that day's new leads, because SQLite has no percentile
function. An agent's numbers are those of the leads assigned to them now.
"""

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session
from sqlmodel import col

from recovery_app.domain.accounts.schemas import Viewer
from recovery_app.domain.metrics import running_totals
from recovery_app.models import (
    Activity,
    ActivityKind,
    AiDraft,
    Channel,
    Conversion,
    DailyMessageCost,
    DailyMetric,
    Direction,
    Lead,
    LeadStatus,
    Message,
    Role,
    Tenant,
    pk,
)

RECENT_DAYS = 2  # today and yesterday, every run
BACKFILL_DAYS = 90  # an office's first run
# Older days whose message costs are rolled up per run (ROI reads up to MAX_SERIES_DAYS).
COST_BACKFILL_PER_RUN = 60
MAX_SERIES_DAYS = 400
COUNTS = (
    "leads_new",
    "first_responses",
    "human_touches",
    "sms_sent",
    "sms_segments",
    "emails_sent",
    "delivered",
    "failed",
    "replies",
    "went_silent",
    "recovered",
    "converted",
    "revenue_cents",
    "message_cost_microdollars",
    "ai_calls",
    "ai_cost_microdollars",
)
_OFFICE = 0  # the key of the office's own totals while a day is computed
NOTHING_SENT: dict[str, Any] = {
    "campaign_id": None,
    "channel": Channel.SMS.value,
    "category": "none",
    "sent": 0,
    "segments": 0,
    "cost_microdollars": 0,
}


def rollup_daily_metrics(session: Session, now: datetime) -> dict[str, int]:
    """Rebuild the recent days of every office (the whole backfill for a new one), and fold
    the running totals' change logs into the totals."""
    folded = running_totals.fold(session)
    tenants = list(session.execute(select(Tenant).order_by(col(Tenant.id))).scalars())
    days = rows = costed = 0
    for tenant in tenants:
        for day in days_to_roll(session, tenant, now):
            rows += rebuild_day(session, tenant, day, now=now)
            days += 1
        costed += backfill_costs(session, tenant, now)
    return {
        "tenants": len(tenants),
        "days": days,
        "rows": rows,
        "cost_days": costed,
        **folded,
    }


def backfill_costs(
    session: Session, tenant: Tenant, now: datetime, *, most: int = COST_BACKFILL_PER_RUN
) -> int:
    """Roll up the message costs of up to `most` of the office's older days that have none
    yet (newest first, back to when the office was created or MAX_SERIES_DAYS ago), so ROI
    over any range it allows reads the rollup. Cheap next to a whole day: one grouped query
    on (tenant, sent_at) a day."""
    zone = ZoneInfo(tenant.timezone)
    today = now.astimezone(zone).date()
    oldest = max(tenant.created_at.astimezone(zone).date(), today - timedelta(days=MAX_SERIES_DAYS))
    have = set(
        session.execute(
            select(col(DailyMessageCost.day))
            .where(
                col(DailyMessageCost.tenant_id) == tenant.id, col(DailyMessageCost.day) >= oldest
            )
            .distinct()
        ).scalars()
    )
    wanted = [
        day
        for back in range(1, (today - oldest).days + 1)
        if (day := today - timedelta(days=back)) not in have
    ][:most]
    for day in wanted:
        _write_costs(session, tenant, day, now=now)
    return len(wanted)


def _write_costs(session: Session, tenant: Tenant, day: date, *, now: datetime) -> int:
    session.execute(
        delete(DailyMessageCost).where(
            col(DailyMessageCost.tenant_id) == tenant.id, col(DailyMessageCost.day) == day
        )
    )
    # A day that sent nothing still gets a (zero) row: a day without rows is one the rollup
    # has not computed, which ROI then reads from the messages instead.
    costs = [
        {"tenant_id": tenant.id, "day": day, "computed_at": now, **values}
        for values in message_costs(
            session, pk(tenant), *day_bounds(day, ZoneInfo(tenant.timezone))
        )
        or [NOTHING_SENT]
    ]
    session.execute(insert(DailyMessageCost), costs)
    return len(costs)


def days_to_roll(session: Session, tenant: Tenant, now: datetime) -> list[date]:
    """Today and yesterday in the office's timezone; its whole recent history the first time
    (never before the office existed)."""
    zone = ZoneInfo(tenant.timezone)
    today = now.astimezone(zone).date()
    known = session.execute(
        select(col(DailyMetric.id)).where(col(DailyMetric.tenant_id) == tenant.id).limit(1)
    ).first()
    if known is None:
        first = tenant.created_at.astimezone(zone).date()
        span = max(1, min(BACKFILL_DAYS, (today - first).days + 1))
        return [today - timedelta(days=back) for back in range(span)]
    recent = [today - timedelta(days=back) for back in range(RECENT_DAYS)]
    # Days rolled before `daily_message_costs` existed (or whose rows were lost) are rebuilt
    # whole, within the backfill's reach, so ROI can read their costs from the rollup.
    costed = select(col(DailyMessageCost.day)).where(
        col(DailyMessageCost.tenant_id) == tenant.id,
        col(DailyMessageCost.day) == col(DailyMetric.day),
    )
    missing = session.execute(
        select(col(DailyMetric.day))
        .where(
            col(DailyMetric.tenant_id) == tenant.id,
            col(DailyMetric.user_id).is_(None),
            col(DailyMetric.day) > today - timedelta(days=BACKFILL_DAYS),
            col(DailyMetric.day) < recent[-1],
            ~costed.exists(),
        )
        .order_by(col(DailyMetric.day).desc())
    ).scalars()
    return recent + list(missing)


def day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC instants a local day runs between (23 or 25 hours long on DST days)."""
    start = datetime.combine(day, time(0), zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), zone).astimezone(UTC)
    return start, end


def rebuild_day(session: Session, tenant: Tenant, day: date, *, now: datetime) -> int:
    """Replace the office's rows for `day` with freshly computed ones: how many were written."""
    numbers = compute_day(session, pk(tenant), *day_bounds(day, ZoneInfo(tenant.timezone)))
    session.execute(
        delete(DailyMetric).where(
            col(DailyMetric.tenant_id) == tenant.id, col(DailyMetric.day) == day
        )
    )
    rows = [
        {
            "tenant_id": tenant.id,
            "day": day,
            "user_id": None if user_id == _OFFICE else user_id,
            "computed_at": now,
            **values,
        }
        for user_id, values in numbers.items()
    ]
    session.execute(insert(DailyMetric), rows)
    return len(rows) + _write_costs(session, tenant, day, now=now)


def message_costs(
    session: Session, tenant_id: int, start: datetime, end: datetime
) -> list[dict[str, Any]]:
    """The office's messages to leads sent in [start, end), per campaign, channel and category:
    how many, their segments and their cost (as priced when sent)."""
    rows = session.execute(
        select(
            col(Message.campaign_id),
            col(Message.channel),
            col(Message.category),
            func.count(),
            func.coalesce(func.sum(col(Message.segments)), 0),
            func.coalesce(func.sum(col(Message.cost_microdollars)), 0),
        )
        .where(
            col(Message.tenant_id) == tenant_id,
            col(Message.direction) == Direction.OUTBOUND,
            col(Message.lead_id).is_not(None),
            col(Message.sent_at) >= start,
            col(Message.sent_at) < end,
        )
        .group_by(col(Message.campaign_id), col(Message.channel), col(Message.category))
    ).all()
    return [
        {
            "campaign_id": campaign_id,
            "channel": str(channel),
            "category": str(category),
            "sent": int(count or 0),
            "segments": int(segments or 0),
            "cost_microdollars": int(cost or 0),
        }
        for campaign_id, channel, category, count, segments, cost in rows
    ]


@dataclass
class Arrivals:
    """One agent's (or the unassigned) new leads in a window: how many, and the seconds from
    arrival to our first message and to a person's first touch, for those that had one."""

    count: int = 0
    response_seconds: list[int] = field(default_factory=list)
    touch_seconds: list[int] = field(default_factory=list)


def arrivals_by_owner(
    session: Session, tenant_id: int, start: datetime, end: datetime | None = None
) -> dict[int | None, Arrivals]:
    """Leads created from `start` (to `end`), per assigned agent (None: unassigned). The
    rows of one window, not a table scan; the percentiles are taken from these lists."""
    found: defaultdict[int | None, Arrivals] = defaultdict(Arrivals)
    for user_id, created, responded, touched in session.execute(
        select(
            col(Lead.assigned_user_id),
            col(Lead.created_at),
            col(Lead.first_response_at),
            col(Lead.first_human_touch_at),
        ).where(col(Lead.tenant_id) == tenant_id, _between(Lead.created_at, start, end))
    ):
        arrivals = found[user_id]
        arrivals.count += 1
        if responded is not None:
            arrivals.response_seconds.append(max(0, int((responded - created).total_seconds())))
        if touched is not None:
            arrivals.touch_seconds.append(max(0, int((touched - created).total_seconds())))
    return dict(found)


def status_changes_by_owner(
    session: Session,
    tenant_id: int,
    start: datetime,
    end: datetime | None = None,
    *,
    since: datetime | None = None,
) -> dict[int | None, Counter[str]]:
    """How many leads went silent and were recovered from `start` (to `end`), per assigned
    agent, as the `status_changed` activities recorded it: {owner: {"silent": n, ...}}. With
    `since`, the same counts from `since` on are added as "silent@since", "recovered@since"
    (the dashboard's week inside its 30 days, in one read)."""
    owner = col(Lead.assigned_user_id)
    to_status = col(Activity.data)["to"].as_string()
    later = col(Activity.occurred_at) >= (since or start)
    found: defaultdict[int | None, Counter[str]] = defaultdict(Counter)
    for user_id, status, number, number_since in session.execute(
        select(owner, to_status, func.count(), func.count().filter(later))
        .select_from(Activity)
        .join(Lead, col(Lead.id) == col(Activity.lead_id))
        .where(
            col(Activity.tenant_id) == tenant_id,
            col(Activity.kind) == ActivityKind.STATUS_CHANGED,
            _between(Activity.occurred_at, start, end),
            to_status.in_([LeadStatus.SILENT, LeadStatus.RECOVERED]),
        )
        .group_by(owner, to_status)
    ):
        found[user_id][str(status)] += int(number)
        if since is not None:
            found[user_id][f"{status}@since"] += int(number_since)
    return dict(found)


def compute_day(
    session: Session, tenant_id: int, start: datetime, end: datetime
) -> dict[int, dict[str, Any]]:
    """The office's numbers between `start` and `end` (key 0) and each agent's (their user id)."""
    counts: defaultdict[int | None, Counter[str]] = defaultdict(Counter)
    owner = col(Lead.assigned_user_id)

    def add(rows: Iterable[Any], *names: str) -> None:
        for row in rows:
            for name, value in zip(names, row[1:], strict=True):
                counts[row[0]][name] += int(value or 0)

    # New leads, and how fast we (and a person) answered them.
    arrivals = arrivals_by_owner(session, tenant_id, start, end)
    for user_id, new in arrivals.items():
        counts[user_id]["leads_new"] = new.count
        counts[user_id]["first_responses"] = len(new.response_seconds)
        counts[user_id]["human_touches"] = len(new.touch_seconds)

    to_leads = (
        select(owner)
        .select_from(Message)
        .join(Lead, col(Lead.id) == col(Message.lead_id))
        .where(_in(Message.tenant_id, tenant_id))
    )
    outbound = to_leads.where(col(Message.direction) == Direction.OUTBOUND)
    sent = (_between(Message.sent_at, start, end),)
    cost = func.sum(col(Message.cost_microdollars))
    add(
        session.execute(
            outbound.add_columns(func.count(), func.sum(col(Message.segments)), cost)
            .where(col(Message.channel) == Channel.SMS, *sent)
            .group_by(owner)
        ),
        "sms_sent",
        "sms_segments",
        "message_cost_microdollars",
    )
    add(
        session.execute(
            outbound.add_columns(func.count(), cost)
            .where(col(Message.channel) == Channel.EMAIL, *sent)
            .group_by(owner)
        ),
        "emails_sent",
        "message_cost_microdollars",
    )
    add(
        session.execute(
            outbound.add_columns(func.count())
            .where(_between(Message.delivered_at, start, end))
            .group_by(owner)
        ),
        "delivered",
    )
    add(
        session.execute(
            outbound.add_columns(func.count())
            .where(_between(Message.failed_at, start, end))
            .group_by(owner)
        ),
        "failed",
    )
    add(
        session.execute(
            to_leads.add_columns(func.count())
            .where(
                col(Message.direction) == Direction.INBOUND,
                _between(Message.created_at, start, end),
            )
            .group_by(owner)
        ),
        "replies",
    )
    for user_id, changed in status_changes_by_owner(session, tenant_id, start, end).items():
        counts[user_id]["went_silent"] += changed[LeadStatus.SILENT]
        counts[user_id]["recovered"] += changed[LeadStatus.RECOVERED]
    add(
        session.execute(
            select(owner, func.count(), func.sum(col(Conversion.value_cents)))
            .select_from(Conversion)
            .join(Lead, col(Lead.id) == col(Conversion.lead_id))
            .where(_in(Conversion.tenant_id, tenant_id), _between(Conversion.closed_at, start, end))
            .group_by(owner)
        ),
        "converted",
        "revenue_cents",
    )
    # AI drafts serve whole segments of a campaign, not one agent: the office's cost only.
    ai = session.execute(
        select(func.count(), func.sum(col(AiDraft.cost_microdollars))).where(
            _in(AiDraft.tenant_id, tenant_id),
            col(AiDraft.model) != "",
            _between(AiDraft.created_at, start, end),
        )
    ).one()

    result: dict[int, dict[str, Any]] = {}
    office: Counter[str] = Counter()
    all_speeds: list[int] = []
    all_touches: list[int] = []
    for user_id, numbers in counts.items():
        new = arrivals.get(user_id, Arrivals())
        office.update(numbers)
        all_speeds += new.response_seconds
        all_touches += new.touch_seconds
        if user_id is not None:
            result[user_id] = _row(numbers, new.response_seconds, new.touch_seconds)
    office["ai_calls"], office["ai_cost_microdollars"] = int(ai[0] or 0), int(ai[1] or 0)
    result[_OFFICE] = _row(office, all_speeds, all_touches)
    return result


def _row(numbers: Counter[str], speeds: list[int], touches: list[int]) -> dict[str, Any]:
    return {
        **{name: int(numbers.get(name, 0)) for name in COUNTS},
        "speed_p50_seconds": percentile(speeds, 50),
        "speed_p90_seconds": percentile(speeds, 90),
        "human_touch_p50_seconds": percentile(touches, 50),
    }


def percentile(values: list[int], pct: int) -> int | None:
    """Nearest-rank percentile (the value at least `pct` % of the values do not exceed)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-pct * len(ordered) // 100))  # ceil without floats
    return ordered[rank - 1]


def _in(column: Any, tenant_id: int) -> Any:
    return col(column) == tenant_id


def _between(column: Any, start: datetime, end: datetime | None) -> Any:
    """From `start` to `end` (open-ended when `end` is None)."""
    since = col(column) >= start
    return since if end is None else since & (col(column) < end)


def daily_series(
    session: Session, *, viewer: Viewer, start: date, end: date, per_agent: bool = False
) -> list[DailyMetric]:
    """Days `start`..`end` (inclusive) as rolled up: the office's rows for a manager (with every
    agent's too when `per_agent`), an agent's own rows for an agent. Missing days are absent."""
    if end < start or (end - start).days >= MAX_SERIES_DAYS:
        from recovery_app.errors import ValidationFailed

        raise ValidationFailed(
            f"Pick a range of 1 to {MAX_SERIES_DAYS} days.", fields={"end": "after start"}
        )
    query = select(DailyMetric).where(
        col(DailyMetric.tenant_id) == viewer.tenant_id,
        col(DailyMetric.day) >= start,
        col(DailyMetric.day) <= end,
    )
    if viewer.role == Role.AGENT:
        query = query.where(col(DailyMetric.user_id) == viewer.user_id)
    elif not per_agent:
        query = query.where(col(DailyMetric.user_id).is_(None))
    order = (col(DailyMetric.day), func.coalesce(col(DailyMetric.user_id), 0))
    return list(session.execute(query.order_by(*order)).scalars())
