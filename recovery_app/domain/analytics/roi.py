"""ROI: what recovery earned for an office over a date range, against what it cost.

Revenue attributed to recovery is the value of the deals closed in the range that had at least
one recovery message (a marketing message we sent) within the office's attribution window
before they closed. Which message gets the credit is the model's choice:
- first touch: the earliest of those messages gets all of it;
- last touch: the latest gets all of it;
- linear: each of them gets an equal share.
A deal without such a message is "closed without recovery" and earns recovery nothing.

Costs are what the range spent: SMS and email as the providers priced them when they went out
(each message keeps its cost), AI drafting (each draft keeps its tokens' cost), agent time (the
minutes of logged calls at the office's hourly rate) and, when the office entered one, what
each new lead cost by source.

Every figure is one SQL aggregate; Python only assembles the rows it returns. The credits are
read from the attribution table (`conversion_credits`: each deal's credited touches per model,
kept by database triggers, migration 0017), so a range costs its deals' rows, not a ranking of
their messages; `credits` computes the same rows from the messages (the rule, and the tests'
yardstick for the table).
"""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Float, cast, func, literal, select
from sqlalchemy.orm import Session
from sqlmodel import col

from recovery_app.db import plan_for_these_values
from recovery_app.domain.accounts.office import prices_of
from recovery_app.domain.accounts.permissions import require_manager
from recovery_app.domain.accounts.schemas import Viewer
from recovery_app.domain.analytics.conversions import touch_clauses
from recovery_app.domain.audit import service as audit
from recovery_app.domain.metrics import rollup
from recovery_app.domain.metrics.rollup import day_bounds
from recovery_app.errors import NotFound, ValidationFailed
from recovery_app.models import (
    Activity,
    ActivityKind,
    AiDraft,
    Campaign,
    Channel,
    Conversion,
    ConversionCredit,
    DailyMessageCost,
    DailyMetric,
    Lead,
    Message,
    MessageCategory,
    Tenant,
    User,
)

MODELS = {"first_touch": "First touch", "last_touch": "Last touch", "linear": "Linear"}
MAX_DAYS = 400
# The cohorts compared around go-live: this many days before it, and since it.
COHORT_DAYS = 90
MAX_SOURCE_COST_USD = 10_000.0
NO_CAMPAIGN = "One-off recovery messages"


# Reports cover years the engine can have data for; year 1 overflowed date arithmetic.
FIRST_YEAR, LAST_YEAR = 2000, 2100


@dataclass(frozen=True, slots=True)
class Period:
    """Local days `start`..`end` (inclusive) in the office's time zone."""

    start: date
    end: date

    @classmethod
    def of(cls, start: date | None, end: date | None, today: date) -> "Period":
        """`start`..`end` as a caller gave them (either may be left out: 30 days ending at
        `end`, or today), checked."""
        for name, day in (("start", start), ("end", end)):
            if day is not None and not FIRST_YEAR <= day.year <= LAST_YEAR:
                raise ValidationFailed(
                    f"Pick dates between {FIRST_YEAR} and {LAST_YEAR}.",
                    fields={name: f"a date in {FIRST_YEAR}-{LAST_YEAR}"},
                )
        last = end or today
        return cls(start or last - timedelta(days=29), last).check()

    def check(self) -> "Period":
        if self.end < self.start:
            raise ValidationFailed(
                "The range ends before it starts.", fields={"end": "after the start"}
            )
        if (self.end - self.start).days >= MAX_DAYS:
            raise ValidationFailed(
                f"Pick a range of at most {MAX_DAYS} days.", fields={"start": "a later date"}
            )
        return self

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def bounds(period: Period, timezone: str) -> tuple[datetime, datetime]:
    zone = ZoneInfo(timezone)
    return day_bounds(period.start, zone)[0], day_bounds(period.end, zone)[1]


@dataclass(frozen=True, slots=True)
class Slice:
    """One row of a revenue table: what one campaign / channel / source / agent earned."""

    key: str
    label: str
    # Deals credited (fractional under the linear model).
    deals: float
    revenue_cents: int
    # For campaigns and channels: messages sent in the range and what they cost.
    sent: int | None = None
    cost_microdollars: int | None = None
    # The raw id or name the key was made from (a campaign id, "sms", a user id...).
    key_value: Any = None

    @property
    def roi(self) -> float | None:
        if not self.cost_microdollars:
            return None
        return (self.revenue_cents * 10_000) / self.cost_microdollars


@dataclass(frozen=True, slots=True)
class Costs:
    sms_sent: int = 0
    sms_segments: int = 0
    sms_microdollars: int = 0
    emails_sent: int = 0
    email_microdollars: int = 0
    ai_calls: int = 0
    ai_input_tokens: int = 0
    ai_output_tokens: int = 0
    ai_microdollars: int = 0
    call_minutes: int = 0
    agent_hourly_usd: float = 0.0
    # source -> (new leads in the range, cost per lead in USD), for sources that have a cost.
    sources: dict[str, tuple[int, float]] = field(default_factory=dict)

    @property
    def agent_microdollars(self) -> int:
        return round(self.call_minutes * self.agent_hourly_usd * 1_000_000 / 60)

    @property
    def source_microdollars(self) -> int:
        return round(sum(n * usd for n, usd in self.sources.values()) * 1_000_000)

    @property
    def total_microdollars(self) -> int:
        return (
            self.sms_microdollars
            + self.email_microdollars
            + self.ai_microdollars
            + self.agent_microdollars
            + self.source_microdollars
        )


@dataclass(frozen=True, slots=True)
class Cohort:
    """Leads that went silent in a stretch of days, and how many of them recovery won back."""

    start: date
    end: date
    went_silent: int
    recovered: int

    @property
    def rate(self) -> float | None:
        return self.recovered / self.went_silent if self.went_silent else None


@dataclass(frozen=True, slots=True)
class BeforeAfter:
    go_live: date | None
    # "set" (the office entered it), "first campaign" (its first launch) or "" (none yet).
    go_live_source: str
    before: Cohort | None
    after: Cohort | None


@dataclass(frozen=True, slots=True)
class DayPoint:
    day: date
    revenue_cents: int
    cost_microdollars: int
    recovered: int


@dataclass(frozen=True, slots=True)
class RoiReport:
    period: Period
    model: str
    window_days: int
    revenue_cents: int
    deals: int
    closed_revenue_cents: int
    closed_deals: int
    recovered: int
    costs: Costs
    by_campaign: list[Slice]
    by_channel: list[Slice]
    by_source: list[Slice]
    by_agent: list[Slice]
    before_after: BeforeAfter
    daily: list[DayPoint]

    @property
    def roi(self) -> float | None:
        """Revenue per dollar spent (a multiple: 4.0 = four dollars back for each)."""
        total = self.costs.total_microdollars
        return (self.revenue_cents * 10_000) / total if total else None

    @property
    def cost_per_recovered_cents(self) -> int | None:
        if not self.recovered:
            return None
        return round(self.costs.total_microdollars / 10_000 / self.recovered)


@dataclass(frozen=True, slots=True)
class RoiSettings:
    go_live_on: date | None
    source_costs: dict[str, float]


def _window_start(session: Session, closed_at: Any, days: int) -> Any:
    """SQL for `closed_at` minus `days` whole 24-hour days, in the dialect at hand (hours, not
    days: timestamptz minus days depends on the session's time zone)."""
    if session.get_bind().dialect.name == "postgresql":
        return closed_at - func.make_interval(0, 0, 0, 0, days * 24)
    return func.julianday(closed_at) - days


def _sent_after_window(session: Session, sent_at: Any, closed_at: Any, days: int) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return sent_at >= _window_start(session, closed_at, days)
    return func.julianday(sent_at) >= _window_start(session, closed_at, days)


def credits(
    session: Session,
    *,
    tenant_id: int,
    start: datetime,
    end: datetime,
    window_days: int,
    model: str,
) -> Any:
    """The credit each recovery message earns, computed from the messages: one row per (deal,
    credited message) with `conversion_id`, `lead_id`, `message_id`, `campaign_id`, `channel`,
    the lead's `source` and `assigned_user_id`, `share` and `credit` (cents, fractional under
    linear). The rule the attribution table (`stored_credits`) is kept equal to."""
    _check_model(model)
    conversion_id = col(Conversion.id)
    touches = (
        select(
            conversion_id.label("conversion_id"),
            col(Conversion.lead_id).label("lead_id"),
            col(Conversion.value_cents).label("value_cents"),
            col(Message.id).label("message_id"),
            col(Message.campaign_id).label("campaign_id"),
            col(Message.channel).label("channel"),
            func.row_number()
            .over(partition_by=conversion_id, order_by=(col(Message.sent_at), col(Message.id)))
            .label("first_rank"),
            func.row_number()
            .over(
                partition_by=conversion_id,
                order_by=(col(Message.sent_at).desc(), col(Message.id).desc()),
            )
            .label("last_rank"),
            func.count().over(partition_by=conversion_id).label("touches"),
        )
        .select_from(Conversion)
        .join(Message, col(Message.lead_id) == col(Conversion.lead_id))
        .where(
            col(Conversion.tenant_id) == tenant_id,
            col(Conversion.closed_at) >= start,
            col(Conversion.closed_at) < end,
            *touch_clauses(tenant_id),
            col(Message.sent_at) <= col(Conversion.closed_at),
            _sent_after_window(
                session, col(Message.sent_at), col(Conversion.closed_at), window_days
            ),
        )
        .subquery("touches")
    )
    if model == "linear":
        credit = cast(touches.c.value_cents, Float) / touches.c.touches
        where: Any = literal(True)
    else:
        credit = cast(touches.c.value_cents, Float)
        where = (touches.c.first_rank if model == "first_touch" else touches.c.last_rank) == 1
    return (
        select(
            touches.c.conversion_id,
            touches.c.lead_id,
            touches.c.message_id,
            touches.c.campaign_id,
            touches.c.channel,
            col(Lead.source).label("source"),
            col(Lead.assigned_user_id).label("assigned_user_id"),
            # The deal's share: 1 for the credited touch, 1/n each under linear.
            (
                cast(literal(1), Float) / touches.c.touches
                if model == "linear"
                else cast(literal(1), Float)
            ).label("share"),
            credit.label("credit"),
        )
        .join(Lead, col(Lead.id) == touches.c.lead_id)
        .where(where)
        .subquery("credits")
    )


def stored_credits(
    session: Session, *, tenant_id: int, start: datetime, end: datetime, model: str
) -> Any:
    """The same rows as `credits`, read from the attribution table the triggers of migration
    0017 keep (deals closed in `start`..`end`, the office's window as it is now)."""
    _check_model(model)
    return (
        select(
            col(ConversionCredit.conversion_id),
            col(ConversionCredit.lead_id),
            col(ConversionCredit.message_id),
            col(ConversionCredit.campaign_id),
            col(ConversionCredit.channel),
            col(ConversionCredit.source),
            col(ConversionCredit.assigned_user_id),
            col(ConversionCredit.share),
            col(ConversionCredit.credit),
        )
        .where(
            col(ConversionCredit.tenant_id) == tenant_id,
            col(ConversionCredit.model) == model,
            col(ConversionCredit.closed_at) >= start,
            col(ConversionCredit.closed_at) < end,
        )
        .subquery("credits")
    )


def _check_model(model: str) -> None:
    if model not in MODELS:
        raise ValidationFailed(
            "Unknown attribution model.", fields={"model": "one of " + ", ".join(MODELS)}
        )


Cube = list[tuple[Any, Any, Any, Any, float, float]]


def credit_cube(session: Session, credited: Any) -> Cube:
    """The credits grouped by every key a table shows (a few hundred rows at most):
    (campaign id, channel, source, agent id, deals credited, cents). Each deal's shares add up
    to 1, so the deals credited are the sum of the shares."""
    keys = (credited.c.campaign_id, credited.c.channel, credited.c.source)
    rows = session.execute(
        select(
            *keys,
            credited.c.assigned_user_id,
            func.sum(credited.c.share),
            func.sum(credited.c.credit),
        ).group_by(*keys, credited.c.assigned_user_id)
    ).all()
    return [
        (campaign, channel, source, agent, float(share or 0), float(cents or 0))
        for campaign, channel, source, agent, share, cents in rows
    ]


def _slices(rows: Any, label_of: dict[Any, str], prefix: str) -> list[Slice]:
    found = [
        Slice(
            key=f"{prefix}:{key if key is not None else 'none'}",
            label=label_of.get(key, str(key) if key is not None else "None"),
            deals=round(float(deals or 0), 2),
            revenue_cents=round(float(revenue or 0)),
            key_value=key,
        )
        for key, deals, revenue in rows
    ]
    return sorted(found, key=lambda s: (-s.revenue_cents, s.label))


def roi_settings(session: Session, *, viewer: Viewer) -> RoiSettings:
    tenant = _tenant(session, viewer)
    return _settings_of(tenant)


def _settings_of(tenant: Tenant) -> RoiSettings:
    roi = (tenant.preferences or {}).get("roi") or {}
    go_live = roi.get("go_live_on")
    try:
        go_live_on = date.fromisoformat(go_live) if go_live else None
    except (TypeError, ValueError):
        go_live_on = None
    costs = {
        str(source): float(usd)
        for source, usd in (roi.get("source_costs") or {}).items()
        if isinstance(usd, int | float) and not isinstance(usd, bool)
    }
    return RoiSettings(go_live_on, costs)


def office_clock(session: Session, *, viewer: Viewer, now: datetime) -> datetime:
    """`now` on the office's clock: ranges are the office's local days."""
    return now.astimezone(ZoneInfo(_tenant(session, viewer).timezone))


def _tenant(session: Session, viewer: Viewer) -> Tenant:
    tenant = session.get(Tenant, viewer.tenant_id)
    if tenant is None:
        raise NotFound("No such office.")
    return tenant


def update_roi_settings(
    session: Session, *, viewer: Viewer, go_live_on: date | None, source_costs: dict[str, float]
) -> RoiSettings:
    """Managers set the go-live date and what a lead of each source costs (audited)."""
    require_manager(viewer, "change how ROI is counted")
    errors: dict[str, str] = {}
    clean: dict[str, float] = {}
    for source, usd in source_costs.items():
        name = str(source).strip()
        if not name or len(name) > 40:
            errors["source_costs"] = "source names of 1 to 40 characters"
        elif not 0 <= float(usd) <= MAX_SOURCE_COST_USD:
            errors[f"source_costs.{name}"] = f"0 to {MAX_SOURCE_COST_USD:,.0f} dollars"
        elif usd:
            clean[name] = round(float(usd), 2)
    if errors:
        raise ValidationFailed("Check the ROI settings.", fields=errors)
    tenant = _tenant(session, viewer)
    before = _settings_of(tenant)
    roi = {"go_live_on": go_live_on.isoformat() if go_live_on else None, "source_costs": clean}
    tenant.preferences = dict(tenant.preferences or {}) | {"roi": roi}
    audit.record(
        session,
        action="office.roi_settings",
        entity_type="tenant",
        entity_id=tenant.id,
        tenant_id=tenant.id,
        actor=viewer,
        before={
            "go_live_on": before.go_live_on.isoformat() if before.go_live_on else None,
            "source_costs": before.source_costs,
        },
        after=roi,
    )
    return _settings_of(tenant)


def _go_live(session: Session, tenant: Tenant, settings: RoiSettings) -> tuple[date | None, str]:
    if settings.go_live_on is not None:
        return settings.go_live_on, "set"
    first = session.execute(
        select(func.min(col(Campaign.launched_at))).where(col(Campaign.tenant_id) == tenant.id)
    ).scalar_one()
    if first is None:
        return None, ""
    if first.tzinfo is None:
        first = first.replace(tzinfo=UTC)
    return first.astimezone(ZoneInfo(tenant.timezone)).date(), "first campaign"


def _cohort(session: Session, tenant_id: int, start: date, end: date) -> Cohort | None:
    """Went-silent and recovered leads of the office's rolled-up days `start`..`end`; None when
    the rollup holds none of those days (nothing to compare)."""
    days, silent, recovered = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(col(DailyMetric.went_silent)), 0),
            func.coalesce(func.sum(col(DailyMetric.recovered)), 0),
        ).where(
            col(DailyMetric.tenant_id) == tenant_id,
            col(DailyMetric.user_id).is_(None),
            col(DailyMetric.day) >= start,
            col(DailyMetric.day) <= end,
        )
    ).one()
    if not days:
        return None
    return Cohort(start, end, int(silent), int(recovered))


def before_after(
    session: Session, tenant: Tenant, settings: RoiSettings, today: date
) -> BeforeAfter:
    go_live, source = _go_live(session, tenant, settings)
    if go_live is None:
        return BeforeAfter(None, "", None, None)
    tenant_id = int(tenant.id)  # type: ignore[arg-type]
    before = _cohort(
        session, tenant_id, go_live - timedelta(days=COHORT_DAYS), go_live - timedelta(days=1)
    )
    after = None
    if go_live <= today:
        after = _cohort(
            session, tenant_id, go_live, min(today, go_live + timedelta(days=COHORT_DAYS - 1))
        )
    return BeforeAfter(go_live, source, before, after)


SentBy = dict[tuple[int | None, str], tuple[int, int]]


def _rolled_span(
    session: Session, tenant: Tenant, period: Period, today: date
) -> tuple[date, date] | None:
    """The days of `period` the daily rollup holds for good, as one unbroken span: from the
    first rolled day on, up to yesterday when the job rolled it after it ended (else the day
    before); None when it holds none or has a gap there (the job was down for days)."""
    tenant_id = int(tenant.id)  # type: ignore[arg-type]
    day = col(DailyMessageCost.day)
    yesterday = today - timedelta(days=1)
    rolled_at = session.execute(
        select(func.min(col(DailyMessageCost.computed_at))).where(
            col(DailyMessageCost.tenant_id) == tenant_id, day == yesterday
        )
    ).scalar_one()
    final = (
        rolled_at is not None
        and _aware(rolled_at) >= rollup.day_bounds(today, ZoneInfo(tenant.timezone))[0]
    )
    last = min(period.end, yesterday if final else yesterday - timedelta(days=1))
    first, rolled = session.execute(
        select(func.min(day), func.count(func.distinct(day))).where(
            col(DailyMessageCost.tenant_id) == tenant_id, day >= period.start, day <= last
        )
    ).one()
    if first is None or rolled != (last - first).days + 1:
        return None
    return first, last


def _aware(moment: datetime) -> datetime:
    # SQLite hands UTC moments back naive.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def sent_messages(
    session: Session, tenant: Tenant, period: Period, today: date
) -> list[tuple[Any, str, str, int, int, int]]:
    """(campaign id, channel, category, sent, segments, cost) of the messages to leads sent in
    `period`: from `daily_message_costs` for the days it holds for good, from the messages
    themselves for the rest (today, yesterday until the job has rolled it whole, any day before the office's
    first rollup)."""
    tenant_id = int(tenant.id)  # type: ignore[arg-type]
    zone = ZoneInfo(tenant.timezone)
    span = _rolled_span(session, tenant, period, today)
    live: list[tuple[date, date]] = []
    rows: list[tuple[Any, str, str, int, int, int]] = []
    if span is None:
        live.append((period.start, period.end))
    else:
        first, last = span
        if period.start < first:
            live.append((period.start, first - timedelta(days=1)))
        if last < period.end:
            live.append((last + timedelta(days=1), period.end))
        rolled = col(DailyMessageCost.day)
        rows += [
            (campaign_id, str(channel), str(category), int(n), int(seg or 0), int(c or 0))
            for campaign_id, channel, category, n, seg, c in session.execute(
                select(
                    col(DailyMessageCost.campaign_id),
                    col(DailyMessageCost.channel),
                    col(DailyMessageCost.category),
                    func.sum(col(DailyMessageCost.sent)),
                    func.sum(col(DailyMessageCost.segments)),
                    func.sum(col(DailyMessageCost.cost_microdollars)),
                )
                .where(
                    col(DailyMessageCost.tenant_id) == tenant_id, rolled >= first, rolled <= last
                )
                .group_by(
                    col(DailyMessageCost.campaign_id),
                    col(DailyMessageCost.channel),
                    col(DailyMessageCost.category),
                )
            )
            if n  # the zero rows that mark a day without sends
        ]
    for first_day, last_day in live:
        start = rollup.day_bounds(first_day, zone)[0]
        end = rollup.day_bounds(last_day, zone)[1]
        rows += [
            (
                r["campaign_id"],
                r["channel"],
                r["category"],
                r["sent"],
                r["segments"],
                r["cost_microdollars"],
            )
            for r in rollup.message_costs(session, tenant_id, start, end)
        ]
    return rows


def costs(
    session: Session,
    tenant: Tenant,
    period: Period,
    today: date,
    settings: RoiSettings,
) -> tuple[Costs, SentBy]:
    """The period's costs (every message to a lead counts), and the recovery messages sent and
    their cost per (campaign, channel) for the campaign and channel tables."""
    tenant_id = int(tenant.id)  # type: ignore[arg-type]
    start, end = bounds(period, tenant.timezone)
    prices = prices_of(tenant)
    sent_rows = sent_messages(session, tenant, period, today)
    per_campaign: SentBy = {}
    totals = {Channel.SMS: [0, 0, 0], Channel.EMAIL: [0, 0, 0]}
    for campaign_id, channel, category, count, segments, cost in sent_rows:
        if category == MessageCategory.MARKETING:
            # The rollup and the live days may both hold a campaign: add them up.
            before = per_campaign.get((campaign_id, str(channel)), (0, 0))
            per_campaign[(campaign_id, str(channel))] = (
                before[0] + int(count or 0),
                before[1] + int(cost or 0),
            )
        bucket = totals[Channel(channel)]
        bucket[0] += int(count or 0)
        bucket[1] += int(segments or 0)
        bucket[2] += int(cost or 0)
    ai = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(col(AiDraft.input_tokens)), 0),
            func.coalesce(func.sum(col(AiDraft.output_tokens)), 0),
            func.coalesce(func.sum(col(AiDraft.cost_microdollars)), 0),
        ).where(
            col(AiDraft.tenant_id) == tenant_id,
            col(AiDraft.model) != "",
            col(AiDraft.created_at) >= start,
            col(AiDraft.created_at) < end,
        )
    ).one()
    minutes = session.execute(
        select(func.coalesce(func.sum(col(Activity.data)["minutes"].as_integer()), 0)).where(
            col(Activity.tenant_id) == tenant_id,
            col(Activity.kind) == ActivityKind.CALL_LOGGED,
            col(Activity.occurred_at) >= start,
            col(Activity.occurred_at) < end,
        )
    ).scalar_one()
    sources: dict[str, tuple[int, float]] = {}
    if settings.source_costs:
        for source, count in session.execute(
            select(col(Lead.source), func.count())
            .where(
                col(Lead.tenant_id) == tenant_id,
                col(Lead.created_at) >= start,
                col(Lead.created_at) < end,
                col(Lead.source).in_(list(settings.source_costs)),
            )
            .group_by(col(Lead.source))
        ):
            sources[str(source)] = (int(count), settings.source_costs[str(source)])
    return (
        Costs(
            sms_sent=totals[Channel.SMS][0],
            sms_segments=totals[Channel.SMS][1],
            sms_microdollars=totals[Channel.SMS][2],
            emails_sent=totals[Channel.EMAIL][0],
            email_microdollars=totals[Channel.EMAIL][2],
            ai_calls=int(ai[0]),
            ai_input_tokens=int(ai[1]),
            ai_output_tokens=int(ai[2]),
            ai_microdollars=int(ai[3]),
            call_minutes=int(minutes or 0),
            agent_hourly_usd=prices["agent_hourly_usd"],
            sources=sources,
        ),
        per_campaign,
    )


FLOW = ("leads_new", "first_responses", "replies", "went_silent", "recovered", "converted")


@dataclass(frozen=True, slots=True)
class Flow:
    """What moved through the office in a range, from the daily rollup: counts per stage and
    each day's speed to lead (p50/p90 seconds; percentiles of days do not add up, so they are
    given per day)."""

    counts: dict[str, int]
    speeds: list[tuple[date, int | None, int | None]]

    @property
    def recovery_rate(self) -> float | None:
        silent = self.counts.get("went_silent", 0)
        return self.counts.get("recovered", 0) / silent if silent else None


def flow(session: Session, *, viewer: Viewer, period: Period) -> Flow:
    require_manager(viewer, "see the office's analytics")
    period.check()
    in_range = (
        col(DailyMetric.tenant_id) == viewer.tenant_id,
        col(DailyMetric.user_id).is_(None),
        col(DailyMetric.day) >= period.start,
        col(DailyMetric.day) <= period.end,
    )
    sums = session.execute(
        select(*(func.coalesce(func.sum(getattr(DailyMetric, name)), 0) for name in FLOW)).where(
            *in_range
        )
    ).one()
    speeds = session.execute(
        select(
            col(DailyMetric.day),
            col(DailyMetric.speed_p50_seconds),
            col(DailyMetric.speed_p90_seconds),
        )
        .where(*in_range)
        .order_by(col(DailyMetric.day))
    ).all()
    return Flow(
        {name: int(value) for name, value in zip(FLOW, sums, strict=True)},
        [(day, p50, p90) for day, p50, p90 in speeds],
    )


def _daily(session: Session, tenant_id: int, period: Period) -> list[DayPoint]:
    rows = session.execute(
        select(
            col(DailyMetric.day),
            col(DailyMetric.revenue_cents),
            col(DailyMetric.message_cost_microdollars) + col(DailyMetric.ai_cost_microdollars),
            col(DailyMetric.recovered),
        )
        .where(
            col(DailyMetric.tenant_id) == tenant_id,
            col(DailyMetric.user_id).is_(None),
            col(DailyMetric.day) >= period.start,
            col(DailyMetric.day) <= period.end,
        )
        .order_by(col(DailyMetric.day))
    ).all()
    return [DayPoint(day, int(rev), int(cost), int(rec)) for day, rev, cost, rec in rows]


def report(
    session: Session, *, viewer: Viewer, period: Period, model: str, now: datetime
) -> RoiReport:
    """The office's ROI for `period` under attribution `model` (managers only)."""
    plan_for_these_values(session)
    require_manager(viewer, "see the office's ROI")
    period.check()
    tenant = _tenant(session, viewer)
    tenant_id = int(tenant.id)  # type: ignore[arg-type]
    settings = _settings_of(tenant)
    start, end = bounds(period, tenant.timezone)
    # One pass over the deals' stored credits; the totals and the four tables are sums of it.
    cube = credit_cube(
        session,
        stored_credits(session, tenant_id=tenant_id, start=start, end=end, model=model),
    )
    deals = sum(share for *_, share, _ in cube)
    revenue = sum(credit for *_, credit in cube)
    closed_deals, closed_revenue = session.execute(
        select(func.count(), func.coalesce(func.sum(col(Conversion.value_cents)), 0)).where(
            col(Conversion.tenant_id) == tenant_id,
            col(Conversion.closed_at) >= start,
            col(Conversion.closed_at) < end,
        )
    ).one()

    today = now.astimezone(ZoneInfo(tenant.timezone)).date()
    spent, sent_by = costs(session, tenant, period, today, settings)

    def by(position: int) -> list[tuple[Any, float, float]]:
        totals: dict[Any, list[float]] = {}
        for row in cube:
            bucket = totals.setdefault(row[position], [0.0, 0.0])
            bucket[0] += row[4]
            bucket[1] += row[5]
        return [(key, share, credit) for key, (share, credit) in totals.items()]

    names = dict(
        session.execute(
            select(col(Campaign.id), col(Campaign.name)).where(col(Campaign.tenant_id) == tenant_id)
        ).all()
    )
    names[None] = NO_CAMPAIGN
    by_campaign = _with_costs(_slices(by(0), names, "campaign"), sent_by, "campaign", names)
    channels = {"sms": "Text (SMS)", "email": "Email"}
    by_channel = _with_costs(_slices(by(1), channels, "channel"), sent_by, "channel", channels)
    by_source = _slices(by(2), {}, "source")
    agents = dict(
        session.execute(
            select(col(User.id), col(User.full_name)).where(col(User.tenant_id) == tenant_id)
        ).all()
    )
    agents[None] = "Unassigned"
    by_agent = _slices(by(3), agents, "agent")

    recovered = session.execute(
        select(func.coalesce(func.sum(col(DailyMetric.recovered)), 0)).where(
            col(DailyMetric.tenant_id) == tenant_id,
            col(DailyMetric.user_id).is_(None),
            col(DailyMetric.day) >= period.start,
            col(DailyMetric.day) <= period.end,
        )
    ).scalar_one()
    return RoiReport(
        period=period,
        model=model,
        window_days=tenant.attribution_window_days,
        revenue_cents=round(float(revenue or 0)),
        deals=round(deals),
        closed_revenue_cents=int(closed_revenue or 0),
        closed_deals=int(closed_deals or 0),
        recovered=int(recovered or 0),
        costs=spent,
        by_campaign=by_campaign,
        by_channel=by_channel,
        by_source=by_source,
        by_agent=by_agent,
        before_after=before_after(session, tenant, settings, today),
        daily=_daily(session, tenant_id, period),
    )


def _with_costs(
    slices: list[Slice], sent_by: SentBy, prefix: str, labels: dict[Any, str]
) -> list[Slice]:
    """Add each campaign's (or channel's) recovery messages sent in the range and their cost,
    including campaigns that sent but earned nothing yet."""
    sent: dict[Any, list[int]] = {}
    for (campaign_id, channel), (count, cost) in sent_by.items():
        bucket = sent.setdefault(campaign_id if prefix == "campaign" else channel, [0, 0])
        bucket[0] += count
        bucket[1] += cost
    rows = []
    for item in slices:
        count, cost = sent.pop(item.key_value, [0, 0])
        rows.append(
            Slice(item.key, item.label, item.deals, item.revenue_cents, count, cost, item.key_value)
        )
    idle = [
        Slice(
            f"{prefix}:{key if key is not None else 'none'}",
            labels.get(key, str(key)),
            0.0,
            0,
            count,
            cost,
            key,
        )
        for key, (count, cost) in sent.items()
    ]
    return rows + sorted(idle, key=lambda s: (-(s.cost_microdollars or 0), s.label))
