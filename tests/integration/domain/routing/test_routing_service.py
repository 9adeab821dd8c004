from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from recovery_app.db import session_scope
from recovery_app.domain.routing import service as routing
from recovery_app.errors import Conflict, Forbidden
from recovery_app.models import LeadOffer, LeadStatus, Notification, Role, Temperature, User
from tests.factories import make_lead, make_tenant, make_user, viewer_for

# Monday 2 November 2026, 11:00 in Chicago.
MONDAY_11 = datetime(2026, 11, 2, 17, 0, tzinfo=UTC)
HOURS = {day: ["09:00", "17:00"] for day in ("mon", "tue", "wed", "thu", "fri")}


@pytest.fixture
def office(session):
    tenant = make_tenant(session, timezone="America/Chicago")
    agents = [
        make_user(
            session,
            tenant,
            role=Role.AGENT,
            full_name=f"Agent {n}",
            timezone="America/Chicago",
            working_hours=HOURS,
            capacity=5,
        )
        for n in range(3)
    ]
    manager = make_user(session, tenant, role=Role.MANAGER)
    return tenant, agents, manager


def new_lead(session, tenant, **fields):
    return make_lead(session, tenant, assigned_user_id=None, status=LeadStatus.NEW, **fields)


def notes(session, user, kind) -> int:
    return session.execute(
        select(func.count())
        .select_from(Notification)
        .where(Notification.user_id == user.id, Notification.kind == kind)
    ).scalar_one()


def test_round_robin_takes_turns(session, office) -> None:
    tenant, agents, _ = office
    got = [
        routing.route(
            session,
            lead=new_lead(session, tenant),
            tenant=tenant,
            now=MONDAY_11 + timedelta(minutes=n),
        )
        for n in range(6)
    ]
    assert [u.id for u in got] == [a.id for a in agents] * 2
    assert all(notes(session, a, "assigned") == 2 for a in agents)


def test_the_round_robin_time_is_written_when_the_transaction_commits(app_database) -> None:
    # A real commit (the `session` fixture's commits are savepoints, which SQLite mishandles).
    with session_scope() as session:
        tenant = make_tenant(session, timezone="America/Chicago")
        agent_id = make_user(session, tenant, role=Role.AGENT, working_hours=HOURS).id
        lead = new_lead(session, tenant)
    stored = select(User.last_assigned_at).where(User.id == agent_id)
    with session_scope() as session:
        best = routing.route(
            session, lead=session.merge(lead), tenant=session.merge(tenant), now=MONDAY_11
        )
        assert best is not None and best.last_assigned_at == MONDAY_11  # seen at once in memory
        session.flush()
        assert session.execute(stored).scalar_one() is None  # the row is not locked meanwhile
    with session_scope() as session:
        assert session.execute(stored).scalar_one().replace(tzinfo=UTC) == MONDAY_11


def test_capacity_working_hours_and_activity_are_respected(session, office) -> None:
    tenant, agents, _ = office
    for _ in range(5):
        make_lead(session, tenant, assigned_user_id=agents[0].id, status=LeadStatus.ENGAGED)
    make_lead(
        session, tenant, assigned_user_id=agents[0].id, status=LeadStatus.CONVERTED
    )  # closed: not counted
    agents[1].active = False
    agents[2].working_hours = {"sat": ["09:00", "12:00"]}
    assert (
        routing.route(session, lead=new_lead(session, tenant), tenant=tenant, now=MONDAY_11) is None
    )
    agents[2].working_hours = {}  # no hours set: always available
    assert (
        routing.route(session, lead=new_lead(session, tenant), tenant=tenant, now=MONDAY_11).id
        == agents[2].id
    )


def test_nobody_available_tells_the_managers(session, office) -> None:
    tenant, _, manager = office
    lead = new_lead(session, tenant)
    assert (
        routing.route(session, lead=lead, tenant=tenant, now=MONDAY_11 + timedelta(hours=8)) is None
    )  # 19:00
    assert lead.assigned_user_id is None and notes(session, manager, "unrouted") == 1


def test_specialty_match_comes_first(session, office) -> None:
    tenant, agents, _ = office
    agents[2].specialties = ["sellers"]
    lead = new_lead(session, tenant, message="Thinking about selling my house in Zilker")
    assert routing.lead_needs(lead) == {"sellers"}
    assert routing.route(session, lead=lead, tenant=tenant, now=MONDAY_11).id == agents[2].id
    assert routing.lead_needs(new_lead(session, tenant, est_value_cents=150_000_000)) == {"luxury"}


def test_hot_leads_go_to_the_fastest_responder(session, office) -> None:
    tenant, agents, _ = office
    for agent, minutes in ((agents[0], 90), (agents[1], 4), (agents[2], 30)):
        created = MONDAY_11 - timedelta(days=2)
        make_lead(
            session,
            tenant,
            assigned_user_id=agent.id,
            status=LeadStatus.CONVERTED,
            created_at=created,
            first_human_touch_at=created + timedelta(minutes=minutes),
        )
    hot = new_lead(session, tenant, score=85)
    assert hot.temperature == Temperature.HOT
    assert routing.route(session, lead=hot, tenant=tenant, now=MONDAY_11).id == agents[1].id


def test_first_to_claim(session, office) -> None:
    tenant, agents, _ = office
    tenant.routing_mode, tenant.claim_window_minutes = "first_to_claim", 5
    lead = new_lead(session, tenant)
    assert routing.route(session, lead=lead, tenant=tenant, now=MONDAY_11) is None
    offers = session.execute(select(LeadOffer)).scalars().all()
    assert {o.user_id for o in offers} == {a.id for a in agents} and all(
        notes(session, a, "offer") for a in agents
    )
    routing.claim(
        session, viewer=viewer_for(agents[1]), lead_id=lead.id, now=MONDAY_11 + timedelta(minutes=1)
    )
    assert lead.assigned_user_id == agents[1].id and lead.first_human_touch_at is not None
    with pytest.raises(Conflict, match="Agent 1 already claimed"):
        routing.claim(
            session,
            viewer=viewer_for(agents[2]),
            lead_id=lead.id,
            now=MONDAY_11 + timedelta(minutes=2),
        )
    statuses = {o.user_id: o.status for o in session.execute(select(LeadOffer)).scalars()}
    assert statuses[agents[1].id] == "claimed" and statuses[agents[0].id] == "lost"
    with pytest.raises(Forbidden):
        routing.claim(session, viewer=viewer_for(office[2]), lead_id=lead.id, now=MONDAY_11)


def test_unclaimed_offers_fall_back_to_round_robin(session, office) -> None:
    tenant, _, _ = office
    tenant.routing_mode = "first_to_claim"
    lead = new_lead(session, tenant)
    routing.route(session, lead=lead, tenant=tenant, now=MONDAY_11)
    assert routing.expire_offers(session, now=MONDAY_11 + timedelta(minutes=4)) == 0
    assert routing.expire_offers(session, now=MONDAY_11 + timedelta(minutes=6)) == 1
    assert lead.assigned_user_id is not None


def test_untouched_hot_leads_are_escalated_once(session, office) -> None:
    tenant, agents, manager = office
    tenant.escalate_after_hours = 24
    stale = make_lead(
        session,
        tenant,
        score=90,
        assigned_user_id=agents[0].id,
        created_at=MONDAY_11 - timedelta(hours=25),
    )
    make_lead(
        session, tenant, score=90, created_at=MONDAY_11 - timedelta(hours=2)
    )  # still within the window
    make_lead(
        session,
        tenant,
        score=90,
        created_at=MONDAY_11 - timedelta(hours=30),
        first_human_touch_at=MONDAY_11 - timedelta(hours=29),
    )  # a person already acted
    make_lead(session, tenant, score=20, created_at=MONDAY_11 - timedelta(hours=30))  # not hot
    assert routing.escalate_untouched_hot_leads(session, now=MONDAY_11) == 1
    assert stale.escalated_at == MONDAY_11 and notes(session, manager, "escalation") == 1
    assert routing.escalate_untouched_hot_leads(session, now=MONDAY_11 + timedelta(hours=1)) == 0
