"""The Scoring page's numbers on SQLite and PostgreSQL: the heatmap against a brute-force count
of random leads, reply rates in the lead's local time, the suggested send window, the factor
effects and the call list."""

import itertools
import random
from collections import Counter
from datetime import timedelta

import pytest

from recovery_app.domain.scoring import insights
from recovery_app.errors import ValidationFailed
from recovery_app.models import Channel, Direction, LeadStatus, Message, MessageStatus
from tests.factories import NOW, make_lead, make_tenant, make_user, manager_of, viewer_for

_keys = itertools.count(1)


def band_of(score: int) -> str:
    return next(label for label, low, high in insights.BANDS if low <= score <= high)


def silent_bucket_of(days: float) -> str:
    return next(
        label
        for label, low, high in insights.SILENT_BUCKETS
        if days >= low and (high is None or days < high)
    )


def test_heatmap_matches_a_brute_force_count(session) -> None:
    rng = random.Random(7)
    tenant = make_tenant(session)
    agents = [make_user(session, tenant, full_name=f"Agent {n}") for n in range(3)]
    manager = manager_of(tenant)
    leads = []
    for _ in range(150):
        status = rng.choice(
            [LeadStatus.CONTACTED, LeadStatus.SILENT, LeadStatus.SILENT, LeadStatus.LOST]
        )
        days = rng.uniform(0, 120)
        leads.append(
            make_lead(
                session,
                tenant,
                score=rng.randint(0, 100),
                source=rng.choice(["web_form", "referral", "portal"]),
                status=status,
                assigned_user_id=rng.choice([None, *(a.id for a in agents)]),
                last_outbound_at=NOW - timedelta(days=days),
            )
        )
    make_lead(session, make_tenant(session), score=50)  # another office: never counted
    open_leads = [lead for lead in leads if lead.status != LeadStatus.LOST]
    names = {a.id: a.full_name for a in agents} | {None: insights.UNASSIGNED}

    expected = {
        "source": Counter((lead.source, band_of(lead.score)) for lead in open_leads),
        "temperature": Counter((lead.temperature, band_of(lead.score)) for lead in open_leads),
        "agent": Counter(
            (names[lead.assigned_user_id], band_of(lead.score)) for lead in open_leads
        ),
        "days_silent": Counter(
            (
                silent_bucket_of((NOW - lead.last_outbound_at).total_seconds() / 86400),
                band_of(lead.score),
            )
            for lead in open_leads
            if lead.status == LeadStatus.SILENT
        ),
    }
    for axis, counts in expected.items():
        heat = insights.heatmap(session, viewer=manager, axis=axis, now=NOW)
        got = Counter({(c.x, c.band): c.count for c in heat.cells if c.count})
        assert got == counts, axis
        assert heat.total == sum(counts.values())
        assert len(heat.cells) == len(heat.columns) * len(insights.BANDS)


def test_heatmap_cells_carry_the_leads_page_filters(session) -> None:
    tenant = make_tenant(session)
    ana = make_user(session, tenant, full_name="Ana")
    make_lead(session, tenant, score=45, source="referral", assigned_user_id=ana.id)
    manager = manager_of(tenant)
    heat = insights.heatmap(session, viewer=manager, axis="source", now=NOW)
    cell = next(c for c in heat.cells if c.count)
    assert cell.filters == {"source": "referral", "open": "1", "min_score": "40", "max_score": "59"}
    by_agent = insights.heatmap(session, viewer=manager, axis="agent", now=NOW)
    assert next(c for c in by_agent.cells if c.count).filters["agent"] == str(ana.id)
    silent = insights.heatmap(session, viewer=manager, axis="days_silent", now=NOW)
    assert silent.cells[0].filters["silent_max_hours"] == "72"
    with pytest.raises(ValidationFailed):
        insights.heatmap(session, viewer=manager, axis="nope", now=NOW)


def test_agents_see_their_own_leads_in_the_heatmap(session) -> None:
    tenant = make_tenant(session, agent_pool_visible=False)
    ana, ben = make_user(session, tenant), make_user(session, tenant)
    make_lead(session, tenant, assigned_user_id=ana.id)
    make_lead(session, tenant, assigned_user_id=ben.id)
    make_lead(session, tenant, assigned_user_id=ben.id)
    heat = insights.heatmap(session, viewer=viewer_for(ana, tenant), axis="source", now=NOW)
    assert heat.total == 1


def sent(session, lead, at, *, replied: bool, channel=Channel.SMS) -> None:
    session.add(
        Message(
            tenant_id=lead.tenant_id,
            lead_id=lead.id,
            channel=channel,
            direction=Direction.OUTBOUND,
            status=MessageStatus.DELIVERED,
            body="Hi",
            idempotency_key=f"insight:{next(_keys)}",
            created_at=at,
            updated_at=at,
            sent_at=at,
            replied_at=at + timedelta(minutes=5) if replied else None,
        )
    )


def test_reply_rates_are_counted_in_the_leads_local_time(session) -> None:
    tenant = make_tenant(session, timezone="America/Chicago")
    chicago = make_lead(session, tenant, timezone="America/Chicago")
    office_default = make_lead(session, tenant, timezone=None)  # the office's zone
    tokyo = make_lead(session, tenant, timezone="Asia/Tokyo")
    # NOW is Sunday 2026-11-01 15:00 UTC, after the DST change: 09:00 in Chicago.
    sent(session, chicago, NOW, replied=True)
    sent(session, office_default, NOW, replied=False)
    sent(session, tokyo, NOW, replied=True)  # Monday 00:00 in Tokyo
    # A week earlier Chicago was on daylight time: 15:00 UTC was 10:00 there.
    sent(session, chicago, NOW - timedelta(days=7), replied=True)
    sent(session, chicago, NOW - timedelta(days=200), replied=True)  # outside 90 days
    session.flush()
    grid = insights.response_grid(session, viewer=manager_of(tenant), now=NOW)
    sunday, monday = 6, 0
    assert (grid.sends[sunday][9], grid.replies[sunday][9]) == (2, 1)
    assert (grid.sends[sunday][10], grid.replies[sunday][10]) == (1, 1)
    assert (grid.sends[monday][0], grid.replies[monday][0]) == (1, 1)
    assert grid.total_sends == 4
    email_only = insights.response_grid(
        session, viewer=manager_of(tenant), now=NOW, channel="email"
    )
    assert email_only.total_sends == 0


def test_the_best_window_is_the_slot_that_answers_most() -> None:
    grid = insights.ResponseGrid()
    for day in range(7):
        for hour in range(8, 21):
            grid.add(day, hour, 20, 2)  # 10 % everywhere
    for day in (1, 2, 3):  # Tue-Thu 17:00-19:00 answer five times as often
        grid.add(day, 17, 20, 18)
        grid.add(day, 18, 20, 18)
    window = insights.best_window(grid)
    assert window is not None
    assert (window.days, window.start_hour, window.end_hour) == ([1, 2, 3], 17, 19)
    assert window.label == "Tue-Thu 17:00-19:00"
    assert window.reply_rate == pytest.approx(120 / 240)  # (2 + 18) of (20 + 20) a cell
    assert window.reply_rate > window.baseline_rate


def test_no_window_without_enough_sends() -> None:
    grid = insights.ResponseGrid()
    grid.add(2, 18, 5, 5)
    assert insights.best_window(grid) is None
    assert insights._days_label([0, 2, 4]) == "Mon, Wed, Fri"
    assert insights._days_label([0, 1, 5, 6]) == "Mon, Tue, Sat, Sun"


def test_factor_effects_average_the_stored_factors(session) -> None:
    tenant = make_tenant(session)
    make_lead(
        session,
        tenant,
        score_factors=[{"factor": "source", "points": 20}, {"factor": "silence", "points": -10}],
    )
    make_lead(session, tenant, score_factors=[{"factor": "source", "points": 10}])
    make_lead(
        session,
        tenant,
        status=LeadStatus.LOST,
        score_factors=[{"factor": "source", "points": 99}],
    )
    effects = {e.factor: e for e in insights.factor_effects(session, viewer=manager_of(tenant))}
    assert (effects["source"].leads, effects["source"].average_points) == (2, 15.0)
    assert effects["silence"].average_points == -10.0
    assert effects["source"].weight > 0


def test_the_call_list_ranks_score_recency_and_untouched(session) -> None:
    tenant = make_tenant(session)
    manager = manager_of(tenant)
    fresh = make_lead(session, tenant, score=60, last_inbound_at=NOW - timedelta(hours=1))
    stale_high = make_lead(session, tenant, score=90, last_inbound_at=NOW - timedelta(days=6))
    touched = make_lead(
        session,
        tenant,
        score=60,
        last_inbound_at=NOW - timedelta(hours=1),
        first_human_touch_at=NOW - timedelta(hours=2),
    )
    make_lead(session, tenant, score=99, phone=None)  # cannot be called
    make_lead(session, tenant, score=99, status=LeadStatus.CONVERTED)
    make_lead(session, tenant, score=99, last_outbound_at=NOW - timedelta(hours=1))  # just written
    calls = insights.priority_queue(session, viewer=manager, now=NOW)
    assert [c.id for c in calls] == [fresh.id, touched.id, stale_high.id]
    assert calls[0].worth == pytest.approx(60 * 24 / 25, abs=0.2)
    assert calls[1].touched and not calls[0].touched


@pytest.mark.parametrize("spread_days", [2, 400])
def test_the_call_list_matches_a_brute_force_ranking(session, spread_days: int) -> None:
    """The call list looks back a day first and widens only as far as an older lead could
    still make the list: the result is the exact top 20 of every open lead, whether the best
    leads are all recent (2 days) or spread over more than a year (400 days)."""
    rng = random.Random(spread_days)
    tenant = make_tenant(session)
    agent = make_user(session, tenant)
    leads = []
    for _ in range(120):
        inbound = rng.random() < 0.5
        reached = NOW - timedelta(hours=rng.uniform(-2, spread_days * 24))
        lead = make_lead(
            session,
            tenant,
            score=rng.randint(0, 100),
            status=rng.choice([LeadStatus.NEW, LeadStatus.SILENT, LeadStatus.LOST]),
            phone=None if rng.random() < 0.1 else f"+1512{rng.randint(2000000, 9999999)}",
            assigned_user_id=rng.choice([agent.id, None]),
            created_at=reached - timedelta(hours=1) if inbound else reached,
            last_inbound_at=reached if inbound else None,
            first_human_touch_at=NOW - timedelta(days=1) if rng.random() < 0.3 else None,
            last_outbound_at=NOW - timedelta(hours=rng.choice([1, 10])),
        )
        leads.append(lead)

    def worth(lead) -> float:
        reached = lead.last_inbound_at or lead.created_at
        hours = max((NOW - reached).total_seconds() / 3600, 0)
        return lead.score * 24 / (24 + hours) * (0.6 if lead.first_human_touch_at else 1.0)

    for viewer in (manager_of(tenant), viewer_for(agent)):
        callable_ = [
            lead
            for lead in leads
            if lead.status != LeadStatus.LOST
            and lead.phone
            and lead.last_outbound_at < NOW - timedelta(hours=4)
            and (viewer.is_manager or lead.assigned_user_id in (agent.id, None))
        ]
        expected = sorted(callable_, key=lambda lead: (-worth(lead), -lead.id))[:20]
        got = insights.priority_queue(session, viewer=viewer, now=NOW)
        assert [c.id for c in got] == [lead.id for lead in expected]
        assert [c.worth for c in got] == pytest.approx([worth(x) for x in expected], abs=0.06)
