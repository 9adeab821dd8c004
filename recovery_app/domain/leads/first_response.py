"""Speed to lead: the instant first SMS and email to a new lead, from the tenant's templates
for its source (falling back to the built-in library), through the outbox and the compliance
guard like everything else (outside quiet hours they go at the next allowed minute)."""

from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session
from sqlmodel import col

from recovery_app.domain.campaigns.library import ensure_builtin_templates
from recovery_app.domain.campaigns.rendering import render
from recovery_app.messaging import outbox
from recovery_app.models import Channel, Lead, MessageCategory, Template, Tenant, User, pk

BUILTIN_FOR_SOURCE = {"open_house": "open_house_followup"}


def situation_for(source: str | None) -> str:
    """The situation of an office's first-response template for `source` (None: every source)."""
    return f"first_response:{source}" if source else "first_response"


def templates_for(
    session: Session, *, tenant: Tenant, source: str, channels: tuple[Channel, ...]
) -> dict[Channel, Template]:
    """Per channel: the tenant's "first_response:<source>" template, else its "first_response"
    one, else the built-in template for the source. One query for every channel: this runs for
    every new lead."""
    builtin_situation = BUILTIN_FOR_SOURCE.get(source, "new_web_lead")
    order = (situation_for(source), situation_for(None))
    rows = (
        session.execute(
            select(Template).where(
                col(Template.channel).in_(channels),
                or_(
                    and_(
                        col(Template.tenant_id) == tenant.id,
                        col(Template.situation).in_(order),
                    ),
                    and_(
                        col(Template.is_builtin).is_(True),
                        col(Template.situation) == builtin_situation,
                    ),
                ),
            )
        )
        .scalars()
        .all()
    )
    chosen: dict[Channel, Template] = {}
    for channel in channels:
        mine = [t for t in rows if t.channel == channel]
        found = next(
            (
                t
                for situation in order
                for t in mine
                if t.tenant_id is not None and t.situation == situation
            ),
            None,
        ) or next((t for t in mine if t.is_builtin), None)
        # A database the library was never written to (it is written on first use).
        chosen[channel] = found or ensure_builtin_templates(session)[(builtin_situation, channel)]
    return chosen


def template_for(session: Session, *, tenant: Tenant, source: str, channel: Channel) -> Template:
    """The template a new lead from `source` gets on `channel` (see `templates_for`)."""
    return templates_for(session, tenant=tenant, source=source, channels=(channel,))[channel]


def variables(
    session: Session, lead: Lead, tenant: Tenant, *, agent: User | None = None
) -> dict[str, str | None]:
    if agent is None or agent.id != lead.assigned_user_id:
        agent = session.get(User, lead.assigned_user_id) if lead.assigned_user_id else None
    attributes = lead.attributes or {}
    interest = (
        attributes.get("property_interest")
        or attributes.get("property")
        or attributes.get("address")
        or attributes.get("listing")
    )
    return {
        "first_name": lead.first_name or None,
        "last_name": lead.last_name or None,
        "agent_name": agent.full_name if agent else None,
        "agent_first_name": agent.full_name.split()[0] if agent and agent.full_name else None,
        "company_name": (tenant.sender_name or tenant.name).split(" - ")[0],
        "property_interest": str(interest) if interest else None,
        "city": str(attributes.get("city")) if attributes.get("city") else None,
        "open_house_address": str(interest) if interest else None,
        "booking_link": agent.booking_url if agent else None,
    }


def queue_first_response(
    session: Session, *, lead: Lead, tenant: Tenant, now: datetime, agent: User | None = None
) -> int:
    """Queue the first SMS (if the lead has a number) and email (if an address); returns how many.
    One per lead and channel, whatever retries do (the idempotency key is the lead's).
    `agent`: the lead's agent when the caller has it at hand (saves a lookup)."""
    addresses = {Channel.SMS: lead.phone, Channel.EMAIL: lead.email}
    channels = tuple(channel for channel, address in addresses.items() if address)
    if not channels:
        return 0
    values = variables(session, lead, tenant, agent=agent)
    templates = templates_for(session, tenant=tenant, source=lead.source, channels=channels)
    for channel in channels:
        template = templates[channel]
        outbox.enqueue(
            session,
            lead=lead,
            channel=channel,
            now=now,
            category=MessageCategory.AUTOMATED,
            body=render(template.body, values),
            subject=render(template.subject or "", values) or None,
            template_id=template.id,
            idempotency_key=f"first-response:{pk(lead)}:{channel}",
        )
    return len(channels)
