"""The attribution table (`conversion_credits`, kept by the triggers of migration 0017) on
SQLite and PostgreSQL: after every kind of write that can move a credit it holds exactly the rows
`roi.credits` computes from the messages, and both equal a brute-force Python computation."""

import random
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import delete, insert, select, update
from sqlmodel import Session, col

from recovery_app.domain.analytics import conversions, roi
from recovery_app.models import (
    Channel,
    Conversion,
    Direction,
    Lead,
    Message,
    MessageCategory,
    Tenant,
)
from tests.conftest import migrate
from tests.factories import NOW, make_lead, make_tenant, make_user, manager_of
from tests.integration.domain.analytics.test_roi import campaign, closed, sent

EVER = (NOW - timedelta(days=400), NOW + timedelta(days=1))
Row = tuple


def table_rows(session, tenant: Tenant, model: str) -> list[Row]:
    return _rows(
        session,
        roi.stored_credits(session, tenant_id=tenant.id, start=EVER[0], end=EVER[1], model=model),
    )


def direct_rows(session, tenant: Tenant, model: str) -> list[Row]:
    return _rows(
        session,
        roi.credits(
            session,
            tenant_id=tenant.id,
            start=EVER[0],
            end=EVER[1],
            window_days=tenant.attribution_window_days,
            model=model,
        ),
    )


def _rows(session, credited) -> list[Row]:
    return sorted(
        tuple(row)
        for row in session.execute(
            select(
                credited.c.conversion_id,
                credited.c.message_id,
                credited.c.campaign_id,
                credited.c.channel,
                credited.c.source,
                credited.c.assigned_user_id,
                credited.c.share,
                credited.c.credit,
            )
        )
    )


def brute_force(session, tenant: Tenant, model: str) -> list[Row]:
    """The rule in plain Python over every message and deal of the office."""
    session.expire_all()
    window = timedelta(days=session.get(Tenant, tenant.id).attribution_window_days)
    deals = session.execute(select(Conversion).where(col(Conversion.tenant_id) == tenant.id))
    expected: list[Row] = []
    for deal in deals.scalars():
        lead = session.get(Lead, deal.lead_id)
        touches = sorted(
            (m.sent_at, m.id, m)
            for m in session.execute(select(Message).where(col(Message.lead_id) == deal.lead_id))
            .scalars()
            .all()
            if m.tenant_id == deal.tenant_id
            and m.direction == Direction.OUTBOUND
            and m.category == MessageCategory.MARKETING
            and m.sent_at is not None
            and deal.closed_at - window <= m.sent_at <= deal.closed_at
        )
        if not touches:
            continue
        n = len(touches)
        chosen = {"first_touch": touches[:1], "last_touch": touches[-1:], "linear": touches}
        for _, _, m in chosen[model]:
            share = 1.0 / n if model == "linear" else 1.0
            credit = float(deal.value_cents) / n if model == "linear" else float(deal.value_cents)
            expected.append(
                (
                    deal.id,
                    m.id,
                    m.campaign_id,
                    str(m.channel),
                    lead.source,
                    lead.assigned_user_id,
                    share,
                    credit,
                )
            )
    return sorted(expected)


def assert_kept(session, tenant: Tenant) -> None:
    session.flush()
    for model in roi.MODELS:
        stored = table_rows(session, tenant, model)
        assert stored == direct_rows(session, tenant, model), model
        assert stored == brute_force(session, tenant, model), model


@pytest.fixture
def scene(session):
    """An office with random leads, recovery and other messages and deals."""
    rng = random.Random(17)
    tenant = make_tenant(session, timezone="UTC", attribution_window_days=14)
    agents = [make_user(session, tenant, full_name=f"Agent {i}") for i in range(2)]
    campaigns = [campaign(session, tenant, f"C{i}") for i in range(3)]
    leads = []
    for _ in range(30):
        lead = make_lead(
            session,
            tenant,
            source=rng.choice(["zillow", "referral", "web_form"]),
            assigned_user_id=rng.choice(agents).id if rng.random() < 0.7 else None,
            created_at=NOW - timedelta(days=60),
        )
        leads.append(lead)
        for _ in range(rng.randint(0, 6)):
            chosen = rng.choice([*campaigns, None])
            sent(
                session,
                lead,
                rng.uniform(-3, 30),
                campaign=chosen,
                channel=rng.choice([Channel.SMS, Channel.EMAIL]),
                category=rng.choice([MessageCategory.MARKETING] * 4 + [MessageCategory.AUTOMATED]),
                direction=rng.choice([Direction.OUTBOUND] * 5 + [Direction.INBOUND]),
            )
        if rng.random() < 0.75:
            closed(session, lead, rng.randint(1, 900) * 10 + 7, days_ago=rng.uniform(0, 20))
    return rng, tenant, agents, campaigns, leads


def converted(session, leads) -> list[Lead]:
    with_deal = set(session.execute(select(col(Conversion.lead_id))).scalars())
    return [lead for lead in leads if lead.id in with_deal]


def test_the_backfilled_and_inserted_rows_equal_the_rule(session, scene) -> None:
    _, tenant, *_ = scene
    assert table_rows(session, tenant, "linear")  # the scene has credited deals
    assert_kept(session, tenant)


def test_messages_sent_changed_moved_and_deleted(session, scene) -> None:
    rng, tenant, _, campaigns, leads = scene
    won = converted(session, leads)
    lead, other = won[0], won[1]
    deal = session.execute(
        select(Conversion).where(col(Conversion.lead_id) == lead.id)
    ).scalar_one()
    before_deal = (NOW - deal.closed_at).total_seconds() / 86400 + 1
    # A recovery message inside the window, inserted already sent.
    fresh = sent(session, lead, before_deal, campaign=campaigns[0])
    assert_kept(session, tenant)
    # One queued (no sent_at), then sent by the dispatcher.
    queued = sent(session, lead, before_deal + 1, campaign=campaigns[1], sent_at=None)
    assert_kept(session, tenant)
    queued.sent_at = deal.closed_at - timedelta(days=2)
    assert_kept(session, tenant)
    # Its campaign, channel and category change; then it moves to another converted lead.
    fresh.campaign_id = campaigns[2].id
    fresh.channel = Channel.EMAIL
    assert_kept(session, tenant)
    queued.category = MessageCategory.CONVERSATIONAL
    assert_kept(session, tenant)
    fresh.lead_id = other.id
    assert_kept(session, tenant)
    # A delivery receipt changes nothing the credits read.
    fresh.status = "delivered"
    assert_kept(session, tenant)
    session.delete(fresh)
    assert_kept(session, tenant)
    # Many messages in one statement (a campaign sweep): the statement trigger on PostgreSQL.
    session.execute(
        insert(Message),
        [
            {
                "tenant_id": tenant.id,
                "lead_id": target.id,
                "channel": Channel.SMS,
                "direction": Direction.OUTBOUND,
                "category": MessageCategory.MARKETING,
                "campaign_id": rng.choice(campaigns).id,
                "body": "Bulk",
                "idempotency_key": f"bulk:{target.id}:{i}",
                "sent_at": NOW - timedelta(days=rng.uniform(0, 25)),
                "created_at": NOW - timedelta(days=30),
            }
            for i, target in enumerate(leads * 2)
        ],
    )
    assert_kept(session, tenant)
    session.execute(
        update(Message)
        .where(col(Message.tenant_id) == tenant.id, col(Message.body) == "Bulk")
        .values(sent_at=None)
    )
    assert_kept(session, tenant)
    session.execute(delete(Message).where(col(Message.lead_id) == won[2].id))
    assert_kept(session, tenant)


def test_deals_recorded_changed_and_deleted(session, scene) -> None:
    _, tenant, _, _, leads = scene
    won = converted(session, leads)
    open_lead = next(lead for lead in leads if lead not in won)
    # Through the service, as an agent's "deal closed" form does.
    recorded = conversions.record_conversion(
        session,
        viewer=manager_of(tenant),
        lead_id=open_lead.id,
        value_cents=123_456,
        closed_at=NOW - timedelta(days=1),
        now=NOW,
    )
    assert_kept(session, tenant)
    recorded.closed_at = NOW - timedelta(days=9)
    recorded.value_cents = 99_901
    assert_kept(session, tenant)
    first, second = sorted(won, key=lambda lead: lead.id)[:2]
    deal = session.execute(
        select(Conversion).where(col(Conversion.lead_id) == first.id)
    ).scalar_one()
    deal.lead_id = open_lead.id
    assert_kept(session, tenant)
    session.delete(recorded)
    assert_kept(session, tenant)
    # A lead deleted: its messages and deal go with it (foreign keys, cascading).
    session.execute(delete(Lead).where(col(Lead.id) == second.id))
    assert_kept(session, tenant)


def test_lead_source_agent_and_office_window_changes(session, scene) -> None:
    _, tenant, agents, _, leads = scene
    for lead in converted(session, leads)[:5]:
        lead.source = "open_house"
        lead.assigned_user_id = agents[1].id if lead.assigned_user_id != agents[1].id else None
    assert_kept(session, tenant)
    # A bulk reassignment in one statement.
    session.execute(
        update(Lead).where(col(Lead.tenant_id) == tenant.id).values(assigned_user_id=agents[0].id)
    )
    assert_kept(session, tenant)
    for days in (3, 30, 1):
        tenant.attribution_window_days = days
        assert_kept(session, tenant)


def test_the_report_reads_the_table_and_offices_stay_apart(session, scene) -> None:
    _, tenant, *_ = scene
    other = make_tenant(session, timezone="UTC")
    stranger = make_lead(session, other, created_at=NOW - timedelta(days=20))
    sent(session, stranger, 3)
    closed(session, stranger, 500, days_ago=1)
    period = roi.Period((NOW - timedelta(days=60)).date(), NOW.date())
    start, end = roi.bounds(period, "UTC")
    for model in roi.MODELS:
        report = roi.report(session, viewer=manager_of(tenant), period=period, model=model, now=NOW)
        direct = roi.credit_cube(
            session,
            roi.credits(
                session, tenant_id=tenant.id, start=start, end=end, window_days=14, model=model
            ),
        )
        assert report.revenue_cents == round(sum(cents for *_, cents in direct))
        by_campaign = {s.key_value: s.revenue_cents for s in report.by_campaign if s.deals}
        expected: dict = {}
        for campaign_id, *_, cents in direct:
            expected[campaign_id] = expected.get(campaign_id, 0) + cents
        assert by_campaign == {key: round(cents) for key, cents in expected.items()}
    assert table_rows(session, other, "linear") == brute_force(session, other, "linear")
    assert len(table_rows(session, other, "linear")) == 1


def test_two_writers_of_one_deal_take_turns(fresh_database) -> None:
    """Two transactions send a recovery message to the same converted lead at once: the second
    waits for the first (the deal's row lock) and rewrites the credits from both messages; a
    lost or doubled row would break the table's key or the comparison."""
    if fresh_database.backend != "postgresql":
        pytest.skip("SQLite has one writer at a time")
    engine = fresh_database.engine
    migrate(engine)
    with Session(engine, expire_on_commit=False) as setup:
        tenant = make_tenant(setup, timezone="UTC", attribution_window_days=30)
        lead = make_lead(setup, tenant, created_at=NOW - timedelta(days=40))
        sent(setup, lead, 10)
        closed(setup, lead, 1000, days_ago=1)
        setup.commit()
    first, second = Session(engine), Session(engine)
    try:
        sent(first, lead, 5)  # flushed: the trigger holds the deal's row until commit
        waiting = threading.Thread(target=lambda: (sent(second, lead, 3), second.commit()))
        waiting.start()
        time.sleep(1.0)
        assert waiting.is_alive()  # blocked on the deal's row
        first.commit()
        waiting.join(timeout=60)
        assert not waiting.is_alive()
    finally:
        first.close()
        second.close()
    with Session(engine) as check:
        for model in roi.MODELS:
            stored = table_rows(check, tenant, model)
            assert stored == brute_force(check, tenant, model)
        assert len(table_rows(check, tenant, "linear")) == 3
