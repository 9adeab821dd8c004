"""ROI on SQLite and PostgreSQL: each attribution model on hand-built deals with known answers
and against a brute-force computation on random data, the costs, the ROI arithmetic, the
before/after cohorts and who may see it."""

import itertools
import random
from datetime import date, timedelta

import pytest
from sqlalchemy import delete
from sqlmodel import col

from recovery_app.domain.analytics import roi
from recovery_app.domain.metrics import rollup
from recovery_app.errors import Forbidden, ValidationFailed
from recovery_app.models import (
    Activity,
    ActivityKind,
    AiDraft,
    Campaign,
    Channel,
    Conversion,
    DailyMessageCost,
    DailyMetric,
    Direction,
    Message,
    MessageCategory,
    Role,
)
from tests.factories import NOW, make_lead, make_tenant, make_user, manager_of, viewer_for

_keys = itertools.count(1)
OCTOBER = roi.Period(date(2026, 10, 1), date(2026, 11, 1))


def sent(
    session, lead, days_ago: float, *, campaign=None, channel=Channel.SMS, **fields
) -> Message:
    at = NOW - timedelta(days=days_ago)
    message = Message(
        **(
            {
                "tenant_id": lead.tenant_id,
                "lead_id": lead.id,
                "channel": channel,
                "direction": Direction.OUTBOUND,
                "category": MessageCategory.MARKETING,
                "campaign_id": campaign.id if campaign else None,
                "body": "Still looking?",
                "idempotency_key": f"roi:{next(_keys)}",
                "sent_at": at,
                "created_at": at,
            }
            | fields
        )
    )
    session.add(message)
    session.flush()
    return message


def closed(session, lead, dollars: int, days_ago: float = 0) -> Conversion:
    conversion = Conversion(
        tenant_id=lead.tenant_id,
        lead_id=lead.id,
        value_cents=dollars * 100,
        closed_at=NOW - timedelta(days=days_ago),
    )
    session.add(conversion)
    session.flush()
    return conversion


def campaign(session, tenant, name: str, **fields) -> Campaign:
    row = Campaign(tenant_id=tenant.id, name=name, **fields)
    session.add(row)
    session.flush()
    return row


@pytest.fixture
def office(session):
    """Three deals closed at NOW, attribution window 30 days:
    - Ann ($9,000): texts from Spring (20 days before) and a one-off (2 days before), an email
      from Summer (10 days before); also a text 40 days before (outside the window), one after
      the deal, one never sent and a conversational text - none of which count;
    - Bob ($5,000): no recovery message at all;
    - Cy ($3,000): one Summer email 5 days before."""
    tenant = make_tenant(session, timezone="America/Chicago", attribution_window_days=30)
    agent = make_user(session, tenant, full_name="Dana Agent")
    spring, summer = campaign(session, tenant, "Spring"), campaign(session, tenant, "Summer")
    ann = make_lead(
        session,
        tenant,
        source="zillow",
        assigned_user_id=agent.id,
        created_at=NOW - timedelta(days=45),
    )
    bob = make_lead(session, tenant, source="referral", created_at=NOW - timedelta(days=9))
    cy = make_lead(
        session,
        tenant,
        source="web_form",
        assigned_user_id=agent.id,
        created_at=NOW - timedelta(days=9),
    )
    sent(session, ann, 20, campaign=spring)
    sent(session, ann, 10, campaign=summer, channel=Channel.EMAIL)
    sent(session, ann, 2)
    sent(session, ann, 40, campaign=spring)
    sent(session, ann, -1, campaign=spring)
    sent(session, ann, 3, campaign=spring, sent_at=None)
    sent(session, ann, 1, category=MessageCategory.CONVERSATIONAL)
    sent(session, cy, 5, campaign=summer, channel=Channel.EMAIL)
    for lead, dollars in ((ann, 9000), (bob, 5000), (cy, 3000)):
        closed(session, lead, dollars, days_ago=0.01)
    return tenant, spring, summer


def revenue(slices: list[roi.Slice]) -> dict[str, int]:
    return {s.label: s.revenue_cents // 100 for s in slices if s.revenue_cents}


def test_first_touch_credits_the_earliest_message_in_the_window(session, office) -> None:
    tenant, *_ = office
    report = roi.report(
        session, viewer=manager_of(tenant), period=OCTOBER, model="first_touch", now=NOW
    )
    assert (report.revenue_cents, report.deals) == (12_000_00, 2)
    assert (report.closed_revenue_cents, report.closed_deals) == (17_000_00, 3)
    assert revenue(report.by_campaign) == {"Spring": 9000, "Summer": 3000}
    assert revenue(report.by_channel) == {"Text (SMS)": 9000, "Email": 3000}
    assert revenue(report.by_source) == {"zillow": 9000, "web_form": 3000}
    assert revenue(report.by_agent) == {"Dana Agent": 12000}


def test_last_touch_credits_the_latest_message_before_the_deal(session, office) -> None:
    tenant, *_ = office
    report = roi.report(
        session, viewer=manager_of(tenant), period=OCTOBER, model="last_touch", now=NOW
    )
    assert report.revenue_cents == 12_000_00
    assert revenue(report.by_campaign) == {roi.NO_CAMPAIGN: 9000, "Summer": 3000}
    assert revenue(report.by_channel) == {"Text (SMS)": 9000, "Email": 3000}


def test_linear_splits_each_deal_evenly_over_its_touches(session, office) -> None:
    tenant, *_ = office
    report = roi.report(session, viewer=manager_of(tenant), period=OCTOBER, model="linear", now=NOW)
    assert report.revenue_cents == 12_000_00
    assert revenue(report.by_campaign) == {"Summer": 6000, "Spring": 3000, roi.NO_CAMPAIGN: 3000}
    assert revenue(report.by_channel) == {"Text (SMS)": 6000, "Email": 6000}
    deals = {s.label: s.deals for s in report.by_campaign}
    assert deals == {"Summer": 1.33, "Spring": 0.33, roi.NO_CAMPAIGN: 0.33}
    # Source and agent get whole deals, whatever the model.
    assert revenue(report.by_source) == {"zillow": 9000, "web_form": 3000}


def test_a_shorter_window_and_a_range_that_misses_the_deals(session, office) -> None:
    tenant, *_ = office
    tenant.attribution_window_days = 7
    session.flush()
    report = roi.report(
        session, viewer=manager_of(tenant), period=OCTOBER, model="first_touch", now=NOW
    )
    # Ann's first touch inside 7 days is the one-off text; Cy's Summer email still counts.
    assert revenue(report.by_campaign) == {roi.NO_CAMPAIGN: 9000, "Summer": 3000}
    september = roi.Period(date(2026, 9, 1), date(2026, 9, 30))
    empty = roi.report(
        session, viewer=manager_of(tenant), period=september, model="linear", now=NOW
    )
    assert (empty.revenue_cents, empty.closed_deals, revenue(empty.by_campaign)) == (0, 0, {})
    # Spring's text of 40 days ago went out in September: a cost with nothing earned yet.
    assert [(s.label, s.sent) for s in empty.by_campaign] == [("Spring", 1)]


def test_costs_roi_and_cost_per_recovered_lead(session, office) -> None:
    tenant, spring, summer = office
    tenant.preferences = {"prices": {"agent_hourly_usd": 60}}
    lead = make_lead(session, tenant, source="zillow", created_at=NOW - timedelta(days=3))
    # Message costs as the dispatcher recorded them: 2 SMS segments at $0.0079, an email.
    sent(session, lead, 4, campaign=spring, segments=2, cost_microdollars=15_800)
    sent(session, lead, 3, campaign=summer, channel=Channel.EMAIL, cost_microdollars=1_000)
    sent(
        session,
        lead,
        2,
        category=MessageCategory.CONVERSATIONAL,
        segments=1,
        cost_microdollars=7_900,
    )
    session.add(
        AiDraft(
            tenant_id=tenant.id,
            cache_key="k",
            channel=Channel.SMS,
            model="claude",
            input_tokens=1000,
            output_tokens=200,
            cost_microdollars=6_000,
            created_at=NOW - timedelta(days=1),
        )
    )
    for minutes in (30, 15):
        session.add(
            Activity(
                tenant_id=tenant.id,
                lead_id=lead.id,
                kind=ActivityKind.CALL_LOGGED,
                occurred_at=NOW - timedelta(days=1),
                data={"outcome": "connected", "minutes": minutes, "note": ""},
            )
        )
    manager = manager_of(tenant)
    roi.update_roi_settings(session, viewer=manager, go_live_on=None, source_costs={"zillow": 25})
    session.add(
        DailyMetric(tenant_id=tenant.id, day=date(2026, 10, 20), recovered=3, went_silent=9)
    )
    session.flush()
    report = roi.report(session, viewer=manager, period=OCTOBER, model="last_touch", now=NOW)
    costs = report.costs
    # Every message with a cost counts (the fixture's messages have none), conversational too.
    assert (costs.sms_sent, costs.sms_segments, costs.sms_microdollars) == (5, 3, 23_700)
    assert (costs.emails_sent, costs.email_microdollars) == (3, 1_000)
    assert (costs.ai_calls, costs.ai_microdollars) == (1, 6_000)
    assert costs.call_minutes == 45 and costs.agent_microdollars == 45_000_000
    # Zillow leads created in October: this one (Ann came in September), $25 each.
    assert costs.sources == {"zillow": (1, 25.0)} and costs.source_microdollars == 25_000_000
    total = 23_700 + 1_000 + 6_000 + 45_000_000 + 25_000_000
    assert costs.total_microdollars == total
    assert report.roi == pytest.approx(12_000 / (total / 1e6))
    assert report.recovered == 3
    assert report.cost_per_recovered_cents == round(total / 10_000 / 3)
    spring_row = next(s for s in report.by_campaign if s.label == "Spring")
    # Spring in October: Ann's text of 20 days ago and this lead's.
    assert (spring_row.sent, spring_row.cost_microdollars, spring_row.revenue_cents) == (
        2,
        15_800,
        0,
    )


def test_recovery_rate_before_and_after_go_live(session) -> None:
    tenant = make_tenant(session, timezone="America/Chicago")
    manager = manager_of(tenant)
    for day, silent, recovered in (
        (date(2026, 8, 1), 10, 1),
        (date(2026, 9, 20), 10, 1),
        (date(2026, 10, 5), 8, 4),
        (date(2026, 10, 25), 12, 6),
    ):
        session.add(
            DailyMetric(tenant_id=tenant.id, day=day, went_silent=silent, recovered=recovered)
        )
    # Without a go-live date the first campaign's launch is the go-live.
    campaign(session, tenant, "First", launched_at=NOW - timedelta(days=30))
    session.flush()
    report = roi.report(session, viewer=manager, period=OCTOBER, model="linear", now=NOW)
    split = report.before_after
    assert (split.go_live, split.go_live_source) == (date(2026, 10, 2), "first campaign")
    assert split.before and (split.before.went_silent, split.before.recovered) == (20, 2)
    assert split.after and split.after.rate == pytest.approx(10 / 20)
    roi.update_roi_settings(session, viewer=manager, go_live_on=date(2026, 10, 10), source_costs={})
    split = roi.report(
        session, viewer=manager, period=OCTOBER, model="linear", now=NOW
    ).before_after
    assert split.go_live_source == "set"
    assert split.before and split.before.rate == pytest.approx(6 / 28)
    assert split.after and (split.after.went_silent, split.after.recovered) == (12, 6)


def test_only_managers_see_roi_and_bad_input_is_refused(session, office) -> None:
    tenant, *_ = office
    agent = make_user(session, tenant, role=Role.AGENT)
    with pytest.raises(Forbidden):
        roi.report(session, viewer=viewer_for(agent), period=OCTOBER, model="linear", now=NOW)
    with pytest.raises(Forbidden):
        roi.update_roi_settings(session, viewer=viewer_for(agent), go_live_on=None, source_costs={})
    manager = manager_of(tenant)
    with pytest.raises(ValidationFailed):
        roi.report(session, viewer=manager, period=OCTOBER, model="u_shaped", now=NOW)
    with pytest.raises(ValidationFailed):
        backwards = roi.Period(date(2026, 10, 2), date(2026, 10, 1))
        roi.report(session, viewer=manager, period=backwards, model="linear", now=NOW)
    with pytest.raises(ValidationFailed):
        roi.update_roi_settings(session, viewer=manager, go_live_on=None, source_costs={"x": -1})
    # Another office's deals never show.
    other = make_tenant(session)
    report = roi.report(session, viewer=manager_of(other), period=OCTOBER, model="linear", now=NOW)
    assert report.closed_deals == 0


@pytest.mark.parametrize("model", list(roi.MODELS))
def test_attribution_matches_a_brute_force_computation(session, model: str) -> None:
    rng = random.Random(8)
    tenant = make_tenant(session, timezone="UTC", attribution_window_days=14)
    campaigns = [campaign(session, tenant, f"C{i}") for i in range(3)]
    touches: dict[int, list[tuple]] = {}
    deals = []
    for _ in range(25):
        lead = make_lead(session, tenant)
        mine = []
        for _ in range(rng.randint(0, 5)):
            chosen = rng.choice([*campaigns, None])
            message = sent(
                session,
                lead,
                rng.uniform(0, 30),
                campaign=chosen,
                channel=rng.choice([Channel.SMS, Channel.EMAIL]),
            )
            mine.append((message.sent_at, message.id, chosen.name if chosen else roi.NO_CAMPAIGN))
        if rng.random() < 0.8:
            deal = closed(session, lead, rng.randint(1, 500) * 10, days_ago=rng.uniform(0, 10))
            deals.append(deal)
            touches[deal.id] = mine
    expected: dict[str, float] = {}
    for deal in deals:
        window = [
            t
            for t in touches[deal.id]
            if deal.closed_at - timedelta(days=14) <= t[0] <= deal.closed_at
        ]
        window.sort()
        if not window:
            continue
        if model == "linear":
            for _, _, name in window:
                expected[name] = expected.get(name, 0) + deal.value_cents / len(window)
        else:
            name = (window[0] if model == "first_touch" else window[-1])[2]
            expected[name] = expected.get(name, 0) + deal.value_cents
    report = roi.report(session, viewer=manager_of(tenant), period=OCTOBER, model=model, now=NOW)
    got = {s.label: s.revenue_cents for s in report.by_campaign if s.revenue_cents}
    assert got == {name: round(cents) for name, cents in expected.items() if round(cents)}
    assert report.revenue_cents == round(sum(expected.values()))


def test_costs_from_the_daily_rollup_equal_those_from_the_messages(session) -> None:
    """ROI reads the days the rollup holds for good from `daily_message_costs` and the rest
    from the messages; either way every figure is the same."""
    rng = random.Random(3)
    tenant = make_tenant(session, timezone="America/Chicago")
    campaigns = [campaign(session, tenant, f"C{i}") for i in range(3)]
    for _ in range(12):
        lead = make_lead(session, tenant, created_at=NOW - timedelta(days=60))
        for _ in range(rng.randint(1, 8)):
            channel = rng.choice([Channel.SMS, Channel.EMAIL])
            sent(
                session,
                lead,
                rng.uniform(0, 40),  # some before October, some on the days not yet final
                campaign=rng.choice([*campaigns, None]),
                channel=channel,
                category=rng.choice([MessageCategory.MARKETING, MessageCategory.CONVERSATIONAL]),
                segments=rng.randint(1, 3) if channel == Channel.SMS else 0,
                cost_microdollars=rng.randint(0, 30_000),
            )
    manager = manager_of(tenant)

    def figures() -> tuple:
        report = roi.report(session, viewer=manager, period=OCTOBER, model="linear", now=NOW)
        tables = [(s.key, s.sent, s.cost_microdollars) for s in report.by_campaign]
        channels = [(s.key, s.sent, s.cost_microdollars) for s in report.by_channel]
        return report.costs, sorted(tables), sorted(channels)

    live = figures()
    assert live[0].sms_sent > 0 and live[0].emails_sent > 0
    for back in range(45):
        rollup.rebuild_day(session, tenant, date(2026, 11, 1) - timedelta(days=back), now=NOW)
    session.flush()
    # Rolled after it ended, Oct 31 is final; Nov 1 (today) is read from the messages.
    assert roi._rolled_span(session, tenant, OCTOBER, date(2026, 11, 1)) == (
        date(2026, 10, 1),
        date(2026, 10, 31),
    )
    assert figures() == live
    # Yesterday rolled before it ended (messages may have gone out since): read live too.
    rollup.rebuild_day(session, tenant, date(2026, 10, 31), now=NOW - timedelta(hours=20))
    assert roi._rolled_span(session, tenant, OCTOBER, date(2026, 11, 1)) == (
        date(2026, 10, 1),
        date(2026, 10, 30),
    )
    assert figures() == live
    # A day the rollup lost (the job was down): the whole period is read from the messages.
    session.execute(
        delete(DailyMessageCost).where(
            col(DailyMessageCost.tenant_id) == tenant.id,
            col(DailyMessageCost.day) == date(2026, 10, 12),
        )
    )
    assert roi._rolled_span(session, tenant, OCTOBER, date(2026, 11, 1)) is None
    assert figures() == live
    # ... and the next run of the job rebuilds it.
    assert date(2026, 10, 12) in rollup.days_to_roll(session, tenant, NOW)
