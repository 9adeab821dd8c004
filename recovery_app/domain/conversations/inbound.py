"""What an inbound text does, once we know which office it is for.

Keywords act on the number, not on one office, as the carrier does: a STOP (or an opt-out in
free words) to a number several offices text from opts the phone out in every one of them -
their leads with that phone, and a suppression for offices that have none yet - and a START
undoes what a STOP to that number did. The opt-out is honoured at once (the FCC's 2025 rule
allows 10 business days). Any other text is a reply to the office it is attributed to.
"""

import re
from datetime import datetime
from enum import StrEnum

from sqlalchemy import delete, select
from sqlalchemy.orm import Session
from sqlmodel import col

from recovery_app.domain.compliance.suppression import address_hash, suppress
from recovery_app.domain.leads import timeline
from recovery_app.domain.scoring.service import temperature_for
from recovery_app.messaging import outbox
from recovery_app.models import (
    ActivityKind,
    Channel,
    Direction,
    Lead,
    LeadStatus,
    Message,
    MessageStatus,
    Suppression,
    Tenant,
    pk,
)

STOP_WORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
START_WORDS = {"START", "UNSTOP", "YES"}
HELP_WORDS = {"HELP", "INFO"}
# Opt-outs Twilio's keyword filter does not catch; we confirm these ourselves, once.
FREE_TEXT_OPT_OUT = re.compile(
    r"\bstop\s+(texting|messaging|contacting|sending|calling)\b|\bremove\s+me\b|\btake\s+me\s+off\b|"
    r"\bunsubscribe\s+me\b|\bopt\s+me\s+out\b|\b(don'?t|do\s+not)\s+(text|message|contact)\s+me\b|"
    r"\bno\s+more\s+(texts|messages)\b|\bleave\s+me\s+alone\b|\bno\s+m[aá]s\b|\bbasta\b",
    re.IGNORECASE,
)
ACTOR = "webhook:twilio"


class Keyword(StrEnum):
    STOP = "stop"
    START = "start"
    HELP = "help"
    OPT_OUT = "opt_out"  # in free words ("please stop texting me")
    NONE = ""


def keyword_of(body: str) -> tuple[Keyword, str]:
    """What the text asks for, and the keyword as written (for the record)."""
    word = body.strip().upper().rstrip(".!")
    if word in STOP_WORDS:
        return Keyword.STOP, word
    if word in START_WORDS:
        return Keyword.START, word
    if word in HELP_WORDS:
        return Keyword.HELP, word
    if FREE_TEXT_OPT_OUT.search(body):
        return Keyword.OPT_OUT, ""
    return Keyword.NONE, ""


def stop_reason(number: str) -> str:
    """Why a phone is suppressed after a STOP to `number` (a START to it lifts exactly these)."""
    return f"STOP to {number}"


def receive(
    session: Session,
    *,
    office: Tenant,
    offices: list[Tenant],
    phone: str,
    number: str,
    body: str,
    provider_id: str,
    now: datetime,
) -> Message:
    """Record the text in `office` and act on it; `offices` all text from `number`."""
    lead = _lead_for(session, office, phone, now)
    message = Message(
        tenant_id=pk(office),
        lead_id=pk(lead),
        channel=Channel.SMS,
        direction=Direction.INBOUND,
        status=MessageStatus.RECEIVED,
        body=body,
        to_address=number,
        from_address=phone,
        # A Twilio SID is unique across Twilio; a longer one than Twilio's is kept whole in
        # effect (a digest), not cut.
        idempotency_key=outbox.inbound_key("twilio", provider_id),
        provider="twilio",
        provider_id=outbox.fitted(provider_id, outbox.PROVIDER_ID_LENGTH),
        created_at=now,
        updated_at=now,
        sent_at=now,
    )
    session.add(message)
    session.flush()
    keyword, word = keyword_of(body)
    if keyword == Keyword.NONE:
        timeline.record_reply(session, lead, message, now=now)
        return message
    data = {"keyword": word} if word else {"opt_out": True}
    timeline.add_activity(
        session, lead, ActivityKind.SMS_IN, now=now, message_id=message.id, data=data
    )
    if keyword in (Keyword.STOP, Keyword.OPT_OUT):
        reason = f"Replied {word}" if word else f"Asked to stop: {body.strip()[:80]}"
        newly = timeline.opt_out(
            session, lead, Channel.SMS, reason=reason, now=now, actor_label=ACTOR
        )
        # The other offices on the number: this one's lead is opted out above (a suppression
        # here would also block the one confirmation below).
        others = [o for o in offices if o.id != office.id]
        opt_out_number(session, offices=others, phone=phone, number=number, now=now)
        if keyword == Keyword.OPT_OUT and newly:
            # Twilio confirms its own keywords; free words we confirm, once, with nothing else
            # in it. It names the sender, as carriers require, and the number it applies to.
            company = office.sender_name or office.name
            outbox.enqueue(
                session,
                lead=lead,
                channel=Channel.SMS,
                now=now,
                category="compliance",
                idempotency_key=outbox.fitted(f"optout-confirm:{provider_id}", outbox.KEY_LENGTH),
                body=(
                    f"{company}: you're unsubscribed and won't get more texts from this "
                    "number. Reply START to resubscribe."
                ),
            )
    elif keyword == Keyword.START:
        timeline.opt_in(
            session, lead, Channel.SMS, reason=f"Replied {word}", now=now, actor_label=ACTOR
        )
        opt_in_number(session, offices=offices, phone=phone, number=number, now=now)
    # HELP: Twilio answers it with the sender's help text; we keep the record.
    return message


def opt_out_number(
    session: Session, *, offices: list[Tenant], phone: str, number: str, now: datetime
) -> None:
    """A STOP to `number` reaches every office texting from it: their leads with that phone
    are opted out, and the phone goes on each office's suppression list (so a lead imported
    later with it is not texted either)."""
    reason = stop_reason(number)
    for lead in _leads_with(session, offices, phone):
        timeline.opt_out(session, lead, Channel.SMS, reason=reason, now=now, actor_label=ACTOR)
    for office in offices:
        suppress(session, tenant_id=pk(office), channel=Channel.SMS, address=phone, reason=reason)


def opt_in_number(
    session: Session, *, offices: list[Tenant], phone: str, number: str, now: datetime
) -> None:
    """A START to `number` undoes what STOPs to it did in every office texting from it (not
    other opt-outs: a lead who asked an agent to stop stays opted out)."""
    reason = stop_reason(number)
    session.execute(
        delete(Suppression).where(
            col(Suppression.tenant_id).in_([pk(o) for o in offices]),
            col(Suppression.channel) == Channel.SMS,
            col(Suppression.value_hash) == address_hash(Channel.SMS, phone),
            col(Suppression.reason) == reason,
        )
    )
    for lead in _leads_with(session, offices, phone):
        if lead.opted_out_sms_reason == reason:
            timeline.opt_in(
                session, lead, Channel.SMS, reason=f"START to {number}", now=now, actor_label=ACTOR
            )


def _leads_with(session: Session, offices: list[Tenant], phone: str) -> list[Lead]:
    stmt = select(Lead).where(
        col(Lead.tenant_id).in_([pk(o) for o in offices]), col(Lead.phone) == phone
    )
    return list(session.execute(stmt).scalars())


def _lead_for(session: Session, tenant: Tenant, phone: str, now: datetime) -> Lead:
    lead = session.execute(
        select(Lead).where(col(Lead.tenant_id) == tenant.id, col(Lead.phone) == phone)
    ).scalar_one_or_none()
    if lead is not None:
        return lead
    # Someone texted our number first: they are a new lead (texting in is not marketing consent).
    lead = Lead(
        tenant_id=pk(tenant),
        phone=phone,
        source="sms",
        status=LeadStatus.NEW,
        created_at=now,
        updated_at=now,
        last_activity_at=now,
        temperature=temperature_for(0),
    )
    session.add(lead)
    session.flush()
    timeline.add_activity(
        session, lead, ActivityKind.FORM_SUBMITTED, now=now, data={"source": "sms"}
    )
    return lead
