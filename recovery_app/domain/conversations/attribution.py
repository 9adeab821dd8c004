"""Which office an inbound text is for. A text is addressed to a number (`To`) from a phone
(`From`); several offices may text from one number (the deployment's shared numbers, or a
Messaging Service), so the number alone does not say:

1. the offices that text from the number: those that list it among their own numbers, else
   (a shared number, or any number of the Messaging Service) every office without numbers
   of its own;
2. of those, the office that last texted that phone from that number;
3. else the office that has a lead with that phone (the most recently active);
4. else, when only one office texts from the number, that one (someone texting in first);
5. else nobody: the text is kept for an admin (conversations/unmatched.py).
"""

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from recovery_app.messaging import senders
from recovery_app.models import Channel, Direction, Lead, Message, Tenant
from recovery_app.settings import get_settings


@dataclass(frozen=True)
class Attribution:
    office: Tenant | None  # the office the text is for, when it could be told
    offices: list[Tenant]  # every office texting from that number (a STOP applies to all)


def live_offices(session: Session) -> list[Tenant]:
    """Every office but visitors' demo sandboxes (they send nothing for real). Offices are
    tens, not thousands: read whole."""
    stmt = select(Tenant).where(col(Tenant.demo_expires_at).is_(None)).order_by(col(Tenant.id))
    return list(session.execute(stmt).scalars())


def offices_texting_from(session: Session, number: str) -> list[Tenant]:
    settings = get_settings()
    offices = live_offices(session)
    own = [o for o in offices if number in senders.own_numbers(o)]
    if own:
        return own
    shared = [o for o in offices if not senders.own_numbers(o)]
    if number in settings.shared_sms_numbers or settings.twilio_messaging_service_sid:
        return shared
    # A number nothing here names (e.g. TWILIO_FROM_NUMBER changed since): ours all the same,
    # as Twilio sent its texts here - the offices that would text from it.
    return shared if shared else offices


def attribute(session: Session, *, phone: str, number: str) -> Attribution:
    offices = offices_texting_from(session, number)
    if not offices:
        return Attribution(None, [])
    ids = [o.id for o in offices]
    by_id = {o.id: o for o in offices}
    last_texted = session.execute(
        select(col(Message.tenant_id))
        .where(
            col(Message.to_address) == phone,
            col(Message.from_address) == number,
            col(Message.direction) == Direction.OUTBOUND,
            col(Message.channel) == Channel.SMS,
            col(Message.tenant_id).in_(ids),
        )
        .order_by(col(Message.id).desc())
        .limit(1)
    ).scalar_one_or_none()
    if last_texted is not None:
        return Attribution(by_id[last_texted], offices)
    with_lead = session.execute(
        select(col(Lead.tenant_id))
        .where(col(Lead.tenant_id).in_(ids), col(Lead.phone) == phone)
        .order_by(col(Lead.last_activity_at).desc().nulls_last(), col(Lead.id).desc())
        .limit(1)
    ).scalar_one_or_none()
    if with_lead is not None:
        return Attribution(by_id[with_lead], offices)
    return Attribution(offices[0] if len(offices) == 1 else None, offices)
