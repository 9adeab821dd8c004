"""The compliance guard: every outbound message passes it at dispatch time, not only when it was
scheduled, because opt-outs, consent and the clock change in between.

A verdict is one of: send (possibly with opt-out language added), hold until a later minute
(quiet hours, unknown time zone, frequency cap) with the reason shown on the message, or block
for good (opted out, suppressed, no consent, nowhere to send).
"""

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from recovery_app.domain.compliance.quiet_hours import (
    Schedule,
    effective_window,
    lead_zones,
    next_allowed,
    phone_state,
)
from recovery_app.domain.compliance.state_rules import StateRule
from recovery_app.models import Channel, MessageCategory

# "Compliance" messages (the one opt-out confirmation) pass even right after an opt-out.
COMPLIANCE = "compliance"
OPT_OUT_TEXT = "Reply STOP to opt out."
HAS_OPT_OUT_LANGUAGE = re.compile(
    r"\b(reply|text|send)\s+stop\b|\bstop\s+to\s+(opt|unsubscribe|end|cancel)", re.I
)
UNKNOWN_ZONE_RETRY = timedelta(hours=1)


class Action(StrEnum):
    SEND = "send"
    HOLD = "hold"
    BLOCK = "block"


@dataclass(frozen=True, slots=True)
class Verdict:
    action: Action
    reason: str = ""
    detail: str = ""
    until: datetime | None = None
    body: str | None = None  # the body to send, when the guard changed it


@dataclass(frozen=True, slots=True)
class Facts:
    """What the guard needs to know; the dispatcher gathers it from the database."""

    channel: Channel
    category: str
    body: str
    to_address: str | None
    lead_timezone: str | None
    lead_phone: str | None
    tenant_timezone: str
    tenant_quiet_start: time | None
    tenant_quiet_end: time | None
    tenant_has_postal_address: bool
    consent: bool
    has_inbound: bool
    opted_out: bool
    # Opted out on the other channel, and the office's revoke-all rule stops this one too.
    revoked_elsewhere: bool
    suppressed: bool
    prior_outbound_sms: bool
    marketing_sent_last_24h: list[datetime]
    marketing_cap: int
    state_rules: dict[str, StateRule]

    @property
    def state(self) -> str | None:
        return phone_state(self.lead_phone) if self.lead_phone else None

    def state_rule(self, now: datetime) -> StateRule | None:
        rule = self.state_rules.get(self.state or "")
        return rule if rule is not None and rule.in_force(now.date()) else None


def check(facts: Facts, *, now: datetime) -> Verdict:
    """Decide what happens to one outbound message at `now`."""
    if not facts.to_address:
        return Verdict(
            Action.BLOCK, "no_address", f"The lead has no {_address_word(facts.channel)}."
        )
    if facts.category == COMPLIANCE:
        return Verdict(Action.SEND)
    if facts.suppressed:
        return Verdict(Action.BLOCK, "suppressed", "This address is on the suppression list.")
    if facts.opted_out:
        return Verdict(
            Action.BLOCK, "opted_out", f"The lead opted out of {_channel_word(facts.channel)}."
        )
    marketing = facts.category == MessageCategory.MARKETING
    if marketing and facts.revoked_elsewhere:
        # The FCC's revoke-all rule: one opt-out ends the office's marketing on every channel.
        return Verdict(
            Action.BLOCK,
            "opted_out",
            "The lead opted out on another channel, which stops all of this office's "
            "marketing to them.",
        )
    # A person writing to a lead who never wrote to us reaches them unasked too: quiet hours.
    unasked = (
        marketing
        or facts.category == MessageCategory.AUTOMATED
        or (facts.category == MessageCategory.CONVERSATIONAL and not facts.has_inbound)
    )
    # Messages we send unasked need recorded consent; a conversation the lead started carries its own.
    if not facts.consent and (unasked or not facts.has_inbound):
        return Verdict(
            Action.BLOCK, "no_consent", f"No consent recorded for {_channel_word(facts.channel)}."
        )
    if marketing and facts.channel == Channel.EMAIL and not facts.tenant_has_postal_address:
        return Verdict(
            Action.BLOCK,
            "no_postal_address",
            "Marketing email needs the office's postal address in the footer; add it in Settings.",
        )
    cap, why = facts.marketing_cap, ""
    rule = facts.state_rule(now) if facts.channel == Channel.SMS else None
    state_cap = rule.max_marketing_per_24h if rule is not None else None
    if state_cap is not None and (not cap or state_cap < cap):
        cap, why = state_cap, f", {rule.state} law" if rule is not None else ""
    if marketing and cap and len(facts.marketing_sent_last_24h) >= cap:
        oldest = sorted(facts.marketing_sent_last_24h)[-cap]
        return Verdict(
            Action.HOLD,
            "frequency_cap",
            f"Already {len(facts.marketing_sent_last_24h)} marketing messages in 24 h "
            f"(cap {cap}{why}).",
            until=oldest + timedelta(hours=24),
        )
    if unasked and facts.channel == Channel.SMS:
        verdict = _quiet_hours(facts, now)
        if verdict is not None:
            return verdict
    if (
        facts.channel == Channel.SMS
        and not facts.prior_outbound_sms
        and not HAS_OPT_OUT_LANGUAGE.search(facts.body)
    ):
        # The first text of a conversation always tells the lead how to stop them.
        return Verdict(Action.SEND, body=f"{facts.body.rstrip()} {OPT_OUT_TEXT}")
    return Verdict(Action.SEND)


def _quiet_hours(facts: Facts, now: datetime) -> Verdict | None:
    zones = lead_zones(facts.lead_timezone, facts.lead_phone, facts.tenant_timezone)
    if not zones:
        return Verdict(
            Action.HOLD,
            "unknown_timezone",
            "The lead's time zone is unknown (no zone, phone or tenant zone); set it on the lead.",
            until=now + UNKNOWN_ZONE_RETRY,
        )
    rule = facts.state_rule(now)
    base = effective_window(
        tenant_quiet_start=facts.tenant_quiet_start, tenant_quiet_end=facts.tenant_quiet_end
    )
    schedule = Schedule(base, rule)
    allowed_at = next_allowed(now, zones, schedule)
    if allowed_at == now:
        return None
    local = now.astimezone(ZoneInfo(zones[0]))
    where = f"{rule.state} rule " if rule is not None else ""
    today = schedule.window_on(local.date())
    if allowed_at is None:
        return Verdict(
            Action.HOLD,
            "quiet_hours",
            f"No minute is allowed by the {where or ''}window in all of {', '.join(zones)} soon.",
            until=now + UNKNOWN_ZONE_RETRY,
        )
    opens = allowed_at.astimezone(ZoneInfo(zones[0]))
    if today is None:
        reason = f"no marketing texts on {local:%A %b %d} ({where.strip() or 'state rule'})"
    else:
        reason = f"{where}quiet hours (allowed {today.label()})"
    return Verdict(
        Action.HOLD,
        "quiet_hours",
        f"{local:%H:%M} in {zones[0]} - {reason}; next {opens:%a %H:%M}.",
        until=allowed_at,
    )


def _address_word(channel: Channel) -> str:
    return "phone number" if channel == Channel.SMS else "email address"


def _channel_word(channel: Channel) -> str:
    return "texts" if channel == Channel.SMS else "email"
