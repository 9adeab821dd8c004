"""GoHighLevel events: contacts become (or update) leads through the same intake path as web
forms; inbound conversation messages are replies."""

from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session
from sqlmodel import col

from recovery_app import jsonbody
from recovery_app.domain.accounts.repository import tenant_by_location
from recovery_app.domain.leads import timeline
from recovery_app.domain.leads.intake import intake, normalize, parse_payload
from recovery_app.errors import ValidationFailed
from recovery_app.messaging.inbox import Unmatched
from recovery_app.models import Channel, Direction, Lead, Message, MessageStatus, WebhookEvent, pk

CONTACT_EVENTS = {"ContactCreate", "ContactUpdate", "ContactTagUpdate", "ContactDndUpdate"}


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
        try:
            person = normalize(parse_payload(_contact_payload(data)), region=tenant.default_region)
        except ValidationFailed as exc:
            raise Unmatched(f"contact rejected: {exc.fields}", final=True) from None
        intake(
            session,
            tenant=tenant,
            person=person,
            received_at=now,
            via="ghl",
            respond=kind == "ContactCreate",
            crm_contact_id=str(data.get("id") or "") or None,
        )
    elif kind == "InboundMessage":
        _inbound_message(session, data, tenant_id=pk(tenant), now=now)
    # Other event types (appointments, opportunities, deletes) carry nothing intake needs.


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
    key = f"in:ghl:{data.get('messageId') or data.get('id') or now.isoformat()}"
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
        provider_id=str(data.get("messageId") or "")[:64] or None,
        created_at=now,
        updated_at=now,
        sent_at=now,
    )
    session.add(message)
    session.flush()
    timeline.record_reply(session, lead, message, now=now)
