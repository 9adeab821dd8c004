"""Manual recovery (`POST /api/v1/recovery/trigger` and the lead page's button): enroll one
lead in a chosen campaign, or send it the next best recovery message now - through the outbox
and the compliance guard like every other send."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from recovery_app.domain.accounts.schemas import Viewer
from recovery_app.domain.campaigns import service
from recovery_app.domain.campaigns.library import ensure_builtin_templates
from recovery_app.domain.campaigns.rendering import render
from recovery_app.domain.leads import service as leads
from recovery_app.domain.leads.first_response import variables
from recovery_app.domain.leads.repository import lead_messages
from recovery_app.errors import Conflict
from recovery_app.messaging import drafting, outbox
from recovery_app.models import (
    Channel,
    Direction,
    Lead,
    LeadStatus,
    Message,
    MessageCategory,
    Template,
    Tenant,
    pk,
)

REACTIVATION_AFTER = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class TriggerResult:
    action: str  # "enrolled" | "queued"
    lead_id: int
    enrollment_id: int | None = None
    campaign_id: int | None = None
    message_id: int | None = None
    channel: str | None = None
    status: str | None = None
    hold_reason: str | None = None
    drafted_by: str | None = None


def trigger(
    session: Session,
    *,
    viewer: Viewer,
    lead_id: int,
    now: datetime,
    campaign_id: int | None = None,
    idempotency_key: str | None = None,
) -> TriggerResult:
    lead = leads.get_lead(session, viewer=viewer, lead_id=lead_id)
    if lead.status == LeadStatus.CONVERTED:
        raise Conflict("This lead already converted; there is nothing to recover.")
    if campaign_id is not None:
        campaign = service.get_campaign(session, viewer=viewer, campaign_id=campaign_id)
        enrollment = service.enroll_lead(
            session,
            lead=lead,
            campaign=campaign,
            now=now,
            reason="enrolled by hand",
            actor_user_id=viewer.user_id,
        )
        return TriggerResult(
            "enrolled", pk(lead), enrollment_id=enrollment.id, campaign_id=campaign.id
        )
    message = send_next_best(session, viewer=viewer, lead=lead, now=now, key=idempotency_key)
    return TriggerResult(
        "queued",
        pk(lead),
        message_id=message.id,
        channel=str(message.channel),
        status=str(message.status),
        hold_reason=message.hold_reason,
        drafted_by=message.drafted_by,
    )


def situation_of(lead: Lead, now: datetime) -> str:
    """Which recovery message fits the lead best now."""
    waiting_since = lead.last_outbound_at or lead.created_at
    if lead.status == LeadStatus.LOST or now - waiting_since >= REACTIVATION_AFTER:
        return "reactivation_30d"
    if lead.status in (LeadStatus.NEW, LeadStatus.CONTACTED) and lead.last_inbound_at is None:
        return "new_web_lead" if now - lead.created_at < timedelta(days=2) else "silent_7d"
    return "silent_7d"


def channel_for(lead: Lead) -> Channel:
    """SMS when we may text the lead, else email; Conflict when neither is possible."""
    if lead.phone and not lead.opted_out_sms:
        return Channel.SMS
    if lead.email and not lead.opted_out_email:
        return Channel.EMAIL
    raise Conflict("The lead has opted out of every channel we have an address for.")


def _template(session: Session, tenant: Tenant, situation: str, channel: Channel) -> Template:
    own = session.execute(
        select(Template).where(
            col(Template.tenant_id) == tenant.id,
            col(Template.situation) == situation,
            col(Template.channel) == channel,
        )
    ).scalar_one_or_none()
    return own or ensure_builtin_templates(session)[(situation, channel)]


def _conversation(session: Session, lead: Lead) -> str:
    """The last few messages both ways, oldest first, for the AI to write a fitting follow-up."""
    recent = list(reversed(lead_messages(session, lead_id=pk(lead), limit=6)))
    lines = []
    for message in recent:
        who = "Lead" if message.direction == Direction.INBOUND else "Us"
        lines.append(f"{who} ({message.channel}): {message.body[:300]}")
    return "\n".join(lines)


def send_next_best(
    session: Session, *, viewer: Viewer, lead: Lead, now: datetime, key: str | None = None
) -> Message:
    tenant = session.get(Tenant, lead.tenant_id)
    assert tenant is not None
    channel = channel_for(lead)
    situation = situation_of(lead, now)
    template = _template(session, tenant, situation, channel)
    values = variables(session, lead, tenant)
    draft = drafting.get_drafter().draft(
        session,
        drafting.DraftRequest(
            tenant_id=pk(tenant),
            channel=channel,
            cache_key=f"lead:{pk(lead)}:{situation}:{now:%Y%m%d%H%M}",
            campaign_step_id=None,
            situation=situation,
            goal="reply",
            template_subject=template.subject,
            template_body=template.body,
            context={
                "temperature": str(lead.temperature),
                "source": lead.source,
                "lead_status": str(lead.status),
                "company_name": tenant.sender_name or tenant.name,
                "tenant_voice": str(
                    (tenant.preferences or {}).get("voice") or "warm, brief, professional"
                ),
                "last_messages": _conversation(session, lead),
            },
            require_opt_out=channel == Channel.SMS,
            reuse=False,
        ),
        now=now,
    )
    message = outbox.enqueue(
        session,
        lead=lead,
        channel=channel,
        now=now,
        category=MessageCategory.MARKETING,
        body=render(draft.body, values),
        subject=render(draft.subject or "", values) or None,
        template_id=template.id,
        sent_by_user_id=viewer.user_id,
        idempotency_key=f"recovery:{pk(lead)}:{key or now.strftime('%Y%m%d%H%M')}",
        drafted_by=draft.drafted_by,
    )
    return message
