"""GET /api/v1/metrics: the exposition parses, and each counter moves when its event happens -
an intake, a send, a compliance hold, a refused signature, a job run, an AI call (SQLite and
PostgreSQL; the providers are local fake servers)."""

from datetime import UTC, datetime

from recovery_app.db import session_scope
from recovery_app.jobs.registry import JOBS
from recovery_app.jobs.runner import run_window
from recovery_app.messaging.drafting import Drafter, DraftRequest
from recovery_app.models import Channel, MessageStatus
from recovery_app.settings import Settings
from tests.fakes.anthropic_api import USAGE, FakeAnthropic
from tests.integration.observability.conftest import (
    MARIA,
    chicago_night_tomorrow,
    chicago_noon_tomorrow,
    messages_of,
    scrape,
    value,
)


def test_intake_outbox_sends_holds_and_speed_to_lead(office) -> None:
    before = scrape(office.client)
    created = office.post_lead(MARIA)
    assert created.status_code == 201
    lead_id = created.json()["lead_id"]
    assert office.post_lead(MARIA | {"first_name": "Mary"}).status_code == 200  # merged
    blocked = office.post_lead(
        MARIA | {"phone": "+15125550177", "email": "ben@example.com", "consent": {}}
    )
    after_intake = scrape(office.client)
    intake = "recovery_intake_total"
    for result, moved in (("created", 2), ("merged", 1)):
        labels = {"via": "webhook", "source": "web_form", "result": result}
        assert value(after_intake, intake, **labels) - value(before, intake, **labels) == moved
    # Each new lead queued its first SMS and email, due now.
    queued = value(after_intake, "recovery_outbox_messages", state="queued")
    assert queued == value(after_intake, "recovery_outbox_messages", state="due") == 4
    assert value(after_intake, "recovery_outbox_oldest_due_age_seconds") >= 0

    # 21:40 in Chicago: Maria's SMS waits for the morning, her email goes; the lead without
    # consent gets nothing.
    office.dispatcher(chicago_night_tomorrow()).drain()
    night = scrape(office.client)
    office.dispatcher(chicago_noon_tomorrow()).drain()
    after = scrape(office.client)

    def moved(samples, name, **labels) -> float:
        return value(samples, name, **labels) - value(before, name, **labels)

    assert (
        moved(
            night,
            "recovery_compliance_holds_total",
            channel="sms",
            action="hold",
            reason="quiet_hours",
        )
        == 1
    )
    for channel in ("sms", "email"):
        assert (
            moved(
                after,
                "recovery_compliance_holds_total",
                channel=channel,
                action="block",
                reason="no_consent",
            )
            == 1
        )
    assert (
        moved(after, "recovery_sends_total", channel="sms", provider="twilio", status="sent") == 1
    )
    assert (
        moved(after, "recovery_sends_total", channel="email", provider="sendgrid", status="sent")
        == 1
    )
    assert (
        moved(after, "recovery_provider_request_seconds_count", provider="twilio", operation="send")
        == 1
    )
    assert moved(after, "recovery_speed_to_lead_seconds_count") == 1  # Maria's first message
    assert value(after, "recovery_outbox_messages", state="queued") == 0
    statuses = {(m.channel, m.status) for m in messages_of(lead_id)}
    assert statuses == {(Channel.SMS, MessageStatus.SENT), (Channel.EMAIL, MessageStatus.SENT)}
    assert blocked.status_code == 201


def test_refused_signatures_are_counted_from_the_database(office) -> None:
    before = scrape(office.client)
    assert office.post_lead(MARIA, secret="wrong-secret").status_code == 401
    assert office.post_lead(MARIA, secret="").status_code == 401
    after = scrape(office.client)
    name = "recovery_webhook_signature_failures_total"
    assert value(after, name, provider="leads") - value(before, name, provider="leads") == 2
    labels = {"via": "webhook", "source": "unknown", "result": "unauthenticated"}
    assert (
        value(after, "recovery_intake_total", **labels)
        - value(before, "recovery_intake_total", **labels)
        == 2
    )
    assert value(after, "recovery_metrics_database_up") == 1


def test_a_transient_provider_error_counts_a_retry(office) -> None:
    from tests.fakes.providers import Reply

    before = scrape(office.client)
    office.providers.twilio.then(Reply(status=503))
    office.post_lead(MARIA)
    office.dispatcher(chicago_noon_tomorrow()).drain()
    after = scrape(office.client)
    labels = {"channel": "sms", "provider": "twilio"}
    assert (
        value(after, "recovery_send_retries_total", **labels)
        - value(before, "recovery_send_retries_total", **labels)
        == 1
    )
    status = labels | {"status": "retry"}
    assert (
        value(after, "recovery_sends_total", **status)
        - value(before, "recovery_sends_total", **status)
        == 1
    )


def test_job_runs_are_timed(office) -> None:
    before = scrape(office.client)
    job = JOBS["process_webhook_inbox"]
    assert run_window(job, now=datetime.now(UTC), worker="obs-test", window=datetime.now(UTC))
    after = scrape(office.client)
    labels = {"job": "process_webhook_inbox", "result": "ok"}
    name = "recovery_job_duration_seconds_count"
    assert value(after, name, **labels) - value(before, name, **labels) == 1


def test_ai_calls_and_tokens_are_counted(office) -> None:
    fake = FakeAnthropic()
    try:
        drafter = Drafter(
            Settings(anthropic_api_key=FakeAnthropic.API_KEY, anthropic_base_url=fake.url),
            backoff=0.01,
            sleep=lambda seconds: None,
        )
        before = scrape(office.client)
        with session_scope() as session:
            draft = drafter.draft(
                session,
                DraftRequest(
                    tenant_id=office.tenant_id,
                    channel=Channel.SMS,
                    cache_key="metrics-test",
                    campaign_step_id=None,
                    situation="silent_7d",
                    goal="reply",
                    template_subject=None,
                    template_body="Hi {{first_name}}, still looking? Reply STOP to opt out.",
                    context={"temperature": "warm", "source": "web_form"},
                ),
                now=datetime.now(UTC),
            )
        assert draft.drafted_by == "ai"
        after = scrape(office.client)
    finally:
        fake.close()
    model = drafter.model

    def moved(name, **labels) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("recovery_ai_calls_total", model=model, result="ok") == 1
    assert moved("recovery_ai_tokens_total", model=model, kind="input") == USAGE["input_tokens"]
    assert moved("recovery_ai_tokens_total", model=model, kind="output") == USAGE["output_tokens"]
    assert (
        moved(
            "recovery_provider_request_seconds_count",
            provider="anthropic",
            operation="messages.create",
        )
        == 1
    )
