from dataclasses import replace
from datetime import UTC, datetime, time, timedelta

import pytest

from recovery_app.domain.compliance.guard import Action, Facts, check
from recovery_app.models import Channel, MessageCategory

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
    suppressed=False,
    prior_outbound_sms=True,
    marketing_sent_last_24h=[],
    marketing_cap=3,
    state_rules={"FL": (time(8), time(20))},
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
    night = datetime(2026, 6, 2, 2, 40, tzinfo=UTC)  # 21:40 CDT
    verdict = check(BASE, now=night)
    assert verdict.action == Action.HOLD and verdict.reason == "quiet_hours"
    assert (
        verdict.detail
        == "21:40 in America/Chicago - quiet hours until 08:00 (allowed 08:00-21:00)."
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
