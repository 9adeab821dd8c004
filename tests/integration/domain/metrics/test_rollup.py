"""Daily metrics rollup on SQLite and PostgreSQL: local days (a DST day included), office and
agent rows from every source table, a rebuild that replaces instead of adding, the backfill
of a new office and who may read which rows."""

import itertools
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from recovery_app.domain.metrics.rollup import (
    COST_BACKFILL_PER_RUN,
    daily_series,
    day_bounds,
    percentile,
    rollup_daily_metrics,
)
from recovery_app.errors import ValidationFailed
from recovery_app.models import (
    Activity,
    ActivityKind,
    AiDraft,
    Channel,
    Conversion,
    DailyMessageCost,
    DailyMetric,
    Direction,
    Message,
    MessageStatus,
)
from tests.factories import NOW, make_lead, make_tenant, make_user, manager_of, viewer_for

CHICAGO = ZoneInfo("America/Chicago")
TODAY, YESTERDAY = date(2026, 11, 1), date(2026, 10, 31)  # NOW is 09:00 CST on the DST-end day
_keys = itertools.count(1)


def message(session, lead, direction, channel=Channel.SMS, **fields) -> Message:
    row = Message(
        tenant_id=lead.tenant_id,
        lead_id=lead.id,
        channel=channel,
        direction=direction,
        status=MessageStatus.SENT,
        body="Hi",
        idempotency_key=f"rollup:{next(_keys)}",
        created_at=fields.pop("created_at", NOW - timedelta(hours=1)),
        **fields,
    )
    session.add(row)
    session.flush()
    return row


def status_change(session, lead, to: str, at: datetime) -> None:
    session.add(
        Activity(
            tenant_id=lead.tenant_id,
            lead_id=lead.id,
            kind=ActivityKind.STATUS_CHANGED,
            occurred_at=at,
            data={"from": "contacted", "to": to, "reason": "test"},
        )
    )
    session.flush()


@pytest.fixture
def office(session):
    tenant = make_tenant(session, timezone="America/Chicago", created_at=NOW - timedelta(days=3))
    ana, ben = make_user(session, tenant), make_user(session, tenant)
    first = make_lead(
        session,
        tenant,
        assigned_user_id=ana.id,
        created_at=NOW - timedelta(hours=1),
        first_response_at=NOW - timedelta(hours=1) + timedelta(seconds=30),
        first_human_touch_at=NOW - timedelta(hours=1) + timedelta(seconds=600),
    )
    second = make_lead(
        session,
        tenant,
        assigned_user_id=ben.id,
        created_at=NOW - timedelta(hours=2),
        first_response_at=NOW - timedelta(hours=2) + timedelta(seconds=90),
    )
    unassigned = make_lead(session, tenant, created_at=NOW - timedelta(hours=3))
    # 04:30 UTC on Nov 1 is 23:30 CDT on Oct 31: yesterday in Chicago.
    make_lead(
        session,
        tenant,
        assigned_user_id=ana.id,
        created_at=datetime(2026, 11, 1, 4, 30, tzinfo=UTC),
    )
    message(
        session,
        first,
        Direction.OUTBOUND,
        sent_at=NOW - timedelta(hours=1),
        delivered_at=NOW - timedelta(minutes=59),
        segments=2,
        cost_microdollars=15_800,
    )
    message(
        session,
        second,
        Direction.OUTBOUND,
        Channel.EMAIL,
        subject="Hello",
        sent_at=NOW - timedelta(hours=2),
        cost_microdollars=1_000,
    )
    message(session, unassigned, Direction.OUTBOUND, failed_at=NOW - timedelta(hours=3))
    message(session, first, Direction.INBOUND, created_at=NOW - timedelta(minutes=30))
    status_change(session, second, "silent", NOW - timedelta(hours=1))
    status_change(session, first, "recovered", NOW - timedelta(minutes=30))
    status_change(session, first, "engaged", NOW - timedelta(minutes=20))  # neither
    session.add(
        Conversion(
            tenant_id=tenant.id,
            lead_id=first.id,
            value_cents=500_000,
            closed_at=NOW - timedelta(minutes=10),
        )
    )
    session.add(
        AiDraft(
            tenant_id=tenant.id,
            cache_key="step:1:seg:warm",
            channel=Channel.SMS,
            body="Hi {{first_name}}",
            model="claude-haiku-4-5",
            cost_microdollars=2_000,
            created_at=NOW - timedelta(hours=1),
        )
    )
    session.flush()
    return tenant, ana, ben


def rows(session, tenant) -> dict[tuple[date, int | None], DailyMetric]:
    found = session.execute(select(DailyMetric).where(DailyMetric.tenant_id == tenant.id))
    return {(r.day, r.user_id): r for r in found.scalars()}


def test_the_dst_day_is_25_hours_long() -> None:
    start, end = day_bounds(TODAY, CHICAGO)
    assert end - start == timedelta(hours=25)
    assert start.isoformat() == "2026-11-01T05:00:00+00:00"


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 50) is None
    assert percentile([30, 90], 50) == 30 and percentile([30, 90], 90) == 90
    assert percentile(list(range(1, 101)), 90) == 90


def test_office_and_agent_days_from_every_source(session, office) -> None:
    tenant, ana, ben = office

    result = rollup_daily_metrics(session, NOW)

    assert result["days"] >= 4  # a new office: its three days of history and today
    found = rows(session, tenant)
    day = found[(TODAY, None)]
    assert (day.leads_new, day.first_responses, day.human_touches) == (3, 2, 1)
    assert (day.speed_p50_seconds, day.speed_p90_seconds, day.human_touch_p50_seconds) == (
        30,
        90,
        600,
    )
    assert (day.sms_sent, day.sms_segments, day.emails_sent) == (1, 2, 1)
    assert (day.delivered, day.failed, day.replies) == (1, 1, 1)
    assert (day.went_silent, day.recovered) == (1, 1)
    assert (day.converted, day.revenue_cents) == (1, 500_000)
    assert day.message_cost_microdollars == 16_800
    assert (day.ai_calls, day.ai_cost_microdollars) == (1, 2_000)
    mine = found[(TODAY, ana.id)]
    assert (mine.leads_new, mine.sms_sent, mine.replies, mine.recovered, mine.converted) == (
        1,
        1,
        1,
        1,
        1,
    )
    assert mine.speed_p50_seconds == 30 and mine.ai_calls == 0
    assert (found[(TODAY, ben.id)].emails_sent, found[(TODAY, ben.id)].went_silent) == (1, 1)
    assert found[(YESTERDAY, None)].leads_new == 1
    assert found[(YESTERDAY, ana.id)].leads_new == 1
    assert found[(YESTERDAY - timedelta(days=2), None)].leads_new == 0


def test_a_rerun_replaces_the_recent_days(session, office) -> None:
    tenant, ana, _ = office
    rollup_daily_metrics(session, NOW)
    before = len(rows(session, tenant))
    make_lead(session, tenant, assigned_user_id=ana.id, created_at=NOW - timedelta(minutes=5))

    again = rollup_daily_metrics(session, NOW + timedelta(hours=1))

    assert again["days"] >= 2
    found = rows(session, tenant)
    assert len(found) == before
    assert found[(TODAY, None)].leads_new == 4 and found[(TODAY, ana.id)].leads_new == 2
    office_today = session.execute(
        select(func.count())
        .select_from(DailyMetric)
        .where(DailyMetric.tenant_id == tenant.id, DailyMetric.day == TODAY)
    ).scalar_one()
    assert office_today == 3  # the office, Ana and Ben: replaced, not added


def test_who_reads_which_rows(session, office) -> None:
    tenant, ana, _ = office
    rollup_daily_metrics(session, NOW)
    manager = manager_of(tenant)

    mine = daily_series(session, viewer=viewer_for(ana), start=YESTERDAY, end=TODAY)
    theirs = daily_series(session, viewer=manager, start=YESTERDAY, end=TODAY)
    everyone = daily_series(session, viewer=manager, start=YESTERDAY, end=TODAY, per_agent=True)

    assert {(r.day, r.user_id) for r in mine} == {(YESTERDAY, ana.id), (TODAY, ana.id)}
    assert [(r.day, r.user_id) for r in theirs] == [(YESTERDAY, None), (TODAY, None)]
    assert len(everyone) == 5 and everyone[0].user_id is None
    with pytest.raises(ValidationFailed):
        daily_series(session, viewer=manager, start=TODAY, end=YESTERDAY)


def test_message_costs_are_rolled_back_to_the_office_start_a_batch_per_run(session) -> None:
    """The first run rolls the last 90 days whole; the message costs of older days (which
    ROI may ask for, up to 400 days) follow, COST_BACKFILL_PER_RUN days per run, newest first;
    a day that sent nothing gets a zero row, so it reads as rolled rather than missing."""
    tenant = make_tenant(session, timezone="America/Chicago", created_at=NOW - timedelta(days=200))
    lead = make_lead(session, tenant, created_at=NOW - timedelta(days=199))
    old = NOW - timedelta(days=120)
    message(session, lead, Direction.OUTBOUND, sent_at=old, segments=2, cost_microdollars=15_800)
    message(session, lead, Direction.OUTBOUND, sent_at=old, channel=Channel.EMAIL)

    first = rollup_daily_metrics(session, NOW)
    assert first["days"] == 90 and first["cost_days"] == COST_BACKFILL_PER_RUN

    def costs() -> dict[date, list[tuple]]:
        found: dict[date, list[tuple]] = {}
        for row in session.execute(
            select(DailyMessageCost).where(DailyMessageCost.tenant_id == tenant.id)
        ).scalars():
            found.setdefault(row.day, []).append(
                (row.channel, row.category, row.sent, row.segments, row.cost_microdollars)
            )
        return found

    oldest = TODAY - timedelta(days=90 + COST_BACKFILL_PER_RUN - 1)
    assert min(costs()) == oldest
    rollup_daily_metrics(session, NOW + timedelta(hours=1))
    found = costs()
    created = (NOW - timedelta(days=200)).astimezone(CHICAGO).date()
    assert min(found) == created and len(found) == (TODAY - created).days + 1
    day = old.astimezone(CHICAGO).date()
    assert sorted(found[day]) == [
        ("email", "conversational", 1, 0, 0),
        ("sms", "conversational", 1, 2, 15_800),
    ]
    assert found[day - timedelta(days=1)] == [("sms", "none", 0, 0, 0)]
    assert rollup_daily_metrics(session, NOW + timedelta(hours=2))["cost_days"] == 0
