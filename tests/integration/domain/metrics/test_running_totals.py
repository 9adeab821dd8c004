"""The running totals (triggers' change logs + folded totals) against the live queries they
replace, on SQLite and PostgreSQL: random leads and messages, then every kind of write the app
makes - ORM inserts and updates, bulk UPDATEs of many rows, replies arriving late, delivery
receipts, time zones filled in and erased, reassignment, closing, rescoring - compared before
and after each fold."""

import itertools
import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlmodel import col

from recovery_app.domain.campaigns import performance, service
from recovery_app.domain.campaigns.schemas import CampaignIn, StepIn
from recovery_app.domain.metrics import running_totals
from recovery_app.domain.metrics.rollup import rollup_daily_metrics
from recovery_app.domain.scoring import insights
from recovery_app.models import (
    Channel,
    Direction,
    Lead,
    LeadFactorDelta,
    LeadStatus,
    Message,
    MessageStatus,
    ReplyHourDelta,
    Tenant,
    User,
)
from tests.conftest import downgrade, migrate
from tests.factories import NOW, make_lead, make_tenant, make_user, manager_of, viewer_for

_keys = itertools.count(1)
ZONES = [None, "", "America/Chicago", "America/New_York", "Asia/Kolkata", "Europe/London"]
FACTORS = ["source", "budget", "silence", "replied", "", None]
STATUSES = [
    LeadStatus.NEW,
    LeadStatus.CONTACTED,
    LeadStatus.SILENT,
    LeadStatus.ENGAGED,
    LeadStatus.CONVERTED,
    LeadStatus.LOST,
]
# Not on the hour: the grid's 90 days start inside an hour, which is read from the messages.
AT = NOW + timedelta(minutes=17, seconds=3)


def factors(rng: random.Random) -> list[dict]:
    found = []
    for _ in range(rng.randint(0, 4)):
        entry: dict = {"factor": rng.choice(FACTORS), "label": "x"}
        if rng.random() < 0.9:
            entry["points"] = rng.randint(-20, 30)
        found.append(entry)
    return found


def add_message(session, rng, lead, campaigns, *, at=None) -> Message:
    sent = at or AT - timedelta(days=rng.uniform(0, 100))
    outbound = rng.random() < 0.85
    message = Message(
        tenant_id=lead.tenant_id,
        lead_id=lead.id,
        channel=rng.choice([Channel.SMS, Channel.EMAIL]),
        direction=Direction.OUTBOUND if outbound else Direction.INBOUND,
        status=rng.choice([MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.QUEUED]),
        body="Hi",
        campaign_id=rng.choice([None, *campaigns]),
        idempotency_key=f"totals:{next(_keys)}",
        created_at=sent,
        updated_at=sent,
        sent_at=None if rng.random() < 0.1 else sent,
        replied_at=sent + timedelta(hours=1) if rng.random() < 0.2 else None,
        delivered_at=sent if rng.random() < 0.3 else None,
        cost_microdollars=rng.choice([None, 0, 7900, 15800]),
    )
    session.add(message)
    return message


def office(session, rng):
    tenant = make_tenant(session, timezone="America/Denver")
    agents = [make_user(session, tenant, full_name=f"Agent {n}") for n in range(3)]
    steps = [StepIn(channel=Channel.SMS, body="Hi {{first_name}}. Reply STOP to opt out.")]
    campaigns = [
        service.create_campaign(
            session, viewer=manager_of(tenant), data=CampaignIn(name=f"C{n}", steps=steps), now=NOW
        ).id
        for n in range(3)
    ]
    leads = [
        make_lead(
            session,
            tenant,
            timezone=rng.choice(ZONES),
            status=rng.choice(STATUSES),
            assigned_user_id=rng.choice([None, *(a.id for a in agents)]),
            score_factors=factors(rng),
        )
        for _ in range(60)
    ]
    messages = [add_message(session, rng, rng.choice(leads), campaigns) for _ in range(400)]
    session.flush()
    return tenant, agents, campaigns, leads, messages


def live_grid(session, viewer, channel) -> insights.ResponseGrid:
    """The grid as the messages alone give it (the query the running totals replace)."""
    fallback = ZoneInfo(session.get(Tenant, viewer.tenant_id).timezone)
    since = AT - timedelta(days=insights.RESPONSE_DAYS)
    grid = insights.ResponseGrid()
    for zone, bucket, sends, replies in insights.live_reply_cells(
        session, viewer=viewer, channel=channel, since=since
    ):
        moment = bucket if isinstance(bucket, datetime) else datetime.fromisoformat(str(bucket))
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        local = moment.astimezone(insights._zone(zone, fallback))
        grid.add(local.weekday(), local.hour, sends, replies)
    return grid


def assert_totals_match(session, tenant, agents, campaigns) -> None:
    manager = manager_of(tenant)
    for channel in (None, "sms", "email"):
        rolled = insights.response_grid(session, viewer=manager, now=AT, channel=channel)
        live = live_grid(session, manager, channel)
        assert (rolled.sends, rolled.replies) == (live.sends, live.replies), channel
    for viewer in (manager, *(viewer_for(agent) for agent in agents)):
        rolled_effects = insights.factor_effects(session, viewer=viewer)
        live_rows = insights.live_factor_rows(session, viewer=viewer)
        live_effects = sorted(
            ((str(name), n, round(float(avg or 0), 1)) for name, n, avg in live_rows if name),
        )
        assert sorted((e.factor, e.leads, e.average_points) for e in rolled_effects) == (
            live_effects
        )
    figures = performance.performance(session, viewer=manager)
    live = performance.live_message_figures(session, viewer=manager)
    assert {
        campaign_id: (f.sent, f.delivered, f.replied)
        for campaign_id, f in figures.items()
        if campaign_id in live
    } == {campaign_id: row[:3] for campaign_id, row in live.items()}
    rolled_messages = {
        row[0]: tuple(int(v) for v in row[1:])
        for row in running_totals.campaign_totals(
            session, tenant_id=tenant.id, campaign_ids=campaigns
        )
    }
    assert rolled_messages == live


def test_running_totals_equal_the_live_queries_through_every_kind_of_write(session) -> None:
    rng = random.Random(16)
    tenant, agents, campaigns, leads, messages = office(session, rng)
    other = office(session, random.Random(99))  # another office: never counted in the first
    assert_totals_match(session, tenant, agents, campaigns)

    rollup_daily_metrics(session, NOW)  # folds the logs written so far
    assert session.execute(select(ReplyHourDelta)).first() is None
    assert session.execute(select(LeadFactorDelta)).first() is None
    assert_totals_match(session, tenant, agents, campaigns)
    assert_totals_match(session, other[0], other[1], other[2])

    for round_ in range(3):
        # Late replies and delivery receipts on old messages (ORM).
        for message in rng.sample(messages, 40):
            if message.replied_at is None and rng.random() < 0.5:
                message.replied_at = AT
                message.status = MessageStatus.REPLIED
            else:
                message.delivered_at = message.delivered_at or AT
                message.status = MessageStatus.DELIVERED
        # A dispatcher sending queued ones, a campaign deleted from a message's books.
        for message in rng.sample(messages, 10):
            message.sent_at = message.sent_at or AT - timedelta(minutes=3)
            message.cost_microdollars = 7900
        messages[round_].campaign_id = None
        # New messages, some in the grid's first (partial) hour and some outside the range.
        messages += [add_message(session, rng, rng.choice(leads), campaigns) for _ in range(30)]
        edge = AT - timedelta(days=insights.RESPONSE_DAYS)
        messages += [
            add_message(session, rng, rng.choice(leads), campaigns, at=edge + timedelta(minutes=m))
            for m in (-2, 0, 1, 30, 50)
        ]
        # Time zones filled in (Apollo, a later form) and erased (privacy), ORM.
        for lead in rng.sample(leads, 8):
            lead.timezone = None if lead.timezone else rng.choice(ZONES[2:])
        # Rescoring, closing, reopening (ORM), then bulk reassignment and bulk rescoring (Core,
        # as routing and the rescoring job do).
        for lead in rng.sample(leads, 10):
            lead.score_factors = factors(rng)
            lead.status = rng.choice(STATUSES)
        session.flush()
        session.execute(
            update(Lead)
            .where(col(Lead.id).in_([lead.id for lead in rng.sample(leads, 12)]))
            .values(assigned_user_id=rng.choice([None, *(a.id for a in agents)]))
            .execution_options(synchronize_session=False)
        )
        session.execute(
            update(Lead),
            [
                {"id": lead.id, "score_factors": factors(rng), "timezone": rng.choice(ZONES)}
                for lead in rng.sample(leads, 15)
            ],
        )
        session.execute(
            update(Message)
            .where(col(Message.tenant_id) == tenant.id, col(Message.replied_at).is_(None))
            .where(col(Message.id) % 7 == round_)
            .values(replied_at=AT)
        )
        session.expire_all()
        assert_totals_match(session, tenant, agents, campaigns)
        if round_ != 1:  # once with the log left unfolded across rounds
            rollup_daily_metrics(session, NOW)
            assert_totals_match(session, tenant, agents, campaigns)
    assert_totals_match(session, other[0], other[1], other[2])


def test_folding_twice_changes_nothing(session) -> None:
    rng = random.Random(3)
    tenant, agents, campaigns, _, _ = office(session, rng)
    first = running_totals.fold(session)
    assert first["reply_hour_changes"] > 0 and first["lead_factor_changes"] > 0
    assert running_totals.fold(session) == {
        "reply_hour_changes": 0,
        "campaign_message_changes": 0,
        "lead_factor_changes": 0,
    }
    assert_totals_match(session, tenant, agents, campaigns)


def test_the_migration_backfills_the_totals_from_what_is_there(fresh_database) -> None:
    engine = fresh_database.engine
    # The rows are written with today's models, so at today's schema; then the schema goes
    # back to before the totals (0015) and comes forward again, which backfills them.
    migrate(engine)
    with Session(engine) as before:
        tenant, agents, campaigns, _, _ = office(before, random.Random(5))
        ids = (tenant.id, [agent.id for agent in agents], campaigns)
        before.commit()
    downgrade(engine, "0015")
    migrate(engine)
    with Session(engine) as after:
        tenant = after.get(Tenant, ids[0])
        agents = [after.get(User, agent_id) for agent_id in ids[1]]
        assert after.execute(select(ReplyHourDelta)).first() is None
        assert_totals_match(after, tenant, agents, ids[2])
