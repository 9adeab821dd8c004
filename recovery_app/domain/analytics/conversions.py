"""Closing a deal: an agent records that a lead converted (a sale, a bound policy) and for how
much. The lead becomes `converted` (nurture stops), the timeline says so, and the conversion
keeps the last recovery message before it as its last-touch attribution. ROI reads each deal's
credited touches under every model from `conversion_credits`, which database triggers keep as
deals are recorded and recovery messages sent (migration 0017).
"""

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from recovery_app.domain.accounts.schemas import Viewer
from recovery_app.domain.audit import service as audit
from recovery_app.domain.crm import writeback as crm
from recovery_app.domain.leads import timeline
from recovery_app.domain.leads.service import get_lead
from recovery_app.errors import Conflict, ValidationFailed
from recovery_app.models import (
    ActivityKind,
    Conversion,
    Direction,
    Lead,
    LeadStatus,
    Message,
    MessageCategory,
    Tenant,
    pk,
)

# Larger than any home a small office sells; a typo guard, not a business rule.
MAX_VALUE_CENTS = 1_000_000_000 * 100
MAX_NOTE = 2000


def touch_clauses(tenant_id: int) -> tuple:
    """Which messages count as a recovery touch: marketing messages we actually sent."""
    return (
        col(Message.tenant_id) == tenant_id,
        col(Message.direction) == Direction.OUTBOUND,
        col(Message.category) == MessageCategory.MARKETING,
        col(Message.sent_at).is_not(None),
    )


def last_touch(
    session: Session, lead: Lead, *, closed_at: datetime, window_days: int
) -> Message | None:
    """The last recovery message sent to `lead` within `window_days` before `closed_at`."""
    query = (
        select(Message)
        .where(
            *touch_clauses(lead.tenant_id),
            col(Message.lead_id) == lead.id,
            col(Message.sent_at) <= closed_at,
            col(Message.sent_at) >= closed_at - timedelta(days=window_days),
        )
        .order_by(col(Message.sent_at).desc(), col(Message.id).desc())
        .limit(1)
    )
    return session.execute(query).scalars().first()


def record_conversion(
    session: Session,
    *,
    viewer: Viewer,
    lead_id: int,
    value_cents: int,
    closed_at: datetime,
    note: str = "",
    now: datetime,
) -> Conversion:
    """Record that `lead_id` closed for `value_cents` at `closed_at`. Agents may record their
    own leads' deals, managers any lead of the office. A lead converts once."""
    errors: dict[str, str] = {}
    if not 0 <= value_cents <= MAX_VALUE_CENTS:
        errors["value"] = "an amount from 0 to 1,000,000,000"
    if closed_at > now + timedelta(minutes=5):
        errors["closed_at"] = "not in the future"
    if len(note) > MAX_NOTE:
        errors["note"] = f"at most {MAX_NOTE} characters"
    if errors:
        raise ValidationFailed("Check the deal.", fields=errors)
    lead = get_lead(session, viewer=viewer, lead_id=lead_id)
    if lead.status == LeadStatus.CONVERTED:
        raise Conflict("This lead has already converted.")
    if closed_at < lead.created_at - timedelta(days=1):
        raise ValidationFailed("Check the deal.", fields={"closed_at": "after the lead arrived"})
    tenant = session.get(Tenant, lead.tenant_id)
    window = tenant.attribution_window_days if tenant else 30
    touch = last_touch(session, lead, closed_at=closed_at, window_days=window)
    conversion = Conversion(
        tenant_id=lead.tenant_id,
        lead_id=pk(lead),
        value_cents=value_cents,
        closed_at=closed_at,
        attributed_campaign_id=touch.campaign_id if touch else None,
        attributed_channel=touch.channel if touch else None,
        attributed_message_id=touch.id if touch else None,
        recorded_by_user_id=viewer.user_id,
        note=note.strip() or None,
        created_at=now,
    )
    session.add(conversion)
    session.flush()
    timeline.touched_by_human(lead, now=now)
    timeline.set_status(session, lead, LeadStatus.CONVERTED, now=now, reason="deal closed")
    crm.converted(session, lead, conversion, now=now)  # the won opportunity in GoHighLevel
    lead.converted_at = closed_at
    if lead.est_value_cents is None:
        lead.est_value_cents = value_cents
    timeline.add_activity(
        session,
        lead,
        ActivityKind.CONVERTED,
        now=now,
        data={
            "value_cents": value_cents,
            "closed_at": closed_at.isoformat(),
            "campaign_id": conversion.attributed_campaign_id,
        },
        actor_user_id=viewer.user_id,
    )
    audit.record(
        session,
        action="lead.converted",
        entity_type="lead",
        entity_id=pk(lead),
        tenant_id=lead.tenant_id,
        actor=viewer,
        after={"value_cents": value_cents, "closed_at": closed_at.isoformat()},
    )
    return conversion
