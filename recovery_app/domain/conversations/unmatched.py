"""Inbound texts no office could be found for (conversations/attribution.py): kept, counted on
the admin's dashboard and listed for an admin to assign to an office - never dropped. Their
opt-out words were honoured when they arrived, on every office texting from that number."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlmodel import col

from recovery_app.domain.accounts.schemas import Viewer
from recovery_app.domain.audit import service as audit
from recovery_app.domain.conversations import attribution, inbound
from recovery_app.errors import Forbidden, NotFound, ValidationFailed
from recovery_app.models import Tenant, UnmatchedText, WebhookEvent, pk

PAGE = 50


@dataclass(frozen=True)
class UnmatchedRow:
    id: int
    from_phone: str
    to_number: str
    body: str
    keyword: str
    received_at: datetime


def keep(
    session: Session,
    *,
    event: WebhookEvent,
    phone: str,
    number: str,
    body: str,
    provider_id: str,
    offices: list[Tenant],
    now: datetime,
) -> UnmatchedText:
    """Keep the text; a STOP (or an opt-out in words) is honoured on the number at once."""
    keyword, _ = inbound.keyword_of(body)
    if keyword in (inbound.Keyword.STOP, inbound.Keyword.OPT_OUT):
        # Whoever this phone is, nobody here may text it from that number again.
        inbound.opt_out_number(
            session,
            offices=offices or attribution.live_offices(session),
            phone=phone,
            number=number,
            now=now,
        )
    elif keyword == inbound.Keyword.START:
        inbound.opt_in_number(
            session,
            offices=offices or attribution.live_offices(session),
            phone=phone,
            number=number,
            now=now,
        )
    text = UnmatchedText(
        webhook_event_id=pk(event),
        from_phone=phone,
        to_number=number[:64],
        body=body,
        provider_id=provider_id[:255],
        keyword=str(keyword),
        received_at=now,
    )
    session.add(text)
    session.flush()
    return text


def _admin(viewer: Viewer) -> None:
    if not viewer.is_admin:
        raise Forbidden("Only admins see texts no office could be found for.")


def open_count(session: Session, *, viewer: Viewer) -> int:
    if not viewer.is_admin:
        return 0
    stmt = (
        select(func.count())
        .select_from(UnmatchedText)
        .where(col(UnmatchedText.assigned_at).is_(None))
    )
    return int(session.execute(stmt).scalar_one())


def open_texts(session: Session, *, viewer: Viewer, limit: int = PAGE) -> list[UnmatchedRow]:
    _admin(viewer)
    stmt = (
        select(UnmatchedText)
        .where(col(UnmatchedText.assigned_at).is_(None))
        .order_by(col(UnmatchedText.received_at).desc(), col(UnmatchedText.id).desc())
        .limit(limit)
    )
    return [
        UnmatchedRow(pk(t), t.from_phone, t.to_number, t.body, t.keyword, t.received_at)
        for t in session.execute(stmt).scalars()
    ]


def assign(session: Session, *, viewer: Viewer, text_id: int, tenant_id: int, now: datetime) -> int:
    """Give the text to an office: it becomes that office's lead's message (a new lead when
    the office has none with that phone) and acts as a reply there. The lead's id."""
    _admin(viewer)
    text = session.get(UnmatchedText, text_id, with_for_update=True)
    if text is None:
        raise NotFound("No such text.")
    if text.assigned_at is not None:
        raise ValidationFailed("That text was assigned already.")
    office = session.get(Tenant, tenant_id)
    if office is None or office.demo_expires_at is not None:
        raise NotFound("No such office.")
    offices = attribution.offices_texting_from(session, text.to_number)
    message = inbound.receive(
        session,
        office=office,
        offices=offices if office in offices else [*offices, office],
        phone=text.from_phone,
        number=text.to_number,
        body=text.body,
        provider_id=text.provider_id,
        now=now,
    )
    text.assigned_tenant_id, text.assigned_by_user_id, text.assigned_at = (
        pk(office),
        viewer.user_id,
        now,
    )
    event = session.get(WebhookEvent, text.webhook_event_id)
    if event is not None:
        event.tenant_id = pk(office)
    audit.record(
        session,
        action="unmatched_text.assigned",
        entity_type="unmatched_text",
        entity_id=pk(text),
        tenant_id=pk(office),
        actor=viewer,
        after={"tenant_id": pk(office), "lead_id": message.lead_id},
    )
    assert message.lead_id is not None
    return message.lead_id
