"""The AI drafter against a local server speaking Anthropic's Messages API, with the real SDK:
success and reuse, retries on 429/529/5xx, timeouts, garbage and unsafe output, the circuit
breaker, and no key at all (SQLite and PostgreSQL)."""

import json
import threading

import pytest
from sqlalchemy import select

from recovery_app.messaging import drafting
from recovery_app.messaging.drafting import CircuitBreaker, Drafter, DraftRequest
from recovery_app.models import AiDraft, Channel
from recovery_app.settings import Settings, reload_settings
from tests.factories import NOW, make_tenant
from tests.fakes.anthropic_api import GOOD_EMAIL, GOOD_SMS, AiReply, FakeAnthropic

TEMPLATE = "Hi {{first_name}}, still looking? Reply STOP to opt out."


@pytest.fixture
def fake():
    server = FakeAnthropic()
    yield server
    server.close()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def drafter(fake, *, clock=None, sleeps=None, **settings) -> Drafter:
    config = Settings(
        **(
            {
                "anthropic_api_key": FakeAnthropic.API_KEY,
                "anthropic_base_url": fake.url,
                "anthropic_timeout_seconds": 0.25,
            }
            | settings
        )
    )
    return Drafter(
        config,
        clock=clock or Clock(),
        backoff=0.01,
        max_wait=5,
        sleep=(sleeps.append if sleeps is not None else lambda seconds: None),
    )


def request(tenant, key="step:1:seg:warm|web_form", channel=Channel.SMS, **fields) -> DraftRequest:
    return DraftRequest(
        **(
            {
                "tenant_id": tenant.id,
                "channel": channel,
                "cache_key": key,
                "campaign_step_id": None,
                "situation": "silent_7d",
                "goal": "reply",
                "template_subject": None if channel == Channel.SMS else "Checking in",
                "template_body": TEMPLATE,
                "context": {
                    "temperature": "warm",
                    "source": "web_form",
                    "tenant_voice": "plain-spoken and friendly",
                },
            }
            | fields
        )
    )


def stored(session) -> list[AiDraft]:
    return list(session.execute(select(AiDraft)).scalars())


def test_a_fresh_draft_is_checked_stored_and_priced(session, fake) -> None:
    tenant = make_tenant(session)
    draft = drafter(fake).draft(session, request(tenant), now=NOW)

    assert draft == drafting.Draft(None, json.loads(GOOD_SMS)["body"], "ai", draft.ai_draft_id)
    assert fake.paths == ["/v1/messages"]
    headers = fake.headers[0]
    assert FakeAnthropic.API_KEY in (headers.get("x-api-key"), headers.get("authorization", "")[7:])
    assert headers["anthropic-version"]
    sent = fake.requests[0]
    assert sent["model"] == "claude-haiku-4-5" and sent["max_tokens"] == drafting.MAX_TOKENS
    assert sent["system"] == drafting.SYSTEM_PROMPT
    assert "{{first_name}}" in sent["system"] and "JSON" in sent["system"]
    [message] = sent["messages"]
    assert message["role"] == "user"
    for part in ("silent_7d", "get a reply", "warm", "plain-spoken and friendly", TEMPLATE):
        assert part in message["content"]

    [row] = stored(session)
    assert (row.id, row.tenant_id, row.cache_key) == (
        draft.ai_draft_id,
        tenant.id,
        request(tenant).cache_key,
    )
    assert (row.model, row.input_tokens, row.output_tokens, row.uses) == (
        "claude-haiku-4-5",
        420,
        80,
        1,
    )
    assert row.cost_microdollars == 420 * 1 + 80 * 5
    assert row.created_at.replace(tzinfo=NOW.tzinfo) == NOW


def test_the_model_setting_is_used_and_priced(session, fake) -> None:
    tenant = make_tenant(session)
    d = drafter(fake, anthropic_model="claude-sonnet-4-6")
    d.draft(session, request(tenant), now=NOW)
    assert fake.requests[0]["model"] == "claude-sonnet-4-6"
    assert stored(session)[0].cost_microdollars == 420 * 3 + 80 * 15


def test_a_stored_draft_is_reused_without_a_call(session, fake) -> None:
    tenant = make_tenant(session)
    d = drafter(fake)
    first = d.draft(session, request(tenant), now=NOW)
    again = d.draft(session, request(tenant), now=NOW)
    third = drafter(fake).draft(session, request(tenant), now=NOW)  # another process
    assert (again.drafted_by, again.ai_draft_id, again.body) == (
        "ai_cached",
        first.ai_draft_id,
        first.body,
    )
    assert third.drafted_by == "ai_cached" and len(fake.requests) == 1
    [row] = stored(session)
    session.refresh(row)
    assert row.uses == 3
    # Another office never gets this office's draft; another segment gets its own.
    assert d.draft(session, request(make_tenant(session)), now=NOW).drafted_by == "ai"
    assert (
        d.draft(session, request(tenant, key="step:1:seg:hot|web_form"), now=NOW).drafted_by == "ai"
    )
    assert len(fake.requests) == 3


def test_one_off_drafts_skip_the_lookup_and_a_lost_race_returns_the_winner(session, fake) -> None:
    tenant = make_tenant(session)
    d = drafter(fake)
    d.draft(session, request(tenant, key="lead:7:silent_7d"), now=NOW)
    # Same key again with reuse=False: a fresh call, whose insert finds the key taken (as when
    # two workers draft at once): one row stays, and the winner's text is returned.
    fake.default_text = json.dumps({"body": "Other words, {{first_name}}. Reply STOP"})
    late = d.draft(session, request(tenant, key="lead:7:silent_7d", reuse=False), now=NOW)
    [row] = stored(session)
    assert len(fake.requests) == 2
    assert (late.drafted_by, late.ai_draft_id, late.body) == ("ai_cached", row.id, row.body)
    assert "Other words" not in late.body


def test_email_drafts_keep_their_subject(session, fake) -> None:
    tenant = make_tenant(session)
    fake.default_text = GOOD_EMAIL
    draft = drafter(fake).draft(session, request(tenant, channel=Channel.EMAIL), now=NOW)
    assert draft.drafted_by == "ai" and draft.subject == "Still looking, {{first_name}}?"
    assert "Channel: email" in fake.requests[0]["messages"][0]["content"]


def test_429_honours_retry_after_then_succeeds(session, fake) -> None:
    tenant = make_tenant(session)
    sleeps: list[float] = []
    fake.then(AiReply.rate_limited(retry_after=2))
    draft = drafter(fake, sleeps=sleeps).draft(session, request(tenant), now=NOW)
    assert draft.drafted_by == "ai" and len(fake.requests) == 2
    assert sleeps == [2.0]


def test_a_retry_after_beyond_the_cap_gives_up_at_once(session, fake) -> None:
    tenant = make_tenant(session)
    sleeps: list[float] = []
    fake.then(AiReply.rate_limited(retry_after=30))
    draft = drafter(fake, sleeps=sleeps).draft(session, request(tenant), now=NOW)
    assert (draft.drafted_by, draft.body) == ("template", TEMPLATE)
    assert draft.note == "AI unavailable: HTTP 429, retry after 30 s"
    assert len(fake.requests) == 1 and sleeps == []


@pytest.mark.parametrize("failure", [AiReply.overloaded(), AiReply.server_error()])
def test_overloaded_and_server_errors_are_retried(session, fake, failure) -> None:
    tenant = make_tenant(session)
    sleeps: list[float] = []
    fake.then(failure, failure)
    draft = drafter(fake, sleeps=sleeps).draft(session, request(tenant), now=NOW)
    assert draft.drafted_by == "ai" and len(fake.requests) == 3
    assert sleeps == [0.01, 0.02]  # exponential backoff


def test_three_failed_attempts_fall_back_to_the_template(session, fake) -> None:
    tenant = make_tenant(session)
    fake.then(*[AiReply.overloaded()] * 3)
    draft = drafter(fake).draft(session, request(tenant), now=NOW)
    assert (draft.drafted_by, draft.subject, draft.body) == ("template", None, TEMPLATE)
    assert draft.note == "AI unavailable: HTTP 529 after 3 attempts"
    assert len(fake.requests) == 3 and stored(session) == []


def test_timeouts_fall_back_to_the_template(session, fake) -> None:
    tenant = make_tenant(session)
    fake.then(*[AiReply.stall(0.6)] * 3)
    draft = drafter(fake).draft(session, request(tenant), now=NOW)
    assert (draft.drafted_by, draft.body) == ("template", TEMPLATE)
    assert draft.note == "AI unavailable: timeout after 3 attempts"
    assert len(fake.requests) == 3


@pytest.mark.parametrize(
    ("status", "kind"), [(400, "invalid_request_error"), (401, "authentication_error")]
)
def test_other_client_errors_are_not_retried(session, fake, status, kind) -> None:
    tenant = make_tenant(session)
    fake.then(AiReply(status=status, error_type=kind))
    draft = drafter(fake).draft(session, request(tenant), now=NOW)
    assert draft.drafted_by == "template" and draft.note == f"AI unavailable: HTTP {status}"
    assert len(fake.requests) == 1


def test_a_wrong_key_takes_the_template_path(session, fake) -> None:
    tenant = make_tenant(session)
    draft = drafter(fake, anthropic_api_key="sk-wrong").draft(session, request(tenant), now=NOW)
    assert (draft.drafted_by, draft.note) == ("template", "AI unavailable: HTTP 401")


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("Sure! Here is a lovely message for you.", "not the JSON asked for"),
        (json.dumps({"body": "Hi {{nickname}}! Reply STOP to opt out."}), "unknown placeholders"),
        (json.dumps({"body": "Hi [Name], still looking? Reply STOP"}), "unfilled placeholder"),
        (
            json.dumps({"body": "Hi {{first_name}}, see https://evil.example/x Reply STOP"}),
            "link to evil.example",
        ),
        (json.dumps({"body": "Hi {{first_name}}, still looking?"}), "no opt-out wording"),
        (
            json.dumps({"body": "Hi {{first_name}}, perfect for young couples. Reply STOP"}),
            'Fair Housing phrase "perfect for young couples"',
        ),
        (
            json.dumps({"body": "Hi {{first_name}} " + "so much to say " * 40 + "Reply STOP"}),
            "SMS segments",
        ),
    ],
)
def test_garbage_or_unsafe_output_takes_the_template_path(session, fake, text, why) -> None:
    tenant = make_tenant(session)
    fake.then(AiReply(text=text))
    draft = drafter(fake).draft(session, request(tenant), now=NOW)
    assert (draft.drafted_by, draft.body, draft.ai_draft_id) == ("template", TEMPLATE, None)
    assert draft.note.startswith("AI draft rejected: ") and why in draft.note
    assert stored(session) == []


def test_the_setting_extends_the_blocklist(session, fake) -> None:
    tenant = make_tenant(session)
    fake.default_text = json.dumps({"body": "Hi {{first_name}}, a true bachelor pad. Reply STOP"})
    d = drafter(fake, fair_housing_blocklist="bachelor pad")
    draft = d.draft(session, request(tenant), now=NOW)
    assert draft.note == 'AI draft rejected: Fair Housing phrase "bachelor pad"'


def test_a_rejected_key_is_not_redrafted_for_every_lead(session, fake) -> None:
    tenant = make_tenant(session)
    clock = Clock()
    d = drafter(fake, clock=clock)
    fake.default_text = "garbage"
    notes = {d.draft(session, request(tenant), now=NOW).note for _ in range(5)}
    assert notes == {"AI draft rejected: not the JSON asked for"} and len(fake.requests) == 1
    clock.now += 601  # the memory lasts ten minutes
    fake.default_text = GOOD_SMS
    assert d.draft(session, request(tenant), now=NOW).drafted_by == "ai"


def test_the_breaker_opens_after_five_failures_and_half_opens_later(session, fake) -> None:
    tenant = make_tenant(session)
    clock = Clock()
    d = drafter(fake, clock=clock)
    d.attempts = 1
    fake.then(*[AiReply.server_error()] * 5)
    for i in range(5):
        clock.now += 10  # five failures within 60 s
        assert d.draft(session, request(tenant, key=f"k{i}"), now=NOW).drafted_by == "template"
    assert len(fake.requests) == 5
    for i in range(3):
        blocked = d.draft(session, request(tenant, key=f"open{i}"), now=NOW)
        assert (blocked.drafted_by, blocked.note) == ("template", "AI circuit open")
    clock.now += 59
    assert d.draft(session, request(tenant, key="still"), now=NOW).note == "AI circuit open"
    assert len(fake.requests) == 5  # no request while open

    # Half-open after 60 s: a failed trial opens it again for another 60 s ...
    clock.now += 1
    fake.then(AiReply.server_error())
    assert d.draft(session, request(tenant, key="trial1"), now=NOW).note.startswith(
        "AI unavailable"
    )
    assert d.draft(session, request(tenant, key="k6"), now=NOW).note == "AI circuit open"
    assert len(fake.requests) == 6
    # ... and a successful one closes it.
    clock.now += 60
    assert d.draft(session, request(tenant, key="trial2"), now=NOW).drafted_by == "ai"
    assert d.draft(session, request(tenant, key="k7"), now=NOW).drafted_by == "ai"
    assert len(fake.requests) == 8


def test_failures_spread_over_more_than_a_minute_do_not_open_it(session, fake) -> None:
    tenant = make_tenant(session)
    clock = Clock()
    d = drafter(fake, clock=clock)
    d.attempts = 1
    fake.then(*[AiReply.server_error()] * 8)
    for i in range(8):
        clock.now += 16  # never five within 60 s
        assert (
            d.draft(session, request(tenant, key=f"k{i}"), now=NOW).note
            == "AI unavailable: HTTP 500 after 1 attempts"
        )
    assert not d.breaker.is_open and len(fake.requests) == 8


def test_garbage_does_not_count_against_the_breaker(session, fake) -> None:
    tenant = make_tenant(session)
    d = drafter(fake)
    fake.default_text = "garbage"
    for i in range(6):
        d.draft(session, request(tenant, key=f"k{i}"), now=NOW)
    assert not d.breaker.is_open and len(fake.requests) == 6


def test_half_open_lets_exactly_one_trial_through_from_many_threads() -> None:
    clock = Clock()
    breaker = CircuitBreaker(clock=clock)
    for _ in range(5):
        breaker.failed()
    assert breaker.is_open and not breaker.allow()
    clock.now += 60
    allowed: list[bool] = []
    barrier = threading.Barrier(16)

    def ask() -> None:
        barrier.wait()
        allowed.append(breaker.allow())

    threads = [threading.Thread(target=ask) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert allowed.count(True) == 1
    breaker.succeeded()
    assert not breaker.is_open and breaker.allow()


def test_without_a_key_the_template_path_makes_no_call(session, fake) -> None:
    tenant = make_tenant(session)
    d = Drafter(Settings(anthropic_api_key=None, anthropic_base_url=fake.url))
    assert not d.enabled
    draft = d.draft(session, request(tenant, channel=Channel.EMAIL), now=NOW)
    assert draft == drafting.Draft(
        "Checking in", TEMPLATE, "template", None, "no ANTHROPIC_API_KEY"
    )
    assert fake.requests == [] and stored(session) == []


def test_get_drafter_is_one_per_process_and_follows_the_settings(monkeypatch, fake) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", FakeAnthropic.API_KEY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.url)
    try:
        reload_settings()
        drafting.reset_drafter()
        first = drafting.get_drafter()
        assert first is drafting.get_drafter() and first.enabled
        monkeypatch.delenv("ANTHROPIC_API_KEY")
        reload_settings()
        assert drafting.get_drafter() is not first and not drafting.get_drafter().enabled
    finally:
        monkeypatch.undo()
        reload_settings()
        drafting.reset_drafter()
