"""GoHighLevel events: contacts become (or update) leads through the same intake path as web
forms (the full import of a location's contacts goes through it too); inbound conversation
messages are replies. A contact update that only echoes our own write-back (tags, custom
fields) comes back within minutes and changes nothing the person said: it is ignored, so
writing to GoHighLevel never looks like the lead coming back."""

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session
from sqlmodel import col

from recovery_app import jsonbody
from recovery_app.domain.accounts.repository import tenant_by_location
from recovery_app.domain.conversations import inbound
from recovery_app.domain.leads import timeline
from recovery_app.domain.leads.intake import (
    IntakeResult,
    intake,
    normalize,
    parse_payload,
    phone_e164,
)
from recovery_app.errors import ValidationFailed
from recovery_app.messaging import outbox
from recovery_app.messaging.inbox import Unmatched
from recovery_app.models import (
    Channel,
    Direction,
    Lead,
    Message,
    MessageStatus,
    Tenant,
    WebhookEvent,
    pk,
)

CONTACT_EVENTS = {"ContactCreate", "ContactUpdate", "ContactTagUpdate", "ContactDndUpdate"}
UPDATE_EVENTS = CONTACT_EVENTS - {"ContactCreate"}
# How long after one of our writes to a contact its update webhook counts as that write's echo.
ECHO_WINDOW = timedelta(minutes=5)


def _contact_payload(data: dict[str, Any]) -> dict[str, Any]:
    """A GoHighLevel contact as our intake payload (custom fields kept as attributes)."""
    extras: dict[str, Any] = {}
    for field in data.get("customFields") or data.get("customField") or []:
        if (
            isinstance(field, dict)
            and field.get("id")
            and isinstance(field.get("value"), str | int | float | bool)
        ):
            extras[f"ghl_{field['id']}"[:64]] = field["value"]
    tags = data.get("tags")
    if isinstance(tags, list) and tags:
        extras["ghl_tags"] = ", ".join(str(t) for t in tags)[:1000]
    return {
        "first_name": data.get("firstName") or "",
        "last_name": data.get("lastName") or "",
        "email": data.get("email") or None,
        "phone": data.get("phone") or None,
        "source": "ghl",
        "message": f"GoHighLevel contact from {data['source']}" if data.get("source") else None,
        "timezone": data.get("timezone") or None,
        "external_id": data.get("id"),
        **extras,
    }


def handle(session: Session, event: WebhookEvent, now: datetime) -> None:
    data = jsonbody.loads(event.raw_body)
    tenant = tenant_by_location(session, str(data.get("locationId") or ""))
    if tenant is None:
        raise Unmatched(f"no tenant with location id {data.get('locationId')!r}", final=True)
    event.tenant_id = tenant.id
    kind = str(data.get("type", ""))
    if kind in CONTACT_EVENTS:
        if kind in UPDATE_EVENTS and _echo(session, tenant, data, now):
            return
        try:
            contact_intake(
                session, tenant=tenant, data=data, now=now, respond=kind == "ContactCreate"
            )
        except ValidationFailed as exc:
            raise Unmatched(f"contact rejected: {exc.fields}", final=True) from None
    elif kind == "InboundMessage":
        _inbound_message(session, data, tenant_id=pk(tenant), now=now)
    # Other event types (appointments, opportunities, deletes) carry nothing intake needs.


def contact_intake(
    session: Session, *, tenant: Tenant, data: dict[str, Any], now: datetime, respond: bool
) -> IntakeResult:
    """One GoHighLevel contact into the office's leads (created or merged); ValidationFailed
    when it has no usable email or phone. The caller commits."""
    person = normalize(parse_payload(_contact_payload(data)), region=tenant.default_region)
    return intake(
        session,
        tenant=tenant,
        person=person,
        received_at=now,
        via="ghl",
        respond=respond,
        crm_contact_id=str(data.get("id") or "") or None,
    )


def _echo(session: Session, tenant: Tenant, data: dict[str, Any], now: datetime) -> bool:
    """An update of a contact we wrote to moments ago that says nothing new about the person."""
    from recovery_app.domain.crm import repository as writes

    contact = str(data.get("id") or "")
    if not contact:
        return False
    lead = session.execute(
        select(Lead).where(col(Lead.tenant_id) == pk(tenant), col(Lead.crm_contact_id) == contact)
    ).scalar_one_or_none()
    if lead is None or not writes.recently_written(
        session, lead_id=pk(lead), since=now - ECHO_WINDOW
    ):
        return False
    phone = data.get("phone")
    said = {
        "first_name": str(data.get("firstName") or "").strip().lower(),
        "last_name": str(data.get("lastName") or "").strip().lower(),
        "email": str(data.get("email") or "").strip().lower(),
        "phone": phone_e164(str(phone), region=tenant.default_region) if phone else "",
    }
    known = {
        "first_name": lead.first_name.lower(),
        "last_name": lead.last_name.lower(),
        "email": (lead.email or "").lower(),
        "phone": lead.phone or "",
    }
    return all(value in ("", None, known[name]) for name, value in said.items())


def _inbound_message(
    session: Session, data: dict[str, Any], *, tenant_id: int, now: datetime
) -> None:
    contact = str(data.get("contactId") or "")
    phone, email = data.get("phone"), data.get("email")
    clauses = [col(Lead.crm_contact_id) == contact] if contact else []
    if phone:
        clauses.append(col(Lead.phone) == phone)
    if email:
        clauses.append(col(Lead.email) == str(email).lower())
    lead = (
        session.execute(
            select(Lead).where(col(Lead.tenant_id) == tenant_id, or_(*clauses)).limit(1)
        ).scalar_one_or_none()
        if clauses
        else None
    )
    if lead is None:
        raise Unmatched(f"no lead for GoHighLevel contact {contact!r}", final=True)
    channel = Channel.EMAIL if str(data.get("messageType", "")).lower() == "email" else Channel.SMS
    # GoHighLevel's message ids are its own per location: the key is the office's.
    ref = str(data.get("messageId") or data.get("id") or now.isoformat())
    key = outbox.inbound_key("ghl", ref, tenant_id=tenant_id)
    if session.execute(select(col(Message.id)).where(col(Message.idempotency_key) == key)).first():
        return
    message = Message(
        tenant_id=tenant_id,
        lead_id=pk(lead),
        channel=channel,
        direction=Direction.INBOUND,
        status=MessageStatus.RECEIVED,
        body=str(data.get("body") or "")[:5000],
        idempotency_key=key,
        provider="ghl",
        provider_id=outbox.fitted(str(data.get("messageId") or ""), outbox.PROVIDER_ID_LENGTH)
        or None,
        created_at=now,
        updated_at=now,
        sent_at=now,
    )
    session.add(message)
    session.flush()
    # Revocation by any reasonable means (the FCC's 2025 rule), honoured at once: STOP or an
    # opt-out in words through the CRM's inbox counts as through our number.
    keyword, word = inbound.keyword_of(message.body)
    if keyword in (inbound.Keyword.STOP, inbound.Keyword.OPT_OUT):
        timeline.add_activity(
            session, lead, timeline.IN_KIND[channel], now=now, message_id=message.id,
            data={"keyword": word} if word else {"opt_out": True},
        )  # fmt: skip
        timeline.opt_out(
            session,
            lead,
            channel,
            reason=f"Replied {word}" if word else f"Asked to stop: {message.body.strip()[:80]}",
            now=now,
            actor_label="webhook:ghl",
        )
        return
    timeline.record_reply(session, lead, message, now=now)
