"""GDPR tools: export everything stored about a lead, or erase it.

Erasure keeps the lead row (anonymised) so counts, funnels and revenue stay true, removes every
piece of personal data we hold (names, addresses, message text, form fields, raw webhook bodies
that mention them) and adds the phone and email to the tenant's suppression list as hashes, so
the person is never messaged again even if a form sends them back in.
"""

from datetime import date, datetime, time
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session
from sqlmodel import SQLModel, col

from recovery_app.domain.accounts.permissions import require_manager
from recovery_app.domain.accounts.schemas import Viewer
from recovery_app.domain.alerts import repository as alert_queue
from recovery_app.domain.audit import service as audit
from recovery_app.domain.compliance.suppression import suppress
from recovery_app.domain.crm import repository as crm_writes
from recovery_app.domain.enrichment import repository as enrichment
from recovery_app.domain.enrichment.service import lookup_key
from recovery_app.domain.leads.service import get_lead
from recovery_app.models import (
    Activity,
    AuditLog,
    Channel,
    Conversion,
    Enrollment,
    EnrollmentStatus,
    GhlWrite,
    Lead,
    Message,
    SlackAlert,
    WebhookEvent,
)

ERASED = "[erased]"


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _row(model: SQLModel) -> dict[str, Any]:
    """Every stored column of `model`, as JSON-ready values."""
    return {c.name: _plain(getattr(model, c.name)) for c in model.__table__.columns}  # type: ignore[attr-defined]


def export_lead(session: Session, *, viewer: Viewer, lead_id: int) -> dict[str, Any]:
    """Everything stored about one lead, as JSON-ready data (managers only; audited)."""
    require_manager(viewer, "export a lead's data")
    lead = get_lead(session, viewer=viewer, lead_id=lead_id)

    def rows(model: type[SQLModel], *where: Any, order: Any) -> list[dict[str, Any]]:
        return [
            _row(r) for r in session.execute(select(model).where(*where).order_by(order)).scalars()
        ]

    data = {
        "lead": _row(lead),
        "activities": rows(
            Activity, col(Activity.lead_id) == lead_id, order=col(Activity.occurred_at)
        ),
        "messages": rows(Message, col(Message.lead_id) == lead_id, order=col(Message.created_at)),
        "enrollments": rows(
            Enrollment, col(Enrollment.lead_id) == lead_id, order=col(Enrollment.enrolled_at)
        ),
        "conversions": rows(
            Conversion, col(Conversion.lead_id) == lead_id, order=col(Conversion.closed_at)
        ),
        "slack_alerts": rows(
            SlackAlert, col(SlackAlert.lead_id) == lead_id, order=col(SlackAlert.created_at)
        ),
        "ghl_sync_log": rows(
            GhlWrite, col(GhlWrite.lead_id) == lead_id, order=col(GhlWrite.created_at)
        ),
        "audit_log": rows(
            AuditLog,
            col(AuditLog.tenant_id) == viewer.tenant_id,
            col(AuditLog.entity_type) == "lead",
            col(AuditLog.entity_id) == str(lead_id),
            order=col(AuditLog.created_at),
        ),
    }
    audit.record(
        session,
        action="lead.exported",
        entity_type="lead",
        entity_id=lead_id,
        tenant_id=viewer.tenant_id,
        actor=viewer,
        after={"activities": len(data["activities"]), "messages": len(data["messages"])},
    )
    return data


def erase_lead(session: Session, *, viewer: Viewer, lead_id: int, now: datetime) -> None:
    """Remove a lead's personal data for good and suppress its addresses (managers; audited)."""
    require_manager(viewer, "erase a lead")
    lead: Lead = get_lead(session, viewer=viewer, lead_id=lead_id)
    tenant_id = viewer.tenant_id
    suppressed = []
    if lead.phone:
        suppress(
            session, tenant_id=tenant_id, channel=Channel.SMS, address=lead.phone, reason="erased"
        )
        suppressed.append("sms")
    if lead.email:
        suppress(
            session, tenant_id=tenant_id, channel=Channel.EMAIL, address=lead.email, reason="erased"
        )
        suppressed.append("email")

    # Raw webhook bodies that carried this person's addresses.
    mentions = [f"%{v}%" for v in (lead.email, lead.phone, (lead.phone or "").lstrip("+")) if v]
    if mentions:
        session.execute(
            update(WebhookEvent)
            .where(
                col(WebhookEvent.tenant_id) == tenant_id,
                or_(*(col(WebhookEvent.raw_body).like(m) for m in mentions)),
            )
            .values(raw_body=ERASED, headers={})
        )

    # Cached enrichment answers about this person (whichever office's lookup paid for them).
    enrichment.forget(
        session,
        lookup_keys=[
            k for k in (lookup_key(lead), f"phone:{lead.phone}" if lead.phone else None) if k
        ],
    )
    for name in (
        "email",
        "phone",
        "message",
        "job_title",
        "company",
        "seniority",
        "linkedin_url",
        "location",
        "enrichment_note",
        "external_id",
        "crm_contact_id",
        "timezone",
        "status_reason",
    ):
        setattr(lead, name, None)
    if lead.enrichment_status == "pending":
        lead.enrichment_status, lead.enrichment_due_at = "skipped", None
    lead.first_name, lead.last_name = "Erased", "lead"
    lead.attributes, lead.tags, lead.consent_evidence = {}, [], {}
    lead.consent_sms = lead.consent_email = False
    lead.opted_out_sms = lead.opted_out_email = True
    lead.opted_out_sms_at = lead.opted_out_email_at = now
    lead.opted_out_sms_reason = lead.opted_out_email_reason = "erased on request"
    lead.updated_at = now

    session.execute(
        update(Message)
        .where(col(Message.lead_id) == lead_id)
        .values(body=ERASED, subject=None, to_address=None, from_address=None)
    )
    session.execute(update(Activity).where(col(Activity.lead_id) == lead_id).values(data={}))
    session.execute(update(Conversion).where(col(Conversion.lead_id) == lead_id).values(note=None))
    session.execute(
        update(Enrollment)
        .where(
            col(Enrollment.lead_id) == lead_id, col(Enrollment.status) == EnrollmentStatus.ACTIVE
        )
        .values(
            status=EnrollmentStatus.STOPPED,
            stopped_reason="erased",
            next_run_at=None,
            updated_at=now,
        )
    )
    # Slack alerts name the lead (those already posted are in Slack's hands, not ours).
    alert_queue.delete_for_lead(session, lead_id=lead_id)
    # The GoHighLevel sync log quotes its messages; nothing more is written back for it.
    crm_writes.delete_for_lead(session, lead_id=lead_id)
    # Earlier audit entries about this lead may quote its data (consent text, old values).
    session.execute(
        update(AuditLog)
        .where(
            col(AuditLog.tenant_id) == tenant_id,
            col(AuditLog.entity_type) == "lead",
            col(AuditLog.entity_id) == str(lead_id),
        )
        .values(before={}, after={"erased": True})
    )
    audit.record(
        session,
        action="lead.erased",
        entity_type="lead",
        entity_id=lead_id,
        tenant_id=tenant_id,
        actor=viewer,
        after={"suppressed": suppressed},
    )
