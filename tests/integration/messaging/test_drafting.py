"""The AI drafter against a local server speaking Anthropic's Messages API, with the real SDK:
success and reuse, retries on 429/529, timeouts, garbage and unsafe output, the circuit breaker,
and no key at all (SQLite and PostgreSQL)."""

import json

import pytest
from sqlalchemy import select

from recovery_app.messaging.drafting import Drafter, DraftRequest, check_draft
from recovery_app.models import AiDraft, Channel
from recovery_app.settings import Settings
from tests.factories import NOW, make_tenant
from tests.fakes.anthropic_api import GOOD_EMAIL, AiReply, FakeAnthropic

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


def drafter(fake, clock=None, **settings) -> Drafter:
    config = Settings(
        anthropic_api_key=FakeAnthropic.API_KEY,
        anthropic_base_url=fake.url,
        anthropic_timeout_seconds=1,
        **settings,
    )
    return Drafter(
        config, clock=clock or Clock(), backoff=0.01, max_wait=0.05, sleep=lambda s: None
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
                "context": {"temperature": "warm", "source": "web_form"},
            }
            | fields
        )
    )


def test_a_draft_is_written_once_and_reused(session, fake) -> None:
    tenant = make_tenant(session)
    d = drafter(fake)
    first = d.draft(session, request(tenant), now=NOW)
    assert first.drafted_by == "ai" and "{{first_name}}" in first.body
    sent = fake.requests[0]
    assert sent["model"] == "claude-haiku-4-5" and "Answer with JSON only" in sent["system"]
    assert "silent_7d" in sent["messages"][0]["content"]
    row = session.execute(select(AiDraft)).scalar_one()
    assert (row.input_tokens, row.output_tokens, row.uses) == (420, 80, 1)
    assert row.cost_microdollars == 420 * 1 + 80 * 5

    again = d.draft(session, request(tenant), now=NOW)
    assert again.drafted_by == "ai_cached" and again.ai_draft_id == row.id
    assert len(fake.requests) == 1
    session.refresh(row)
    assert row.uses == 2
    # Another office never gets this office's draft.
    other = make_tenant(session)
    assert d.draft(session, request(other), now=NOW).drafted_by == "ai"


def test_email_drafts_need_their_subject(session, fake) -> None:
    tenant = make_tenant(session)
    fake.default_text = GOOD_EMAIL
    draft = drafter(fake).draft(session, request(tenant, channel=Channel.EMAIL), now=NOW)
    assert draft.drafted_by == "ai" and draft.subject == "Still looking, {{first_name}}?"


@pytest.mark.parametrize(
    "failure",
    [
        AiReply(status=429, headers={"retry-after": "0.01"}, error_type="rate_limit_error"),
        AiReply(status=529, error_type="overloaded_error"),
        AiReply(status=500),
    ],
)
def test_transient_errors_are_retried(session, fake, failure) -> None:
    tenant = make_tenant(session)
    fake.then(failure)
    draft = drafter(fake).draft(session, request(tenant), now=NOW)
    assert draft.drafted_by == "ai" and len(fake.requests) == 2


def test_timeouts_fall_back_to_the_template(session, fake) -> None:
    tenant = make_tenant(session)
    fake.then(*[AiReply(delay=1.5)] * 3)
    draft = drafter(fake).draft(session, request(tenant), now=NOW)
    assert draft.drafted_by == "template" and draft.body == TEMPLATE
    assert draft.note.startswith("AI unavailable")


def test_a_client_error_is_not_retried(session, fake) -> None:
    tenant = make_tenant(session)
    fake.then(AiReply(status=400, error_type="invalid_request_error"))
    draft = drafter(fake).draft(session, request(tenant), now=NOW)
    assert draft.drafted_by == "template" and len(fake.requests) == 1


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("Sure! Here is a lovely message for you.", "not the JSON"),
        (json.dumps({"body": "Hi {{nickname}}! Reply STOP to opt out."}), "unknown placeholders"),
        (
            json.dumps({"body": "Hi [Name], see https://evil.example/x Reply STOP"}),
            "link to evil.example",
        ),
        (json.dumps({"body": "Hi {{first_name}}, a quiet home, adults only."}), "opt-out"),
        (
            json.dumps({"body": "Hi {{first_name}}, perfect for young couples. Reply STOP"}),
            "Fair Housing",
        ),
        (
            json.dumps({"body": "Hi {{first_name}} " + "so much to say " * 40 + "Reply STOP"}),
            "SMS segments",
        ),
    ],
)
def test_unsafe_or_garbage_output_is_rejected(session, fake, text, why) -> None:
    tenant = make_tenant(session)
    fake.then(AiReply(text=text))
    draft = drafter(fake).draft(session, request(tenant), now=NOW)
    assert draft.drafted_by == "template" and why in draft.note
    assert session.execute(select(AiDraft)).first() is None


def test_the_breaker_opens_after_five_failures_and_half_opens_later(session, fake) -> None:
    tenant = make_tenant(session)
    clock = Clock()
    d = drafter(fake, clock=clock)
    d.attempts = 1
    fake.then(*[AiReply(status=500)] * 5)
    for i in range(5):
        assert d.draft(session, request(tenant, key=f"k{i}"), now=NOW).drafted_by == "template"
    assert len(fake.requests) == 5
    blocked = d.draft(session, request(tenant, key="k5"), now=NOW)
    assert blocked.note == "AI circuit open" and len(fake.requests) == 5
    clock.now += 61
    assert d.draft(session, request(tenant, key="k6"), now=NOW).drafted_by == "ai"
    assert d.draft(session, request(tenant, key="k7"), now=NOW).drafted_by == "ai"


def test_without_a_key_the_template_path_makes_no_call(session, fake) -> None:
    tenant = make_tenant(session)
    d = Drafter(Settings(anthropic_api_key=None, anthropic_base_url=fake.url))
    draft = d.draft(session, request(tenant), now=NOW)
    assert (draft.drafted_by, draft.note) == ("template", "no ANTHROPIC_API_KEY")
    assert fake.requests == []


def test_check_draft_rules() -> None:
    settings = Settings(fair_housing_blocklist="no pets allowed, bachelor pad")
    ok = "Hi {{first_name}}, new homes came up. Reply STOP to opt out."
    assert check_draft(Channel.SMS, None, ok, require_opt_out=True, settings=settings) == []
    assert check_draft(
        Channel.SMS, None, "A bachelor pad! Reply STOP", require_opt_out=True, settings=settings
    )
    assert check_draft(Channel.EMAIL, None, "Hello", require_opt_out=False, settings=settings) == [
        "an email needs a subject"
    ]
    ours = f"Book here: {settings.app_base_url}/book Reply STOP"
    assert check_draft(Channel.SMS, None, ours, require_opt_out=True, settings=settings) == []
