"""What the Scoring page shows: where the leads sit (score band x source, temperature, days
silent or agent), when leads answer (reply rate by local weekday and hour, and the send window
it suggests), what each scoring factor adds on average, and the leads most worth a call now.

Counting happens in SQL (GROUP BY); Python only reshapes the grouped rows. The reply-rate grid
groups sends by hour in UTC and by time zone in SQL, and moves each group to local time in
Python: SQLite has no time zones, and a group is an hour of one zone, not a message.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import ColumnElement, case, func, literal, or_, select, text
from sqlalchemy.orm import Session
from sqlmodel import col

from recovery_app.db import plan_for_these_values
from recovery_app.domain.accounts.schemas import Viewer
from recovery_app.domain.leads.repository import USER_NAME, visible_to
from recovery_app.domain.metrics import running_totals
from recovery_app.domain.scoring.service import model_for
from recovery_app.errors import ValidationFailed
from recovery_app.models import Direction, Lead, LeadStatus, Message, Tenant, User
from recovery_app.models.running_totals import NO_OWNER

# Score bands, low to high: (label, lowest score, highest score).
BANDS: tuple[tuple[str, int, int], ...] = (
    ("0-19", 0, 19),
    ("20-39", 20, 39),
    ("40-59", 40, 59),
    ("60-79", 60, 79),
    ("80-100", 80, 100),
)
AXES = ("source", "temperature", "days_silent", "agent")
# Days since our unanswered last message, for the days-silent axis: (label, from, to) in days.
SILENT_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("< 3 d", 0, 3),
    ("3-7 d", 3, 7),
    ("7-14 d", 7, 14),
    ("14-30 d", 14, 30),
    ("30-90 d", 30, 90),
    ("90+ d", 90, None),
)
TEMPERATURES = ("cold", "warm", "hot")
CLOSED = (LeadStatus.CONVERTED, LeadStatus.LOST)
UNASSIGNED = "Unassigned"

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
RESPONSE_DAYS = 90
# A weekday-hour cell needs this many sends before its reply rate means anything.
MIN_SENDS = 20
# Windows the suggestion considers: inside the SMS hours every lead may be texted (08-21).
WINDOW_HOURS = 2
FIRST_HOUR, LAST_HOUR = 8, 21

PRIORITY_SIZE = 20
# A lead a person already called or wrote to is still worth a call, a bit less.
TOUCHED_WEIGHT = 0.6
MAX_SCORE = 100
# The call list's widest bounded look-back (a year); past it one unbounded query is cheaper.
MAX_LOOK_BACK_HOURS = 24.0 * 365


@dataclass(frozen=True, slots=True)
class HeatCell:
    x: str  # the column: a source key ("referral"), "hot", "7-14 d", an agent's name
    band: str  # the score band label
    count: int
    # The Leads page filters that list exactly these leads.
    filters: dict[str, str]


@dataclass(frozen=True, slots=True)
class Heatmap:
    axis: str
    columns: list[str]
    bands: list[str]
    cells: list[HeatCell]  # every (column, band), zeros included
    total: int

    def count(self, x: str, band: str) -> int:
        return next((c.count for c in self.cells if c.x == x and c.band == band), 0)


def _band() -> ColumnElement[int]:
    score = col(Lead.score)
    return case(
        *((score <= high, literal(index)) for index, (_, _, high) in enumerate(BANDS[:-1])),
        else_=literal(len(BANDS) - 1),
    )


def _silent_bucket(now: datetime) -> ColumnElement[int]:
    out = col(Lead.last_outbound_at)
    return case(
        *(
            (out > now - timedelta(days=high), literal(index))
            for index, (_, _, high) in enumerate(SILENT_BUCKETS)
            if high is not None
        ),
        else_=literal(len(SILENT_BUCKETS) - 1),
    )


def heatmap(session: Session, *, viewer: Viewer, axis: str, now: datetime) -> Heatmap:
    """Open leads by score band and `axis` (agents: their own and the pool). The days-silent
    axis counts silent leads only, by how long ago our unanswered last message went out."""
    plan_for_these_values(session)
    if axis not in AXES:
        raise ValidationFailed("Unknown axis.", fields={"axis": f"one of {', '.join(AXES)}"})
    clauses: list[Any] = [*visible_to(viewer), col(Lead.status).not_in(CLOSED)]
    if axis == "days_silent":
        clauses += [col(Lead.status) == LeadStatus.SILENT, col(Lead.last_outbound_at).is_not(None)]
        x: Any = _silent_bucket(now)
    else:
        x = {
            "source": col(Lead.source),
            "temperature": col(Lead.temperature),
            "agent": col(Lead.assigned_user_id),
        }[axis]
    band = _band()
    rows = session.execute(select(x, band, func.count()).where(*clauses).group_by(x, band)).all()
    counts: dict[tuple[Any, int], int] = {(value, int(b)): int(n) for value, b, n in rows}

    labels: dict[Any, str]
    filters: dict[Any, dict[str, str]]
    if axis == "source":
        values = sorted({value for value, _ in counts})
        labels = {v: v for v in values}
        filters = {v: {"source": v} for v in values}
    elif axis == "temperature":
        values = list(TEMPERATURES)
        labels = {v: v for v in values}
        filters = {v: {"temperature": v} for v in values}
    elif axis == "days_silent":
        values = list(range(len(SILENT_BUCKETS)))
        labels = {i: SILENT_BUCKETS[i][0] for i in values}
        filters = {
            i: {"status": "silent", "silent_for_hours": str(low * 24)}
            | ({"silent_max_hours": str(high * 24)} if high is not None else {})
            for i, (_, low, high) in enumerate(SILENT_BUCKETS)
        }
    else:
        ids = {value for value, _ in counts}
        names: dict[Any, str] = dict(
            session.execute(
                select(col(User.id), USER_NAME).where(
                    col(User.tenant_id) == viewer.tenant_id, col(User.id).in_(ids - {None})
                )
            ).all()
        )
        values = sorted(ids, key=lambda v: (v is None, names.get(v, "")))
        labels = {v: names.get(v, f"User {v}") if v is not None else UNASSIGNED for v in values}
        filters = {v: {"agent": str(v) if v is not None else "unassigned"} for v in values}
    cells = [
        HeatCell(
            x=labels[value],
            band=label,
            count=counts.get((value, index), 0),
            filters=filters[value] | {"open": "1", "min_score": str(low), "max_score": str(high)},
        )
        for value in values
        for index, (label, low, high) in enumerate(BANDS)
    ]
    return Heatmap(
        axis=axis,
        columns=[labels[v] for v in values],
        bands=[label for label, _, _ in BANDS],
        cells=cells,
        total=sum(counts.values()),
    )


# Reply rate by local weekday and hour --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SendWindow:
    days: list[int]  # 0 = Monday
    start_hour: int
    end_hour: int
    reply_rate: float
    baseline_rate: float
    sends: int

    @property
    def label(self) -> str:
        return f"{_days_label(self.days)} {self.start_hour:02d}:00-{self.end_hour:02d}:00"


@dataclass
class ResponseGrid:
    """Sends and replies by local weekday (0 = Monday) and hour."""

    sends: list[list[int]] = field(default_factory=lambda: [[0] * 24 for _ in range(7)])
    replies: list[list[int]] = field(default_factory=lambda: [[0] * 24 for _ in range(7)])

    def add(self, weekday: int, hour: int, sends: int, replies: int) -> None:
        self.sends[weekday][hour] += sends
        self.replies[weekday][hour] += replies

    def rate(self, weekday: int, hour: int) -> float | None:
        sent = self.sends[weekday][hour]
        return self.replies[weekday][hour] / sent if sent else None

    @property
    def total_sends(self) -> int:
        return sum(map(sum, self.sends))

    @property
    def total_replies(self) -> int:
        return sum(map(sum, self.replies))


def _hour_bucket(session: Session) -> Any:
    sent = col(Message.sent_at)
    if session.get_bind().dialect.name == "postgresql":
        return func.date_trunc("hour", sent)
    return func.strftime("%Y-%m-%d %H:00:00", sent)


def _zone(name: str | None, fallback: ZoneInfo) -> ZoneInfo:
    if not name:
        return fallback
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return fallback


def response_grid(
    session: Session,
    *,
    viewer: Viewer,
    now: datetime,
    channel: str | None = None,
    days: int = RESPONSE_DAYS,
) -> ResponseGrid:
    """Reply rate of our messages by the lead's local weekday and hour they went out, over the
    last `days` (a message counts as answered when the lead replied to it).

    A manager's grid reads the office's running totals per UTC hour and lead time zone for
    every whole hour of the range (only its first, partial hour from the messages); an agent
    sees their own leads and the pool, which the totals do not split, so theirs is counted
    from the messages."""
    plan_for_these_values(session)
    tenant = session.get(Tenant, viewer.tenant_id)
    office_zone = _zone(tenant.timezone if tenant else None, ZoneInfo("UTC"))
    since = now - timedelta(days=days)
    if viewer.is_manager:
        first_whole = -(-int(since.timestamp()) // 3600)  # the first hour starting at or after
        whole_from = datetime.fromtimestamp(first_whole * 3600, UTC)
        cells = [
            (zone, datetime.fromtimestamp(hour * 3600, UTC), sends, replies)
            for zone, hour, sends, replies in running_totals.reply_hours(
                session, tenant_id=viewer.tenant_id, from_hour=first_whole, channel=channel
            )
        ]
        if whole_from > since:
            cells += live_reply_cells(
                session, viewer=viewer, channel=channel, since=since, until=whole_from
            )
    else:
        cells = live_reply_cells(session, viewer=viewer, channel=channel, since=since)
    grid = ResponseGrid()
    for zone_name, bucket, sends, replies in cells:
        moment = bucket if isinstance(bucket, datetime) else datetime.fromisoformat(str(bucket))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        local = moment.astimezone(_zone(zone_name, office_zone))
        grid.add(local.weekday(), local.hour, int(sends), int(replies))
    return grid


def live_reply_cells(
    session: Session,
    *,
    viewer: Viewer,
    channel: str | None,
    since: datetime,
    until: datetime | None = None,
) -> list[tuple[Any, Any, int, int]]:
    """(lead time zone, UTC hour, sends, replies) of the outbound messages the viewer may see
    that went out from `since` (to `until`), counted from the messages themselves."""
    hour = _hour_bucket(session)
    clauses: list[Any] = [
        *visible_to(viewer),
        col(Message.direction) == Direction.OUTBOUND,
        col(Message.sent_at).is_not(None),
        col(Message.sent_at) >= since,
        col(Message.tenant_id) == viewer.tenant_id,
    ]
    if until is not None:
        clauses.append(col(Message.sent_at) < until)
    if channel:
        clauses.append(col(Message.channel) == channel)
    replied = func.count(col(Message.replied_at))
    rows = session.execute(
        select(col(Lead.timezone), hour, func.count(), replied)
        .select_from(Message)
        .join(Lead, col(Lead.id) == col(Message.lead_id))
        .where(*clauses)
        .group_by(col(Lead.timezone), hour)
    ).all()
    return [(zone, bucket, int(sends), int(answered)) for zone, bucket, sends, answered in rows]


def best_window(grid: ResponseGrid, *, min_sends: int = MIN_SENDS) -> SendWindow | None:
    """The `WINDOW_HOURS`-hour slot inside 08:00-21:00 with the best reply rate over the week,
    and the weekdays on which it beats the overall rate; None without enough sends to tell."""
    if grid.total_sends < min_sends or not grid.total_replies:
        return None
    baseline = grid.total_replies / grid.total_sends
    best: tuple[float, int] | None = None
    for start in range(FIRST_HOUR, LAST_HOUR - WINDOW_HOURS + 1):
        hours = range(start, start + WINDOW_HOURS)
        sent = sum(grid.sends[d][h] for d in range(7) for h in hours)
        if sent < min_sends:
            continue
        rate = sum(grid.replies[d][h] for d in range(7) for h in hours) / sent
        if best is None or rate > best[0]:
            best = (rate, start)
    if best is None:
        return None
    rate, start = best
    hours = range(start, start + WINDOW_HOURS)
    days = []
    for day in range(7):
        sent = sum(grid.sends[day][h] for h in hours)
        answered = sum(grid.replies[day][h] for h in hours)
        if sent and answered / sent >= rate:
            days.append(day)
    if not days:  # no single day reaches the pooled rate: the whole week is the answer
        days = [d for d in range(7) if any(grid.sends[d][h] for h in hours)]
    sends = sum(grid.sends[d][h] for d in days for h in hours)
    replies = sum(grid.replies[d][h] for d in days for h in hours)
    return SendWindow(
        days=days,
        start_hour=start,
        end_hour=start + WINDOW_HOURS,
        reply_rate=replies / sends if sends else rate,
        baseline_rate=baseline,
        sends=sends,
    )


def _days_label(days: list[int]) -> str:
    """[1, 2, 3] -> "Tue-Thu"; [0, 2, 4] -> "Mon, Wed, Fri"; runs of three or more collapse."""
    runs: list[list[int]] = []
    for day in sorted(days):
        if runs and day == runs[-1][-1] + 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    parts = []
    for run in runs:
        if len(run) >= 3:
            parts.append(f"{WEEKDAYS[run[0]]}-{WEEKDAYS[run[-1]]}")
        else:
            parts.extend(WEEKDAYS[d] for d in run)
    return ", ".join(parts)


# What each factor adds -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FactorEffect:
    factor: str
    weight: float
    leads: int  # open leads the factor applies to
    average_points: float


_FACTOR_SQL = {
    "postgresql": """
        SELECT f ->> 'factor' AS factor, count(*), avg((f ->> 'points')::numeric)
        FROM leads, jsonb_array_elements(leads.score_factors) AS f
        WHERE leads.tenant_id = :tenant AND leads.status NOT IN ('converted', 'lost')
          {agent}
        GROUP BY 1
    """,
    "sqlite": """
        SELECT json_extract(f.value, '$.factor') AS factor, count(*),
               avg(json_extract(f.value, '$.points'))
        FROM leads, json_each(leads.score_factors) AS f
        WHERE leads.tenant_id = :tenant AND leads.status NOT IN ('converted', 'lost')
          {agent}
        GROUP BY 1
    """,
}


def factor_effects(session: Session, *, viewer: Viewer) -> list[FactorEffect]:
    """Each factor of the office's model: its weight, and the points it adds on average to the
    open leads it applies to (largest effect first).

    Read from the running totals of the office's open leads per owner: a manager's are all
    of them, an agent's their own and the unassigned (`live_factor_rows` counts the same from
    the leads)."""
    owners = None if viewer.is_manager else [viewer.user_id or NO_OWNER, NO_OWNER]
    rows = [
        (factor, leads, points / scored if scored else None)
        for factor, leads, scored, points in running_totals.factor_totals(
            session, tenant_id=viewer.tenant_id, owners=owners
        )
    ]
    weights = model_for(session.get(Tenant, viewer.tenant_id)).weights
    effects = [
        FactorEffect(
            factor=str(name),
            weight=float(weights.get(str(name), 0.0)),
            leads=int(n),
            average_points=round(float(avg or 0), 1),
        )
        for name, n, avg in rows
        if name
    ]
    return sorted(effects, key=lambda e: (-abs(e.average_points), e.factor))


def live_factor_rows(session: Session, *, viewer: Viewer) -> list[tuple[Any, int, Any]]:
    """(factor, entries, average points) over the stored factors of the open leads the viewer
    may see, read from the leads themselves."""
    dialect = "postgresql" if session.get_bind().dialect.name == "postgresql" else "sqlite"
    params: dict[str, Any] = {"tenant": viewer.tenant_id}
    agent = ""
    if not viewer.is_manager:
        agent = "AND (leads.assigned_user_id = :user OR leads.assigned_user_id IS NULL)"
        params["user"] = viewer.user_id
    found = session.execute(text(_FACTOR_SQL[dialect].format(agent=agent)), params).all()
    return [(name, int(n), avg) for name, n, avg in found]


def calibration(session: Session, *, viewer: Viewer) -> dict[str, Any] | None:
    """The office's last calibration (AUC before and after, applied or not), if any."""
    tenant = session.get(Tenant, viewer.tenant_id)
    found = (tenant.scoring or {}).get("calibration") if tenant else None
    return dict(found) if isinstance(found, dict) else None


# The call list ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PriorityLead:
    id: int
    first_name: str
    last_name: str
    phone: str | None
    score: int
    temperature: str
    assigned_user_id: int | None
    assigned_name: str | None
    reached_out_at: datetime  # their last reply, or when they came in
    touched: bool  # a person already called or wrote
    worth: float


def _hours_since(session: Session, column: Any, now: datetime) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", literal(now) - column) / 3600.0
    # SQLite keeps UTC moments as naive text, which julianday() reads.
    naive_now = literal(now.astimezone(UTC).replace(tzinfo=None))
    return (func.julianday(naive_now) - func.julianday(column)) * 24.0


def priority_queue(
    session: Session, *, viewer: Viewer, now: datetime, limit: int = PRIORITY_SIZE
) -> list[PriorityLead]:
    """The open leads most worth a call now: score x recency (halves after a day since they
    last reached out) x not yet contacted by a person (a lead already touched counts 0.6).
    Leads without a phone, and leads we wrote to in the last four hours, are left out.

    Exact, without scoring every open lead: a lead that reached out more than H hours ago is
    worth less than MAX_SCORE x 24 / (24 + H), so the leads of the last day are ranked first
    (an index on when they reached out finds them), and the look-back widens only until no
    older lead could beat the last of the list."""
    plan_for_these_values(session)
    reached = func.coalesce(col(Lead.last_inbound_at), col(Lead.created_at))
    hours = _hours_since(session, reached, now)
    touched = col(Lead.first_human_touch_at).is_not(None)
    # SQLite's two-argument max() is PostgreSQL's greatest().
    clamped = func.greatest(hours, 0) if _pg(session) else func.max(hours, 0)
    worth = col(Lead.score) * (24.0 / (24.0 + clamped)) * case((touched, TOUCHED_WEIGHT), else_=1.0)
    query = (
        select(
            col(Lead.id),
            col(Lead.first_name),
            col(Lead.last_name),
            col(Lead.phone),
            col(Lead.score),
            col(Lead.temperature),
            col(Lead.assigned_user_id),
            USER_NAME,
            reached,
            touched,
            worth,
        )
        .outerjoin(User, col(User.id) == col(Lead.assigned_user_id))
        .where(
            *visible_to(viewer),
            col(Lead.status).not_in(CLOSED),
            col(Lead.phone).is_not(None),
            or_(
                col(Lead.last_outbound_at).is_(None),
                col(Lead.last_outbound_at) < now - timedelta(hours=4),
            ),
        )
        .order_by(worth.desc(), col(Lead.id).desc())
        .limit(limit)
    )
    look_back: float | None = 24.0
    while True:
        bounded = (
            query if look_back is None else query.where(reached >= _moment_before(now, look_back))
        )
        rows = session.execute(bounded).all()
        if look_back is None:
            break
        # The best any lead from before the look-back can be worth.
        ceiling = MAX_SCORE * 24.0 / (24.0 + look_back)
        last = float(rows[-1][10]) if len(rows) == limit else 0.0
        if last >= ceiling:  # older leads are worth strictly less than the ceiling
            break
        # Far enough back that an older lead is worth less than the current last; everything
        # once that is more than a year or the list is not full.
        needed = 24.0 * (MAX_SCORE / last - 1.0) if last > 0 else None
        widens = needed is not None and look_back < needed < MAX_LOOK_BACK_HOURS
        look_back = needed if widens else None
    return [
        PriorityLead(
            id=row[0],
            first_name=row[1],
            last_name=row[2],
            phone=row[3],
            score=row[4],
            temperature=row[5],
            assigned_user_id=row[6],
            assigned_name=row[7],
            reached_out_at=_as_utc(row[8]),
            touched=bool(row[9]),
            worth=round(float(row[10]), 1),
        )
        for row in rows
    ]


def _moment_before(now: datetime, hours: float) -> datetime:
    # A little earlier than exact, so float rounding never drops a lead on the edge.
    return now - timedelta(hours=hours, seconds=1)


def _pg(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _as_utc(value: Any) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
