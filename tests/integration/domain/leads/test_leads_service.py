from datetime import timedelta

import pytest

from recovery_app.domain.leads import service
from recovery_app.domain.leads.schemas import LeadQuery
from recovery_app.errors import ValidationFailed
from recovery_app.models import LeadStatus, Temperature
from tests.factories import NOW, make_lead, make_tenant, make_user, manager_of


@pytest.fixture
def office(session):
    tenant = make_tenant(session)
    other = make_tenant(session)
    agent = make_user(session, tenant, full_name="Ana Agent")
    leads = [
        make_lead(
            session,
            tenant,
            first_name="Maria",
            last_name="Lopez",
            email="maria@example.com",
            phone="+15125550101",
            score=85,
            status=LeadStatus.ENGAGED,
            source="referral",
            assigned_user_id=agent.id,
            last_activity_at=NOW - timedelta(minutes=5),
        ),
        make_lead(
            session,
            tenant,
            first_name="John",
            last_name="Smith",
            email="jsmith@example.net",
            phone="+13035550199",
            score=45,
            status=LeadStatus.SILENT,
            source="portal",
            last_activity_at=NOW - timedelta(days=3),
        ),
        make_lead(
            session,
            tenant,
            first_name="Wei",
            last_name="Chen",
            email=None,
            phone="+12065550123",
            score=20,
            status=LeadStatus.SILENT,
            source="portal",
            assigned_user_id=agent.id,
            last_activity_at=NOW - timedelta(days=9),
        ),
    ]
    # Another tenant's lead with a matching name must never show up.
    make_lead(session, other, first_name="Maria", last_name="Lopez", score=99)
    return tenant, agent, leads


def ids(page) -> list[int]:
    return [item.id for item in page.items]


def test_lists_only_the_tenants_leads_most_recent_first(session, office) -> None:
    tenant, _, leads = office
    page = service.list_leads(session, viewer=manager_of(tenant), now=NOW, query=LeadQuery())
    assert page.total == 3
    assert ids(page) == [leads[0].id, leads[1].id, leads[2].id]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (LeadQuery(status=LeadStatus.SILENT), [1, 2]),
        (LeadQuery(temperature=Temperature.HOT), [0]),
        (LeadQuery(source="portal"), [1, 2]),
        (LeadQuery(assigned_user_id=0), [1]),
        (LeadQuery(text="maria"), [0]),
        (LeadQuery(text="LOPEZ"), [0]),
        (LeadQuery(text="maria lo"), [0]),
        (LeadQuery(text="example.net"), [1]),
        (LeadQuery(text="(206) 555"), [2]),
        (LeadQuery(text="%"), []),
        (LeadQuery(status=LeadStatus.SILENT, text="chen"), [2]),
    ],
)
def test_filters(session, office, query: LeadQuery, expected: list[int]) -> None:
    tenant, _, leads = office
    page = service.list_leads(session, viewer=manager_of(tenant), now=NOW, query=query)
    assert ids(page) == [leads[i].id for i in expected]
    assert page.total == len(expected)


def test_filter_by_agent(session, office) -> None:
    tenant, agent, leads = office
    page = service.list_leads(
        session, viewer=manager_of(tenant), now=NOW, query=LeadQuery(assigned_user_id=agent.id)
    )
    assert ids(page) == [leads[0].id, leads[2].id]
    assert page.items[0].assigned_name == "Ana Agent"


@pytest.mark.parametrize(
    ("sort", "descending", "order"),
    [
        ("score", True, [0, 1, 2]),
        ("score", False, [2, 1, 0]),
        ("name", False, [2, 0, 1]),
        ("last_activity", False, [2, 1, 0]),
    ],
)
def test_sorting(session, office, sort, descending, order) -> None:
    tenant, _, leads = office
    page = service.list_leads(
        session,
        viewer=manager_of(tenant),
        now=NOW,
        query=LeadQuery(sort=sort, descending=descending),
    )
    assert ids(page) == [leads[i].id for i in order]


def test_pages_never_overlap_and_past_the_end_answers_the_last_page(session) -> None:
    tenant = make_tenant(session)
    same_moment = NOW - timedelta(hours=1)
    created = [make_lead(session, tenant, last_activity_at=same_moment) for _ in range(7)]
    seen: list[int] = []
    for number in (1, 2, 3):
        page = service.list_leads(
            session, viewer=manager_of(tenant), now=NOW, query=LeadQuery(page=number, page_size=3)
        )
        seen += ids(page)
        assert page.page_count == 3
    assert sorted(seen) == sorted(lead.id for lead in created)
    last = service.list_leads(
        session, viewer=manager_of(tenant), now=NOW, query=LeadQuery(page=99, page_size=3)
    )
    assert last.page == 3 and len(last.items) == 1


def test_empty_tenant_has_one_empty_page(session) -> None:
    tenant = make_tenant(session)
    page = service.list_leads(session, viewer=manager_of(tenant), now=NOW, query=LeadQuery(page=4))
    assert (page.total, page.page, page.page_count, page.items) == (0, 1, 1, [])


@pytest.mark.parametrize(
    "bad", [LeadQuery(sort="email"), LeadQuery(page_size=0), LeadQuery(page_size=500)]
)
def test_bad_queries_are_refused_with_the_field(session, office, bad) -> None:
    tenant, _, _ = office
    with pytest.raises(ValidationFailed) as caught:
        service.list_leads(session, viewer=manager_of(tenant), now=NOW, query=bad)
    assert caught.value.fields


def test_filter_options(session, office) -> None:
    tenant, agent, _ = office
    options = service.lead_filter_options(session, viewer=manager_of(tenant))
    assert options.sources == ["portal", "referral"]
    assert [(a.id, a.name) for a in options.agents] == [(agent.id, "Ana Agent")]


def test_agents_see_their_leads_and_the_pool_only_when_the_tenant_allows_it(session) -> None:
    from recovery_app.models import Role
    from tests.factories import viewer_for

    tenant = make_tenant(session)
    agent = make_user(session, tenant, role=Role.AGENT)
    other = make_user(session, tenant, role=Role.AGENT)
    mine = make_lead(session, tenant, assigned_user_id=agent.id)
    pool = make_lead(session, tenant, assigned_user_id=None)
    make_lead(session, tenant, assigned_user_id=other.id)

    def visible() -> set[int]:
        page = service.list_leads(
            session, viewer=viewer_for(agent, tenant), query=LeadQuery(), now=NOW
        )
        return {item.id for item in page.items}

    assert visible() == {mine.id, pool.id}
    tenant.agent_pool_visible = False
    assert visible() == {mine.id}
    # Asking for another agent's leads narrows the agent's own view; it never widens it.
    page = service.list_leads(
        session,
        viewer=viewer_for(agent, tenant),
        query=LeadQuery(assigned_user_id=other.id),
        now=NOW,
    )
    assert page.total == 0


@pytest.mark.parametrize("sort", ["score", "name", "last_activity", "created", "status"])
@pytest.mark.parametrize("descending", [True, False])
def test_back_pages_read_from_the_end_hold_the_same_rows_in_the_same_order(
    session, sort, descending
) -> None:
    # Pages past the middle are read in the reverse order from the end (cheaper deep offsets):
    # page by page, the rows are exactly those of one long page, ties and all.
    tenant = make_tenant(session)
    for n in range(11):
        make_lead(
            session,
            tenant,
            first_name=f"P{n % 3}",
            last_name=("Adams", "Baker", "Adams", "Cole")[n % 4],
            score=(10, 50, 50, 90)[n % 4],
            status=(LeadStatus.NEW, LeadStatus.SILENT)[n % 2],
            last_activity_at=NOW - timedelta(hours=n % 3),
            created_at=NOW - timedelta(hours=n % 5),
        )
    viewer = manager_of(tenant)

    def page(number: int, size: int):  # type: ignore[no-untyped-def]
        query = LeadQuery(sort=sort, descending=descending, page=number, page_size=size)
        return service.list_leads(session, viewer=viewer, now=NOW, query=query)

    whole = ids(page(1, 100))
    paged = [lead_id for number in (1, 2, 3, 4) for lead_id in ids(page(number, 3))]
    assert len(whole) == 11
    assert paged == whole
    assert ids(page(4, 3)) == whole[9:]  # the short last page
