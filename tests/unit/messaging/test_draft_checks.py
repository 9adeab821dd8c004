"""What an AI draft (or an edited one in the approval queue) must pass before it may go out,
how the model's answer is read, and what a call costs."""

import json

import pytest

from recovery_app.messaging.draft_checks import (
    FAIR_HOUSING_BLOCKLIST,
    allowed_hosts_of,
    blocklist_of,
    check_draft,
    parse_draft,
)
from recovery_app.messaging.drafting import cost_microdollars
from recovery_app.models import Channel
from recovery_app.settings import Settings

HOSTS = frozenset({"app.example.com"})
OK_SMS = "Hi {{first_name}}, new homes came up near {{city}}. Reply STOP to opt out."


def sms(body: str, *, require_opt_out: bool = True, blocklist=FAIR_HOUSING_BLOCKLIST) -> list[str]:
    return check_draft(
        Channel.SMS,
        None,
        body,
        require_opt_out=require_opt_out,
        allowed_hosts=HOSTS,
        blocklist=blocklist,
    )


def email(subject: str | None, body: str) -> list[str]:
    return check_draft(
        Channel.EMAIL,
        subject,
        body,
        require_opt_out=False,
        allowed_hosts=HOSTS,
        blocklist=FAIR_HOUSING_BLOCKLIST,
    )


def test_a_good_sms_and_email_pass() -> None:
    assert sms(OK_SMS) == []
    assert email("Still looking, {{first_name}}?", "Hi {{first_name}}, any questions?") == []


def test_sms_length_is_counted_in_segments_after_rendering_with_fallbacks() -> None:
    # "Hi there. " + 295 + " Reply STOP" = 316 GSM-7 characters rendered: 3 segments of 153.
    assert sms("Hi {{first_name}}. " + "x" * 285 + " Reply STOP") == []
    assert sms("Hi {{first_name}}. " + "x" * 295 + " Reply STOP") == ["3 SMS segments (at most 2)"]
    # One emoji makes it UCS-2 (67 characters a segment).
    assert sms("Hi {{first_name}} 🏡 " + "y" * 120 + " Reply STOP") == [
        "3 SMS segments (at most 2)"
    ]


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("Hi {{nickname}}! Reply STOP", "unknown placeholders {{nickname}}"),
        ("Hi {{ First Name }}! Reply STOP", "unfilled placeholder '{{'"),
        ("Hi [Name], still looking? Reply STOP", "unfilled placeholder '[Name]'"),
        ("Hi [your name], still looking? Reply STOP", "unfilled placeholder '[your name]'"),
        ("Hi {first_name}, still looking? Reply STOP", "unfilled placeholder '{first_name}'"),
        ("Hi <FIRST_NAME>, still looking? Reply STOP", "unfilled placeholder '<FIRST_NAME>'"),
        ("Hi <b>there</b>! Reply STOP", "HTML markup (messages are plain text)"),
        ("", "empty body"),
    ],
)
def test_placeholders_must_be_known_and_filled(body: str, problem: str) -> None:
    assert problem in sms(body)


@pytest.mark.parametrize(
    ("body", "host"),
    [
        ("See https://evil.example/x Reply STOP", "evil.example"),
        ("See http://app.example.com.evil.io/x Reply STOP", "app.example.com.evil.io"),
        ("See www.zillow.com/homes Reply STOP", "www.zillow.com"),
        ("See bit.ly/3abc Reply STOP", "bit.ly"),
    ],
)
def test_links_only_to_the_app(body: str, host: str) -> None:
    assert sms(body) == [f"link to {host} (allowed: app.example.com)"]


def test_links_to_the_app_and_email_addresses_are_fine() -> None:
    assert sms("Book: https://app.example.com/book?x=1 Reply STOP") == []
    assert sms("Book: HTTPS://APP.EXAMPLE.COM/book Reply STOP") == []
    assert email("Hi", "Write to jane@office.com any time.") == []


@pytest.mark.parametrize(
    "body",
    [
        "Hi {{first_name}}, still looking?",
        "Hi {{first_name}}, stop by the open house!",
        "Hi {{first_name}}, nonstop listings.",
    ],
)
def test_sms_needs_opt_out_wording(body: str) -> None:
    assert sms(body) == ['no opt-out wording ("Reply STOP to opt out")']
    assert sms(body, require_opt_out=False) == []


@pytest.mark.parametrize(
    "body", ["Hi! Reply STOP to opt out.", "Hi! Text STOP to end.", "Hi! reply stop to opt out"]
)
def test_opt_out_wording_variants(body: str) -> None:
    assert sms(body) == []


def test_email_needs_a_short_subject() -> None:
    assert email(None, "Hello") == ["an email needs a subject"]
    assert email("   ", "Hello") == ["an email needs a subject"]
    assert email("x" * 151, "Hello") == ["subject over 150 characters"]


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("A quiet street, adults only.", "adults only"),
        ("Perfect for Young Couples!", "perfect for young couples"),
        ("A Christian  neighborhood.", "christian neighborhood"),
        ("Able bodied buyers only.", "able-bodied"),
        ("No Section 8, sorry.", "no section 8"),
        ("Walking distance to church", "walking distance to church"),
    ],
)
def test_fair_housing_phrases(text: str, phrase: str) -> None:
    assert sms(text + " Reply STOP") == [f'Fair Housing phrase "{phrase}"']
    assert email("Hi", text) == [f'Fair Housing phrase "{phrase}"']


def test_fair_housing_phrases_match_whole_words_only() -> None:
    assert sms("Know kids' schools nearby? Reply STOP") == []
    assert sms("Casino kids club. Reply STOP") == []  # "no kids" inside "casino kids"


def test_the_blocklist_setting_adds_phrases() -> None:
    settings = Settings(fair_housing_blocklist=" No Pets Allowed , bachelor pad,, ")
    phrases = blocklist_of(settings)
    assert phrases[: len(FAIR_HOUSING_BLOCKLIST)] == FAIR_HOUSING_BLOCKLIST
    assert phrases[len(FAIR_HOUSING_BLOCKLIST) :] == ("no pets allowed", "bachelor pad")
    assert sms("A real bachelor pad. Reply STOP", blocklist=phrases) == [
        'Fair Housing phrase "bachelor pad"'
    ]
    assert sms("A real bachelor pad. Reply STOP") == []


def test_defaults_come_from_the_settings(monkeypatch) -> None:
    from recovery_app.settings import reload_settings

    monkeypatch.setenv("APP_BASE_URL", "https://leads.example.org")
    monkeypatch.setenv("FAIR_HOUSING_BLOCKLIST", "bachelor pad")
    try:
        settings = reload_settings()
        assert allowed_hosts_of(settings) == {"leads.example.org"}
        body = "A bachelor pad: https://leads.example.org/x https://x.io Reply STOP"
        assert check_draft(Channel.SMS, None, body, require_opt_out=True) == [
            "link to x.io (allowed: leads.example.org)",
            'Fair Housing phrase "bachelor pad"',
        ]
    finally:
        monkeypatch.undo()
        reload_settings()


@pytest.mark.parametrize(
    "text",
    [
        '{"subject": null, "body": "Hi {{first_name}}"}',
        'Here you go:\n```json\n{"subject": null, "body": "Hi {{first_name}}"}\n```\nEnjoy!',
        'Using {{first_name}} as asked: {"body": "Hi {{first_name}}"} - done.',
    ],
)
def test_parse_draft_finds_the_json(text: str) -> None:
    assert parse_draft(text, Channel.SMS) == (None, "Hi {{first_name}}")


def test_parse_draft_keeps_the_subject_for_email_only() -> None:
    text = json.dumps({"subject": " Hello ", "body": " Hi "})
    assert parse_draft(text, Channel.EMAIL) == ("Hello", "Hi")
    assert parse_draft(text, Channel.SMS) == (None, "Hi")


@pytest.mark.parametrize(
    "text",
    [
        "Sure! Here is a lovely message.",
        '{"subject": "x", "body": ',
        '{"text": "Hi"}',
        '{"body": ""}',
        '{"body": 12}',
        '["Hi"]',
    ],
)
def test_parse_draft_rejects_garbage(text: str) -> None:
    assert parse_draft(text, Channel.SMS) is None


def test_cost_in_microdollars() -> None:
    assert cost_microdollars("claude-haiku-4-5", 1_000_000, 0) == 1_000_000
    assert cost_microdollars("claude-haiku-4-5-20251001", 420, 80) == 420 * 1 + 80 * 5
    assert cost_microdollars("claude-sonnet-4-5-20250929", 100, 10) == 100 * 3 + 10 * 15
    # Unknown: priced like the dearest model, never under-counted.
    assert cost_microdollars("some-new-model", 100, 10) == 100 * 15 + 10 * 75
