"""The dashboard snapshot on SQLite and PostgreSQL: each figure from its source rows, the
funnel, the feed, what an agent and a manager see, and one computation shared by every
open dashboard of an office."""

import dataclasses
import itertools
from datetime import timedelta

import pytest
from sqlalchemy import text

from recovery_app.domain.metrics import dashboard
from recovery_app.messaging.outbox import PAUSED_HOLD
from recovery_app.models import (
    Activity,
    ActivityKind,
    Channel,
    Direction,
    LeadStatus,
    Message,
    MessageStatus,
)
from tests.factories import NOW, make_lead, make_tenant, make_user, manager_of, viewer_for

_keys = itertools.count(1)


def outbound(session, lead, **fields) -> None:
    session.add(
        Message(
            tenant_id=lead.tenant_id,
            lead_id=lead.id,
            channel=Channel.SMS,
            direction=Direction.OUTBOUND,
            body="Hi",
            idempotency_key=f"dash:{next(_keys)}",
            **fields,
        )
    )


def changed(session, lead, to: str, at) -> None:
    session.add(
        Activity(
            tenant_id=lead.tenant_id,
            lead_id=lead.id,
            kind=ActivityKind.STATUS_CHANGED,
            occurred_at=at,
            data={"from": "contacted", "to": to},
        )
    )


def test_figures_funnel_and_feed(session) -> None:
    # Chicago: NOW (15:00 UTC) is 09:00 on Sunday Nov 1, the week began Monday Oct 26.
    tenant = make_tenant(session, timezone="America/Chicago")
    ana, ben = (
        make_user(session, tenant, full_name="Ana"),
        make_user(session, tenant, full_name="Ben"),
    )
    fresh = make_lead(
        session,
        tenant,
        first_name="Maria",
        last_name="Lopez",
        assigned_user_id=ana.id,
        created_at=NOW - timedelta(hours=1),
        first_response_at=NOW - timedelta(hours=1) + timedelta(seconds=12),
        last_outbound_at=NOW - timedelta(hours=1),
    )
    make_lead(session, tenant, assigned_user_id=ben.id, created_at=NOW - timedelta(hours=2))
    make_lead(session, tenant, created_at=NOW - timedelta(hours=20))  # yesterday in Chicago
    silent = make_lead(
        session,
        tenant,
        assigned_user_id=ben.id,
        status=LeadStatus.SILENT,
        created_at=NOW - timedelta(days=5),
        last_outbound_at=NOW - timedelta(days=3),
    )
    waiting = make_lead(
        session,
        tenant,
        assigned_user_id=ana.id,
        status=LeadStatus.RECOVERED,
        created_at=NOW - timedelta(days=10),
        inbound_count=1,
        last_outbound_at=NOW - timedelta(days=4),
        last_inbound_at=NOW - timedelta(hours=3),
    )
    changed(session, silent, "silent", NOW - timedelta(days=1))
    changed(session, waiting, "silent", NOW - timedelta(days=6))
    changed(session, waiting, "recovered", NOW - timedelta(hours=3))
    outbound(session, fresh, status=MessageStatus.QUEUED, hold_reason="Quiet hours until 08:00")
    outbound(session, fresh, status=MessageStatus.QUEUED, hold_reason=PAUSED_HOLD)
    outbound(session, silent, status=MessageStatus.FAILED, failed_at=NOW - timedelta(hours=1))
    session.add(
        Activity(
            tenant_id=tenant.id,
            lead_id=fresh.id,
            kind=ActivityKind.FORM_SUBMITTED,
            occurred_at=NOW - timedelta(hours=1),
        )
    )
    session.flush()

    snapshot = dashboard.compute_snapshot(session, tenant.id, NOW)

    office = snapshot.office
    assert (office.new_today, office.responded_today, office.speed_p50_seconds) == (2, 1, 12)
    assert (office.silent_now, office.replies_waiting, office.held, office.failed_today) == (
        1,
        1,
        1,
        1,
    )
    assert (office.recovered_week, office.recovered_30d, office.went_silent_30d) == (1, 1, 2)
    assert office.recovery_rate == 0.5
    assert dict(snapshot.funnel) == {
        "New": 5,
        "Contacted": 3,
        "Engaged": 1,
        "Went silent": 2,
        "Recovered": 1,
        "Converted": 0,
    }
    names = {lead.id: f"{lead.first_name} {lead.last_name}" for lead in (silent, waiting)}
    assert [item.text for item in snapshot.feed] == [
        "Form from Maria Lopez",
        f"{names[waiting.id]}: recovered",
        f"{names[silent.id]}: silent",
        f"{names[waiting.id]}: silent",
    ]
    by_name = {a.name: a.figures for a in snapshot.agents}
    assert (by_name["Ana"].new_today, by_name["Ana"].replies_waiting) == (1, 1)
    assert (by_name["Ben"].new_today, by_name["Ben"].silent_now) == (1, 1)

    manager = dashboard.view_for(snapshot, manager_of(tenant))
    assert manager.figures == office and [a.name for a in manager.agents] == ["Ana", "Ben"]
    mine = dashboard.view_for(snapshot, viewer_for(ana))
    assert mine.agents == [] and mine.figures == by_name["Ana"]
    assert {item.lead_id for item in mine.feed} <= {fresh.id, waiting.id}
    assert dict(mine.funnel)["New"] == 2


def test_every_dashboard_of_an_office_shares_one_computation() -> None:
    moments = iter([0.0, 0.2, 0.5, 0.9, 1.3, 1.4])
    cache = dashboard.SnapshotCache(ttl=1.0, clock=lambda: next(moments))
    computed: list[int] = []
    given: list[object] = []

    def compute(tenant_id: int):
        def run(previous):
            computed.append(tenant_id)
            given.append(previous)
            return f"snapshot {len(computed)}"

        return run

    first = [cache.get(1, compute(1)) for _ in range(3)]  # at 0.0 (+ store), 0.2, 0.5
    later = cache.get(1, compute(1))  # at 0.9 from the entry stored at 0.2: still fresh
    expired = cache.get(1, compute(1))  # at 1.3: recomputed, stored at 1.4

    assert first == ["snapshot 1"] * 3 and later == "snapshot 1"
    assert expired == "snapshot 2" and computed == [1, 1]
    assert given == [None, "snapshot 1"]  # a recomputation sees the snapshot it replaces


def test_the_funnel_is_recounted_once_a_minute(session) -> None:
    """The 90-day funnel (the costly part) is reused from the previous snapshot for up to
    FUNNEL_MAX_AGE; the figures and the feed are fresh every time."""
    tenant = make_tenant(session)
    make_lead(session, tenant, created_at=NOW - timedelta(days=1))
    first = dashboard.compute_snapshot(session, tenant.id, NOW)
    make_lead(session, tenant, status=LeadStatus.SILENT, created_at=NOW - timedelta(hours=1))
    soon = NOW + timedelta(seconds=30)
    reused = dashboard.compute_snapshot(session, tenant.id, soon, previous=first)
    assert dict(reused.funnel)["New"] == 1 and reused.funnel_at == NOW
    assert reused.office.silent_now == 1  # the figures moved
    later = NOW + dashboard.FUNNEL_MAX_AGE
    recounted = dashboard.compute_snapshot(session, tenant.id, later, previous=reused)
    assert dict(recounted.funnel)["New"] == 2 and recounted.funnel_at == later


def test_status_changes_counted_with_the_funnel_stay_live(session) -> None:
    """The week's and 30 days' silent/recovered counts are counted with the funnel and reused
    with it; what changed since is added on every snapshot, never twice."""
    tenant = make_tenant(session, timezone="America/Chicago")  # NOW: Sunday 09:00 in Chicago
    agent = make_user(session, tenant, full_name="Ana")
    lead = make_lead(session, tenant, assigned_user_id=agent.id)
    changed(session, lead, "silent", NOW - timedelta(days=10))
    changed(session, lead, "recovered", NOW - timedelta(days=2))
    session.flush()
    first = dashboard.compute_snapshot(session, tenant.id, NOW)
    assert (first.office.recovered_week, first.office.went_silent_30d) == (1, 1)

    changed(session, lead, "silent", NOW + timedelta(seconds=5))
    changed(session, lead, "recovered", NOW + timedelta(seconds=10))
    session.flush()
    soon = dashboard.compute_snapshot(session, tenant.id, NOW + timedelta(seconds=20), first)
    assert soon.changes is first.changes  # not recounted...
    office = soon.office
    assert (office.recovered_week, office.recovered_30d, office.went_silent_30d) == (2, 2, 2)
    mine = {a.name: a.figures for a in soon.agents}["Ana"]
    assert (mine.recovered_week, mine.recovered_30d) == (2, 2)  # ...but live, per agent too
    again = dashboard.compute_snapshot(session, tenant.id, NOW + timedelta(seconds=40), soon)
    assert again.office == office  # the added rows are not added twice

    # A new week (Monday 00:00 in Chicago, 15 hours after NOW) recounts at once: the week's
    # recoveries start again from nothing.
    monday = NOW + timedelta(hours=15, seconds=1)
    soon_monday = dashboard.compute_snapshot(
        session, tenant.id, monday, dataclasses.replace(again, funnel_at=monday)
    )
    assert soon_monday.changes is not None and soon_monday.changes.until == monday
    assert (soon_monday.office.recovered_week, soon_monday.office.recovered_30d) == (0, 2)


def test_the_snapshot_plans_its_queries_for_their_values(session) -> None:
    # PostgreSQL's generic plans for its months-long ranges were twice as slow (see
    # db.plan_for_these_values); the setting lasts for the snapshot's transaction only.
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("a PostgreSQL planner setting")
    tenant = make_tenant(session)
    dashboard.compute_snapshot(session, tenant.id, NOW)
    assert session.execute(text("SHOW plan_cache_mode")).scalar_one() == "force_custom_plan"
