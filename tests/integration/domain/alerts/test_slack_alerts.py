"""Slack alerts end to end on both databases: events queue rows, the `slack_alerts` job posts
them with the real httpx client to a local server that answers like Slack's incoming
webhooks, and Slack's answers (ok, 429 with Retry-After, 503, 404 no_service) do what the
README promises."""

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from recovery_app.db import session_scope
from recovery_app.domain.alerts import config, delivery, service
from recovery_app.domain.alerts.config import SlackChanges, save_slack, slack_status
from recovery_app.domain.leads.intake import Person, intake
from recovery_app.domain.leads.privacy import erase_lead
from recovery_app.domain.routing import service as routing
from recovery_app.errors import Conflict, Forbidden, ValidationFailed
from recovery_app.integrations import http
from recovery_app.jobs.registry import JOBS
from recovery_app.models import (
    Campaign,
    Channel,
    Direction,
    Message,
    MessageStatus,
    Role,
    SlackAlert,
    Tenant,
    User,
)
from recovery_app.settings import reload_settings
from tests.factories import make_lead, make_tenant, make_user, viewer_for
from tests.fakes.providers import FakeSlack, Reply

APP = "https://leads.example.com"
# Monday 2 November 2026, 12:00 in Chicago.
NOW = datetime(2026, 11, 2, 18, 0, tzinfo=UTC)


@pytest.fixture
def session(app_database):
    """The job commits between its steps (claim, post, record) as in production, so these
    tests run on the app's own database (emptied afterwards), not in a rolled-back one."""
    with session_scope() as s:
        yield s


@pytest.fixture
def fake_slack(monkeypatch):
    slack = FakeSlack()
    monkeypatch.setenv("APP_BASE_URL", APP)
    monkeypatch.setenv("PROVIDER_TIMEOUT_SECONDS", "2")
    monkeypatch.delenv("SLACK_WEBHOOK_URL", raising=False)
    reload_settings()
    http.reset_breakers()
    yield slack
    slack.close()
    monkeypatch.undo()
    reload_settings()
    http.reset_breakers()


@dataclass
class Office:
    tenant: Tenant
    manager: User
    agent: User


@pytest.fixture
def office(session, fake_slack) -> Office:
    tenant = make_tenant(session, timezone="America/Chicago")
    manager = make_user(session, tenant, role=Role.MANAGER, full_name="Dana Manager")
    agent = make_user(session, tenant, role=Role.AGENT, full_name="Ana Agent")
    save_slack(
        session,
        viewer=viewer_for(manager),
        changes=SlackChanges(url=fake_slack.webhook()),
        now=NOW,
    )
    return Office(tenant, manager, agent)


def run_job(session, now: datetime) -> dict:
    return JOBS["slack_alerts"].run(session, now)


def texts(slack: FakeSlack, name: str = "office") -> list[str]:
    return [post["text"] for post in slack.posts_to(name)]


def rows(session) -> list[SlackAlert]:
    return list(session.execute(select(SlackAlert).order_by(SlackAlert.id)).scalars())


def hot_lead(session, office: Office, **fields):
    return make_lead(session, office.tenant, score=90, assigned_user_id=office.agent.id, **fields)


# --- each event: one alert, with the link --------------------------------------------------------


def test_a_hot_new_lead_from_intake_alerts_once_with_its_link(session, office, fake_slack) -> None:
    person = Person(
        first_name="Maria",
        last_name="Lopez",
        email="maria@example.com",
        phone="+15125550134",
        source="referral",
        message="Pre-approved and ready to buy this week, cash offer, want a showing tomorrow",
        value_cents=90_000_000,
        consent_sms=True,
        consent_email=True,
        timezone=None,
        external_id=None,
        attributes={},
    )
    result = intake(session, tenant=office.tenant, person=person, received_at=NOW, via="test")
    if result.temperature != "hot":
        pytest.skip(f"this scoring gives the sample lead {result.score}, not hot")
    # The same person again (a duplicate post) does not alert twice.
    intake(session, tenant=office.tenant, person=person, received_at=NOW, via="test")
    run_job(session, NOW)
    run_job(session, NOW + timedelta(minutes=1))
    posted = fake_slack.posts_to("office")
    assert len(posted) == 1
    url = f"{APP}/leads/{result.lead_id}"
    assert "Hot new lead: Maria Lopez" in posted[0]["text"]
    assert posted[0]["blocks"][1]["elements"][0]["url"] == url
    assert f"<{url}|Open the lead>" in posted[0]["blocks"][0]["text"]["text"]


def test_hot_new_lead_alert_names_the_agent_and_copies_their_own_webhook(
    session, office, fake_slack
) -> None:
    office.agent.slack_webhook_url = fake_slack.webhook("ana")
    lead = hot_lead(session, office, first_name="Maria", last_name="Lopez")
    assert service.hot_new_lead(session, lead=lead, agent=office.agent, now=NOW) == 2
    assert service.hot_new_lead(session, lead=lead, agent=office.agent, now=NOW) == 0  # dedupe
    assert run_job(session, NOW)["sent"] == 2
    for name in ("office", "ana"):
        [post] = fake_slack.posts_to(name)
        assert "Assigned to Ana Agent" in post["blocks"][0]["text"]["text"]
        assert post["blocks"][1]["elements"][0]["url"] == f"{APP}/leads/{lead.id}"


def test_untouched_hot_lead_escalation_alerts_once(session, office, fake_slack) -> None:
    office.tenant.escalate_after_hours = 24
    stale = hot_lead(session, office, created_at=NOW - timedelta(hours=25), first_name="Old")
    assert routing.escalate_untouched_hot_leads(session, now=NOW) == 1
    assert routing.escalate_untouched_hot_leads(session, now=NOW + timedelta(hours=1)) == 0
    run_job(session, NOW)
    [text] = texts(fake_slack)
    assert text.startswith(":alarm_clock: Hot lead untouched for 24 h: Old")
    assert text.endswith(f"{APP}/leads/{stale.id}")


def test_a_reply_waiting_over_15_minutes_alerts_once_per_reply(session, office, fake_slack) -> None:
    waiting = make_lead(
        session,
        office.tenant,
        first_name="Wes",
        assigned_user_id=office.agent.id,
        last_outbound_at=NOW - timedelta(hours=2),
        last_inbound_at=NOW - timedelta(minutes=20),
    )
    make_lead(  # replied 10 minutes ago: not yet
        session,
        office.tenant,
        last_outbound_at=NOW - timedelta(hours=2),
        last_inbound_at=NOW - timedelta(minutes=10),
    )
    make_lead(  # we answered
        session,
        office.tenant,
        last_inbound_at=NOW - timedelta(minutes=40),
        last_outbound_at=NOW - timedelta(minutes=30),
    )
    assert run_job(session, NOW)["replies_waiting"] == 1
    assert run_job(session, NOW + timedelta(minutes=1))["replies_waiting"] == 0
    [text] = texts(fake_slack)
    assert "Wes" in text and "replied 20 min ago" in text
    assert text.endswith(f"{APP}/leads/{waiting.id}")
    # We answered, then they wrote again: a new wait, a new alert.
    waiting.last_outbound_at = NOW + timedelta(minutes=2)
    waiting.last_inbound_at = NOW + timedelta(minutes=5)
    run_job(session, NOW + timedelta(minutes=21))
    later = texts(fake_slack)[1:]  # the lead that wrote 10 minutes before NOW is due too now
    assert sorted("Wes" in text and "replied 16 min ago" in text for text in later) == [
        False,
        True,
    ]


def _campaign_sends(session, office: Office, campaign: Campaign, *, ok: int, failed: int) -> None:
    lead = make_lead(session, office.tenant)
    for n in range(ok + failed):
        bad = n < failed
        session.add(
            Message(
                tenant_id=office.tenant.id,
                lead_id=lead.id,
                campaign_id=campaign.id,
                channel=Channel.SMS,
                direction=Direction.OUTBOUND,
                status=MessageStatus.FAILED if bad else MessageStatus.DELIVERED,
                provider="twilio",
                idempotency_key=f"c{campaign.id}:{n}:{ok}:{failed}",
                body="Hi",
                sent_at=None if bad else NOW - timedelta(minutes=5),
                failed_at=NOW - timedelta(minutes=5) if bad else None,
                error_code="30003" if bad else None,
            )
        )
    session.flush()


def test_campaign_failure_rate_alerts_once_over_the_threshold(session, office, fake_slack) -> None:
    save_slack(
        session,
        viewer=viewer_for(office.manager),
        changes=SlackChanges(failure_percent="25", failure_min="10"),
        now=NOW,
    )
    failing = Campaign(tenant_id=office.tenant.id, name="Spring <blast>")
    quiet = Campaign(tenant_id=office.tenant.id, name="Small")
    session.add_all([failing, quiet])
    session.flush()
    _campaign_sends(session, office, failing, ok=6, failed=4)  # 40 % of 10
    _campaign_sends(session, office, quiet, ok=1, failed=3)  # 75 %, but only 4 sends
    assert run_job(session, NOW)["campaign_alerts"] == 1
    _campaign_sends(session, office, failing, ok=0, failed=5)  # still failing: no new alert
    assert run_job(session, NOW + timedelta(minutes=1))["campaign_alerts"] == 0
    [text] = texts(fake_slack)
    assert "Campaign Spring &lt;blast&gt;: 4 of 10 sends failed in the last hour (40 %)" in text
    assert text.endswith(f"{APP}/campaigns")
    # Two hours later the last hour looks healthy: one "back under" alert.
    _campaign_sends_later(session, office, failing, at=NOW + timedelta(hours=2))
    assert run_job(session, NOW + timedelta(hours=2))["campaign_alerts"] == 1
    assert "is back under 25 % failures" in texts(fake_slack)[-1]


def _campaign_sends_later(session, office: Office, campaign: Campaign, *, at: datetime) -> None:
    lead = make_lead(session, office.tenant)
    for n in range(12):
        session.add(
            Message(
                tenant_id=office.tenant.id,
                lead_id=lead.id,
                campaign_id=campaign.id,
                channel=Channel.SMS,
                direction=Direction.OUTBOUND,
                status=MessageStatus.DELIVERED,
                provider="twilio",
                idempotency_key=f"later:{campaign.id}:{n}",
                body="Hi",
                sent_at=at - timedelta(minutes=1),
            )
        )
    session.flush()


def _retrying_sends(session, office: Office, *, count: int, at: datetime, tag: str) -> None:
    lead = make_lead(session, office.tenant)
    for n in range(count):
        session.add(
            Message(
                tenant_id=office.tenant.id,
                lead_id=lead.id,
                channel=Channel.SMS,
                direction=Direction.OUTBOUND,
                status=MessageStatus.QUEUED,
                provider="twilio",
                error_code="503",
                error_message="Service Unavailable",
                attempts=2,
                idempotency_key=f"{tag}:{n}",
                body="Hi",
                updated_at=at,
                next_attempt_at=at + timedelta(minutes=1),
            )
        )
    session.flush()


def test_a_provider_outage_is_one_alert_and_one_all_clear(session, office, fake_slack) -> None:
    _retrying_sends(session, office, count=3, at=NOW, tag="a")
    assert run_job(session, NOW)["outage_alerts"] == 0  # three failures: wait and see
    for minute in range(1, 6):  # Twilio keeps failing for five minutes, 40 sends in all
        at = NOW + timedelta(minutes=minute)
        _retrying_sends(session, office, count=8, at=at, tag=f"b{minute}")
        run_job(session, at)
    assert texts(fake_slack) == [f":rotating_light: Texts (Twilio) looks down - {APP}/dashboard"]
    session.add(
        Message(
            tenant_id=office.tenant.id,
            channel=Channel.SMS,
            direction=Direction.OUTBOUND,
            status=MessageStatus.SENT,
            provider="twilio",
            idempotency_key="back",
            body="Hi",
            sent_at=NOW + timedelta(minutes=7),
        )
    )
    session.flush()
    run_job(session, NOW + timedelta(minutes=8))
    run_job(session, NOW + timedelta(minutes=9))
    assert len(texts(fake_slack)) == 2
    assert texts(fake_slack)[1].startswith(":white_check_mark: Texts (Twilio) is working again")


def test_an_open_integration_breaker_is_an_outage(session, office, fake_slack) -> None:
    breaker = http.breaker_for("ghl")
    for _ in range(breaker.threshold):
        breaker.failed()
    run_job(session, NOW)
    run_job(session, NOW + timedelta(minutes=1))
    assert texts(fake_slack) == [f":rotating_light: ghl looks down - {APP}/dashboard"]


# --- dedupe, rate limit, Slack's answers -------------------------------------------------------


def test_a_burst_is_rate_limited_and_folded_into_a_summary(session, office, fake_slack) -> None:
    leads = [hot_lead(session, office, first_name=f"Burst{n}") for n in range(12)]
    for lead in leads:
        service.hot_new_lead(session, lead=lead, agent=None, now=NOW)
    counts = run_job(session, NOW)
    assert counts["sent"] == delivery.POSTS_PER_MINUTE == 6
    posted = texts(fake_slack)
    assert len(posted) == 6
    assert all("Hot new lead: Burst" in text for text in posted[:5])
    summary = fake_slack.posts_to("office")[5]
    assert summary["text"].startswith(":bell: 7 more alerts")
    body = summary["blocks"][0]["text"]["text"]
    assert all(f"{APP}/leads/{lead.id}|" in body for lead in leads[5:])
    assert {r.status for r in rows(session)} == {"sent", "folded"}
    # The minute's budget is spent: a new alert waits for the next minute.
    service.hot_new_lead(session, lead=hot_lead(session, office), agent=None, now=NOW)
    assert run_job(session, NOW + timedelta(seconds=20)).get("sent", 0) == 0
    assert run_job(session, NOW + timedelta(seconds=80))["sent"] == 1
    assert len(texts(fake_slack)) == 7


def test_a_429_retry_after_within_the_budget_is_waited_for(session, office, fake_slack) -> None:
    fake_slack.then(Reply(status=429, message="rate_limited", headers={"Retry-After": "1"}))
    service.hot_new_lead(session, lead=hot_lead(session, office), agent=None, now=NOW)
    assert run_job(session, NOW)["sent"] == 1
    assert fake_slack.attempts == 2
    assert fake_slack.attempt_times[1] - fake_slack.attempt_times[0] >= 0.95


def test_a_long_retry_after_is_honoured_across_runs(session, office, fake_slack) -> None:
    fake_slack.then(Reply(status=429, message="rate_limited", headers={"Retry-After": "120"}))
    service.hot_new_lead(session, lead=hot_lead(session, office), agent=None, now=NOW)
    started = time.monotonic()
    assert run_job(session, NOW)["retrying"] == 1
    assert time.monotonic() - started < 2  # no 120 s sleep inside the job
    [row] = rows(session)
    assert row.status == "queued" and row.next_attempt_at >= NOW + timedelta(seconds=120)
    run_job(session, NOW + timedelta(seconds=60))
    assert fake_slack.attempts == 1  # not before Slack said
    assert run_job(session, NOW + timedelta(seconds=121))["sent"] == 1
    assert len(texts(fake_slack)) == 1


def test_slack_down_keeps_the_alert_and_delivers_it_once_later(session, office, fake_slack) -> None:
    fake_slack.then(*[Reply(status=503, message="service_unavailable")] * 3)
    service.hot_new_lead(session, lead=hot_lead(session, office), agent=None, now=NOW)
    assert run_job(session, NOW)["retrying"] == 1
    [row] = rows(session)
    assert (row.status, row.attempts) == ("queued", 1)
    assert "Slack answered HTTP 503 service_unavailable" in (row.error or "")
    assert slack_status(session, viewer=viewer_for(office.manager)).state == "ok"  # transient
    run_job(session, NOW + timedelta(seconds=5))  # not due yet
    assert fake_slack.attempts == 3
    assert run_job(session, NOW + timedelta(hours=1))["sent"] == 1
    run_job(session, NOW + timedelta(hours=2))
    assert len(texts(fake_slack)) == 1
    status = slack_status(session, viewer=viewer_for(office.manager))
    assert status.last_ok_at == NOW + timedelta(hours=1)


def test_slack_unreachable_keeps_the_alert(session, office, fake_slack) -> None:
    gone = FakeSlack()
    url = gone.webhook("gone")
    gone.close()  # nothing listens there any more: connection refused
    save_slack(session, viewer=viewer_for(office.manager), changes=SlackChanges(url=url), now=NOW)
    service.hot_new_lead(session, lead=hot_lead(session, office), agent=None, now=NOW)
    assert run_job(session, NOW)["retrying"] == 1
    assert "could not connect" in (rows(session)[0].error or "")
    save_slack(
        session,
        viewer=viewer_for(office.manager),
        changes=SlackChanges(url=fake_slack.webhook()),
        now=NOW,
    )
    assert run_job(session, NOW + timedelta(seconds=1))["sent"] == 1  # a new URL: at once


def test_no_service_needs_attention_and_stops_posting(session, office, fake_slack) -> None:
    fake_slack.then(Reply(status=404, message="no_service"))
    for n in range(3):
        service.hot_new_lead(
            session, lead=hot_lead(session, office, first_name=f"L{n}"), agent=None, now=NOW
        )
    assert run_job(session, NOW)["needs_attention"] == 1
    status = slack_status(session, viewer=viewer_for(office.manager))
    assert status.state == "needs_attention"
    assert status.last_error == (
        "Slack answered 404 no_service: the webhook was removed or disabled "
        "(or its Slack app uninstalled)"
    )
    for minutes in (1, 15, 60, 600):  # no retry storm: nothing more is posted
        run_job(session, NOW + timedelta(minutes=minutes))
    assert fake_slack.attempts == 1
    assert {r.status for r in rows(session)} == {"queued"}
    # Reconfigured: what waited goes out.
    save_slack(
        session,
        viewer=viewer_for(office.manager),
        changes=SlackChanges(url=fake_slack.webhook("new")),
        now=NOW + timedelta(hours=11),
    )
    assert run_job(session, NOW + timedelta(hours=11))["sent"] == 3
    assert len(fake_slack.posts_to("new")) == 3
    assert slack_status(session, viewer=viewer_for(office.manager)).state == "ok"


def test_an_agents_refused_webhook_needs_attention_only_for_them(
    session, office, fake_slack
) -> None:
    agents_slack = FakeSlack()
    try:
        office.agent.slack_webhook_url = agents_slack.webhook("ana")
        agents_slack.then(Reply(status=403, message="invalid_token"))
        service.hot_new_lead(session, lead=hot_lead(session, office), agent=office.agent, now=NOW)
        run_job(session, NOW)
        assert (
            office.agent.slack_webhook_error
            == "Slack answered 403 invalid_token: the webhook's token is invalid or was revoked"
        )
        assert slack_status(session, viewer=viewer_for(office.manager)).state == "ok"
        assert len(fake_slack.posts_to("office")) == 1
        run_job(session, NOW + timedelta(hours=1))
        assert agents_slack.attempts == 1
    finally:
        agents_slack.close()


def test_untrusted_names_are_escaped(session, office, fake_slack) -> None:
    lead = hot_lead(session, office, first_name="<!channel>", last_name="& co")
    service.hot_new_lead(session, lead=lead, agent=None, now=NOW)
    run_job(session, NOW)
    [post] = fake_slack.posts_to("office")
    assert "&lt;!channel&gt; &amp; co" in post["blocks"][0]["text"]["text"]
    assert "<!channel>" not in post["blocks"][0]["text"]["text"]


def test_alerts_off_or_event_off_queue_nothing(session, office, fake_slack) -> None:
    viewer = viewer_for(office.manager)
    save_slack(
        session,
        viewer=viewer,
        changes=SlackChanges(events=[config.REPLY_WAITING]),
        now=NOW,
    )
    lead = hot_lead(session, office)
    assert service.hot_new_lead(session, lead=lead, agent=None, now=NOW) == 0
    save_slack(session, viewer=viewer, changes=SlackChanges(enabled=False), now=NOW)
    assert slack_status(session, viewer=viewer).state == "off"
    assert service.hot_new_lead(session, lead=lead, agent=None, now=NOW) == 0
    assert rows(session) == []


def test_erasing_a_lead_removes_its_alerts(session, office, fake_slack) -> None:
    lead = hot_lead(session, office)
    service.hot_new_lead(session, lead=lead, agent=None, now=NOW)
    erase_lead(session, viewer=viewer_for(office.manager), lead_id=lead.id, now=NOW)
    assert rows(session) == []


# --- Settings: configure, test connection, roles ----------------------------------------------


def _test_connection(session, viewer) -> str:
    destination = delivery.test_destination(session, viewer=viewer)
    payload = delivery.test_payload(session, viewer.tenant_id, viewer)
    answer = asyncio.run(delivery.post_test(destination, payload))
    delivery.record_test(session, viewer=viewer, destination=destination, answer=answer, now=NOW)
    return answer.detail


def test_the_test_message_shows_slacks_answer_or_its_exact_error(
    session, office, fake_slack
) -> None:
    viewer = viewer_for(office.manager)
    assert _test_connection(session, viewer) == "Slack answered 200 ok"
    [post] = fake_slack.posts_to("office")
    assert "Test from the Lead Recovery engine" in post["text"]
    fake_slack.then(Reply(status=410, message="channel_is_archived"))
    assert _test_connection(session, viewer) == (
        "Slack answered 410 channel_is_archived: the webhook's channel is archived"
    )
    assert slack_status(session, viewer=viewer).state == "needs_attention"
    # Someone unarchived the channel: a test that goes through lifts "needs attention".
    assert _test_connection(session, viewer) == "Slack answered 200 ok"
    assert slack_status(session, viewer=viewer).state == "ok"


def test_the_test_message_without_a_url_says_what_to_do(session, fake_slack) -> None:
    tenant = make_tenant(session)
    viewer = viewer_for(make_user(session, tenant, role=Role.MANAGER))
    with pytest.raises(Conflict, match="No Slack webhook URL yet"):
        delivery.test_destination(session, viewer=viewer)


def test_the_environment_default_applies_until_the_office_sets_its_own(
    session, fake_slack, monkeypatch
) -> None:
    monkeypatch.setenv("SLACK_WEBHOOK_URL", fake_slack.webhook("deployment"))
    reload_settings()
    tenant = make_tenant(session)
    viewer = viewer_for(make_user(session, tenant, role=Role.MANAGER))
    status = slack_status(session, viewer=viewer)
    assert (status.state, status.source) == ("ok", "environment")
    assert "…ment" in status.masked_url and "deployment" not in status.masked_url
    lead = make_lead(session, tenant, score=95)
    service.hot_new_lead(session, lead=lead, agent=None, now=NOW)
    run_job(session, NOW)
    assert len(fake_slack.posts_to("deployment")) == 1


def test_agents_cannot_see_or_change_the_office_slack(session, office) -> None:
    agent = viewer_for(office.agent)
    with pytest.raises(Forbidden):
        save_slack(session, viewer=agent, changes=SlackChanges(url="https://x.example/h"), now=NOW)
    with pytest.raises(Forbidden):
        slack_status(session, viewer=agent)
    with pytest.raises(Forbidden):
        delivery.test_destination(session, viewer=agent)


def test_bad_settings_are_refused_with_reasons(session, office) -> None:
    with pytest.raises(ValidationFailed) as refused:
        save_slack(
            session,
            viewer=viewer_for(office.manager),
            changes=SlackChanges(
                url="http://hooks.slack.com/services/x", failure_percent="0", failure_min="x"
            ),
            now=NOW,
        )
    assert set(refused.value.fields) == {"slack_url", "failure_percent", "failure_min"}


def test_demo_offices_post_nothing(session, office, fake_slack) -> None:
    office.tenant.is_demo = True
    lead = hot_lead(session, office)
    assert service.hot_new_lead(session, lead=lead, agent=None, now=NOW) == 0
    assert slack_status(session, viewer=viewer_for(office.manager)).state == "off"
