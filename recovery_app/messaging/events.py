"""What provider events mean for messages and leads: inbound texts (replies, STOP/START/HELP,
free-text opt-outs), Twilio delivery statuses and SendGrid email events (GoHighLevel and
Calendly events are handled by their modules in domain/leads)."""

import json
from datetime import UTC, datetime
from urllib.parse import parse_qs

import phonenumbers
from sqlalchemy.orm import Session

from recovery_app.domain.campaigns import triggers
from recovery_app.domain.compliance.suppression import suppress
from recovery_app.domain.conversations import attribution, inbound, unmatched
from recovery_app.domain.ids import ascii_int, parse_id
from recovery_app.domain.leads import timeline
from recovery_app.messaging import repository
from recovery_app.messaging.dispatcher import DEAD_NUMBER_CODES
from recovery_app.messaging.inbox import Handler, Unmatched
from recovery_app.models import (
    ActivityKind,
    Channel,
    Direction,
    Lead,
    Message,
    MessageStatus,
    WebhookEvent,
)

# Order of delivery states: an event never moves a message back.
RANK = {
    MessageStatus.QUEUED: 0,
    MessageStatus.SENDING: 1,
    MessageStatus.SENT: 2,
    MessageStatus.SIMULATED: 2,
    MessageStatus.DELIVERED: 3,
    MessageStatus.UNDELIVERED: 3,
    MessageStatus.FAILED: 3,
    MessageStatus.OPENED: 4,
    MessageStatus.CLICKED: 5,
    MessageStatus.BOUNCED: 6,
    MessageStatus.REPLIED: 7,
}
TWILIO_STATUS = {
    "sent": MessageStatus.SENT,
    "delivered": MessageStatus.DELIVERED,
    "read": MessageStatus.DELIVERED,
    "undelivered": MessageStatus.UNDELIVERED,
    "failed": MessageStatus.FAILED,
    "canceled": MessageStatus.FAILED,
}


def form(event: WebhookEvent) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(event.raw_body, keep_blank_values=True).items()}


def e164(number: str) -> str | None:
    try:
        parsed = phonenumbers.parse(number, "US")
    except phonenumbers.NumberParseException:
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def twilio_inbound(session: Session, event: WebhookEvent, now: datetime) -> None:
    """An inbound text: attributed by the number it was sent to and the phone it came from
    (domain/conversations/attribution.py), then handled for that office; one that fits no
    office is kept for an admin, its opt-out words honoured all the same."""
    params = form(event)
    sid, body = params.get("MessageSid", ""), params.get("Body", "").replace("\x00", "")
    sender, receiver = e164(params.get("From", "")), e164(params.get("To", ""))
    if not sender or not receiver:
        raise Unmatched("From/To is not a phone number", final=True)
    who = attribution.attribute(session, phone=sender, number=receiver)
    if who.office is None:
        unmatched.keep(
            session,
            event=event,
            phone=sender,
            number=receiver,
            body=body,
            provider_id=sid,
            offices=who.offices,
            now=now,
        )
        return
    event.tenant_id = who.office.id
    inbound.receive(
        session,
        office=who.office,
        offices=who.offices,
        phone=sender,
        number=receiver,
        body=body,
        provider_id=sid,
        now=now,
    )


def twilio_status(session: Session, event: WebhookEvent, now: datetime) -> None:
    params = form(event)
    message = repository.by_provider_id(
        session, provider="twilio", provider_id=params.get("MessageSid", "")
    )
    if message is None:
        raise Unmatched(f"no message with MessageSid {params.get('MessageSid')}")
    event.tenant_id = message.tenant_id
    chosen = e164(params.get("From", ""))
    if chosen and not (message.from_address or "").startswith("+"):
        # Sent through the Messaging Service: the callback names the number it picked.
        message.from_address = chosen
    status = TWILIO_STATUS.get(params.get("MessageStatus", "").lower())
    code = params.get("ErrorCode") or None
    if status is None or RANK[status] <= RANK.get(MessageStatus(message.status), 0):
        return
    message.status, message.updated_at = status, now
    if status == MessageStatus.DELIVERED:
        message.delivered_at = now
    elif status in (MessageStatus.UNDELIVERED, MessageStatus.FAILED):
        message.failed_at = now
        message.error_code = code
        message.error_message = f"Twilio reported {status}" + (f" ({code})" if code else "")
        lead = session.get(Lead, message.lead_id)
        assert lead is not None
        timeline.tell_failure(session, lead, message, now=now)
        if code == "21610":
            timeline.opt_out(
                session,
                lead,
                Channel.SMS,
                reason="Carrier reports the number unsubscribed (21610)",
                now=now,
                actor_label="webhook:twilio",
            )
        elif code in DEAD_NUMBER_CODES and message.to_address:
            suppress(
                session,
                tenant_id=message.tenant_id,
                channel=Channel.SMS,
                address=message.to_address,
                reason=f"undeliverable ({code})",
            )


SENDGRID_STATUS = {
    "processed": MessageStatus.SENT,
    "delivered": MessageStatus.DELIVERED,
    "open": MessageStatus.OPENED,
    "click": MessageStatus.CLICKED,
    "bounce": MessageStatus.BOUNCED,
    "dropped": MessageStatus.BOUNCED,
}
EMAIL_OPT_OUTS = {"bounce", "dropped", "spamreport", "unsubscribe", "group_unsubscribe"}
# Addresses that are dead or complained: never written to again, even after a re-import.
EMAIL_SUPPRESS = {"bounce", "dropped", "spamreport"}


def sendgrid_event(session: Session, event: WebhookEvent, now: datetime) -> None:
    data = json.loads(event.raw_body)
    raw_id = str(data.get("message_id", ""))
    message_id = parse_id(raw_id)
    if message_id is None:
        raise Unmatched("no message_id custom argument", final=True)
    message = session.get(Message, message_id)
    if (
        message is None
        or message.channel != Channel.EMAIL
        or message.direction != Direction.OUTBOUND
    ):
        raise Unmatched(f"no outbound email with id {raw_id}", final=True)
    event.tenant_id = message.tenant_id
    kind = str(data.get("event", ""))
    # SendGrid's Unix time; anything else (or a time past 9999) is taken as now.
    stamp = ascii_int(data.get("timestamp", ""), maximum=253_402_300_799)
    at = datetime.fromtimestamp(stamp, UTC) if stamp is not None else now
    lead = session.get(Lead, message.lead_id)
    assert lead is not None
    if not message.provider_id and data.get("sg_message_id"):
        message.provider_id = str(data["sg_message_id"]).split(".")[0][:64]
    status = SENDGRID_STATUS.get(kind)
    if status is not None and RANK[status] > RANK.get(MessageStatus(message.status), 0):
        message.status, message.updated_at = status, now
        if status == MessageStatus.DELIVERED:
            message.delivered_at = at
        elif status == MessageStatus.BOUNCED:
            message.failed_at = at
            message.error_code = kind
            message.error_message = str(data.get("reason") or data.get("type") or kind)[:500]
            timeline.tell_failure(session, lead, message, now=now)
    if kind == "open" and message.opened_at is None:
        message.opened_at = at
        timeline.add_activity(session, lead, ActivityKind.EMAIL_OPEN, now=at, message_id=message.id)
        # Behavioral triggers fire while the event is processed (email_open rules).
        triggers.evaluate(session, lead, ActivityKind.EMAIL_OPEN, now=now)
    elif kind == "click" and message.clicked_at is None:
        message.clicked_at = at
        timeline.add_activity(
            session,
            lead,
            ActivityKind.EMAIL_CLICK,
            now=at,
            message_id=message.id,
            data={"url": str(data.get("url", ""))[:500]},
        )
        triggers.evaluate(session, lead, ActivityKind.EMAIL_CLICK, now=now)  # email_click rules
    if kind in EMAIL_OPT_OUTS:
        timeline.opt_out(
            session,
            lead,
            Channel.EMAIL,
            reason=f"SendGrid {kind}",
            now=now,
            actor_label="webhook:sendgrid",
        )
        if kind in EMAIL_SUPPRESS and message.to_address:
            suppress(
                session,
                tenant_id=message.tenant_id,
                channel=Channel.EMAIL,
                address=message.to_address,
                reason=f"sendgrid {kind}",
            )


def _ghl(session: Session, event: WebhookEvent, now: datetime) -> None:
    from recovery_app.domain.leads import ghl

    ghl.handle(session, event, now)


def _calendly(session: Session, event: WebhookEvent, now: datetime) -> None:
    from recovery_app.domain.leads import calendly

    calendly.handle(session, event, now)


HANDLERS: dict[str, Handler] = {
    "twilio_sms": twilio_inbound,
    "twilio_status": twilio_status,
    "sendgrid": sendgrid_event,
    "ghl": _ghl,
    "calendly": _calendly,
}
