from dataclasses import replace
from datetime import UTC, datetime, time, timedelta

import pytest

from recovery_app.domain.compliance.guard import Action, Facts, check
from recovery_app.domain.compliance.state_rules import rules
from recovery_app.models import Channel, MessageCategory
from recovery_app.settings import Settings

NOON_CHICAGO = datetime(2026, 6, 1, 17, 0, tzinfo=UTC)
BASE = Facts(
    channel=Channel.SMS,
    category=MessageCategory.MARKETING,
    body="Still looking? Reply STOP to opt out.",
    to_address="+15125550123",
    lead_timezone="America/Chicago",
    lead_phone="+15125550123",
    tenant_timezone="America/Chicago",
    tenant_quiet_start=time(21),
    tenant_quiet_end=time(8),
    tenant_has_postal_address=True,
    consent=True,
    has_inbound=False,
    opted_out=False,
    revoked_elsewhere=False,
    suppressed=False,
    prior_outbound_sms=True,
    marketing_sent_last_24h=[],
    marketing_cap=3,
    state_rules=rules(Settings(state_quiet_hours="", state_rules_file=None)),
)


def test_a_compliant_message_is_sent_as_is() -> None:
    verdict = check(BASE, now=NOON_CHICAGO)
    assert verdict.action == Action.SEND and verdict.body is None


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"to_address": None}, "no_address"),
        ({"opted_out": True}, "opted_out"),
        ({"suppressed": True}, "suppressed"),
        ({"consent": False}, "no_consent"),
        ({"channel": Channel.EMAIL, "tenant_has_postal_address": False}, "no_postal_address"),
    ],
)
def test_blocks(changes, reason) -> None:
    verdict = check(replace(BASE, **changes), now=NOON_CHICAGO)
    assert (verdict.action, verdict.reason) == (Action.BLOCK, reason)


def test_a_conversation_the_lead_started_needs_no_recorded_consent() -> None:
    facts = replace(BASE, consent=False, has_inbound=True, category=MessageCategory.CONVERSATIONAL)
    assert check(facts, now=NOON_CHICAGO).action == Action.SEND
    assert check(replace(facts, has_inbound=False), now=NOON_CHICAGO).reason == "no_consent"


def test_a_person_texting_a_lead_who_never_wrote_keeps_quiet_hours() -> None:
    night = datetime(2026, 6, 2, 2, 40, tzinfo=UTC)  # 21:40 CDT
    outreach = replace(BASE, category=MessageCategory.CONVERSATIONAL, has_inbound=False)
    assert check(outreach, now=night).reason == "quiet_hours"
    # A reply in a conversation the lead started is not held.
    assert check(replace(outreach, has_inbound=True), now=night).action == Action.SEND


def test_the_opt_out_confirmation_passes_the_opt_out() -> None:
    facts = replace(BASE, category="compliance", opted_out=True, consent=False)
    assert check(facts, now=NOON_CHICAGO.replace(hour=4)).action == Action.SEND


def test_quiet_hours_explain_themselves() -> None:
    night = datetime(2026, 6, 2, 2, 40, tzinfo=UTC)  # 21:40 CDT, Monday
    verdict = check(BASE, now=night)  # an Austin number: Texas's 09:00-21:00 applies
    assert verdict.action == Action.HOLD and verdict.reason == "quiet_hours"
    assert verdict.detail == (
        "21:40 in America/Chicago - TX rule quiet hours (allowed 09:00-21:00); next Tue 09:00."
    )
    assert verdict.until == datetime(2026, 6, 2, 14, 0, tzinfo=UTC)
    elsewhere = replace(BASE, lead_phone="+12065550123", to_address="+12065550123")  # Seattle
    verdict = check(elsewhere, now=night)
    assert verdict.detail == (
        "21:40 in America/Chicago - quiet hours (allowed 08:00-21:00); next Tue 08:00."
    )
    assert verdict.until == datetime(2026, 6, 2, 13, 0, tzinfo=UTC)


def test_florida_stops_at_eight() -> None:
    miami = replace(BASE, lead_timezone=None, lead_phone="+13055550123", to_address="+13055550123")
    at_2030 = datetime(2026, 6, 2, 0, 30, tzinfo=UTC)  # 20:30 EDT
    verdict = check(miami, now=at_2030)
    assert verdict.action == Action.HOLD and "FL rule" in verdict.detail
    assert check(replace(miami, lead_phone="+12125550123"), now=at_2030).action == Action.SEND


def test_unknown_time_zone_holds() -> None:
    verdict = check(
        replace(BASE, lead_timezone=None, lead_phone=None, tenant_timezone=""), now=NOON_CHICAGO
    )
    assert (verdict.action, verdict.reason) == (Action.HOLD, "unknown_timezone")


def test_frequency_cap() -> None:
    sent = [NOON_CHICAGO - timedelta(hours=h) for h in (20, 10, 1)]
    verdict = check(replace(BASE, marketing_sent_last_24h=sent), now=NOON_CHICAGO)
    assert verdict.action == Action.HOLD and verdict.until == NOON_CHICAGO + timedelta(hours=4)
    assert (
        check(replace(BASE, marketing_sent_last_24h=sent, marketing_cap=0), now=NOON_CHICAGO).action
        == Action.SEND
    )


@pytest.mark.parametrize("body", ["Hi there", "Please stop by the open house"])
def test_first_text_gets_opt_out_language(body) -> None:
    verdict = check(replace(BASE, prior_outbound_sms=False, body=body), now=NOON_CHICAGO)
    assert verdict.body == f"{body} Reply STOP to opt out."


@pytest.mark.parametrize(
    "body", ["Hi! Reply STOP to opt out.", "Text STOP to end", "hi, reply stop to cancel"]
)
def test_existing_opt_out_language_is_not_doubled(body) -> None:
    assert check(replace(BASE, prior_outbound_sms=False, body=body), now=NOON_CHICAGO).body is None


# --------------------------------------------------------------- the 2025-2027 texting rules
# Numbers by area code: Miami, Oklahoma City, Baltimore, Houston, Birmingham, New Orleans.
PHONES = {
    "FL": "+13055550123",
    "OK": "+14055550123",
    "MD": "+14105550123",
    "TX": "+17135550123",
    "AL": "+12055550123",
    "LA": "+15045550123",
}
ZONES = {
    "FL": "America/New_York",
    "OK": "America/Chicago",
    "MD": "America/New_York",
    "TX": "America/Chicago",
    "AL": "America/Chicago",
    "LA": "America/Chicago",
}


def _in(state: str, **changes) -> Facts:
    phone = PHONES[state]
    return replace(BASE, lead_phone=phone, to_address=phone, lead_timezone=ZONES[state], **changes)


def _at(state: str, local: str) -> datetime:
    from zoneinfo import ZoneInfo

    return datetime.fromisoformat(local).replace(tzinfo=ZoneInfo(ZONES[state])).astimezone(UTC)


@pytest.mark.parametrize("state", ["FL", "OK", "MD"])
def test_fl_ok_md_end_marketing_texts_at_eight_and_cap_them_at_three(state) -> None:
    wednesday = "2026-06-03"
    assert check(_in(state), now=_at(state, f"{wednesday}T19:59")).action == Action.SEND
    late = check(_in(state), now=_at(state, f"{wednesday}T20:01"))
    assert late.action == Action.HOLD and f"{state} rule" in late.detail
    assert late.until == _at(state, "2026-06-04T08:00")
    # Three marketing messages in 24 h, even where the office allows more.
    noon = _at(state, f"{wednesday}T12:00")
    sent = [noon - timedelta(hours=h) for h in (1, 5, 9)]
    capped = check(_in(state, marketing_cap=10, marketing_sent_last_24h=sent), now=noon)
    assert capped.action == Action.HOLD and capped.reason == "frequency_cap"
    assert f"cap 3, {state} law" in capped.detail


def test_texas_since_september_2025_nine_to_nine_and_sundays_from_noon() -> None:
    assert check(_in("TX"), now=_at("TX", "2026-06-03T08:30")).action == Action.HOLD
    assert check(_in("TX"), now=_at("TX", "2026-06-03T09:00")).action == Action.SEND
    assert check(_in("TX"), now=_at("TX", "2026-06-03T20:59")).action == Action.SEND
    sunday_morning = check(_in("TX"), now=_at("TX", "2026-06-07T10:00"))
    assert sunday_morning.action == Action.HOLD
    assert sunday_morning.until == _at("TX", "2026-06-07T12:00")
    # Before the law took effect, the federal window applied.
    assert check(_in("TX"), now=_at("TX", "2025-08-27T08:30")).action == Action.SEND


@pytest.mark.parametrize("state", ["AL", "LA"])
def test_alabama_and_louisiana_send_no_marketing_texts_on_sundays_or_holidays(state) -> None:
    sunday = check(_in(state), now=_at(state, "2026-06-07T11:00"))
    assert sunday.action == Action.HOLD and "no marketing texts on Sunday" in sunday.detail
    assert sunday.until == _at(state, "2026-06-08T08:00")  # Monday morning
    july_4th = check(_in(state), now=_at(state, "2026-07-03T11:00"))  # observed on Friday
    assert july_4th.action == Action.HOLD
    assert july_4th.until == _at(state, "2026-07-06T08:00")  # past Saturday 4th and Sunday
    assert check(_in(state), now=_at(state, "2026-06-08T11:00")).action == Action.SEND


def test_the_state_rules_are_data(tmp_path) -> None:
    """A state is added by the operator's file: no code change."""
    extra = tmp_path / "rules.json"
    extra.write_text('{"GA": {"window": ["10:00", "19:00"], "no_sundays": true}}')
    georgia = rules(Settings(state_rules_file=str(extra)))
    facts = replace(
        BASE,
        lead_phone="+14045550123",
        to_address="+14045550123",
        lead_timezone="America/New_York",
        state_rules=georgia,
    )
    from zoneinfo import ZoneInfo

    nine = datetime(2026, 6, 3, 9, 30, tzinfo=ZoneInfo("America/New_York"))
    verdict = check(facts, now=nine.astimezone(UTC))
    assert verdict.action == Action.HOLD and "GA rule" in verdict.detail
    assert "FL" in georgia and "TX" in georgia  # the shipped rules stay


def test_an_opt_out_elsewhere_stops_marketing_on_this_channel() -> None:
    """The revoke-all rule: marketing is blocked; a conversation the lead started is not."""
    revoked = replace(BASE, revoked_elsewhere=True)
    verdict = check(revoked, now=NOON_CHICAGO)
    assert (verdict.action, verdict.reason) == (Action.BLOCK, "opted_out")
    talk = replace(revoked, category=MessageCategory.CONVERSATIONAL, has_inbound=True)
    assert check(talk, now=NOON_CHICAGO).action == Action.SEND
