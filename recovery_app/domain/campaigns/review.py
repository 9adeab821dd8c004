"""The approval queue: AI drafts of campaigns not on autopilot wait here for a person.

Approve (optionally after editing) -> the message goes to the outbox and the enrollment moves
on; reject -> the step's template text goes out instead. A draft approved after its lead's send
window closed is re-planned to the window's next opening, never sent late. Agents decide on
their own leads' drafts, managers on all of the tenant's.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from recovery_app.domain.accounts.schemas import Viewer
from recovery_app.domain.audit import service as audit
from recovery_app.domain.campaigns import service
from recovery_app.domain.campaigns.send_time import window_for
from recovery_app.domain.campaigns.windows import next_opening
from recovery_app.domain.compliance.quiet_hours import lead_zones
from recovery_app.domain.leads.handling import check_template
from recovery_app.errors import Conflict, NotFound, ValidationFailed
from recovery_app.messaging.draft_checks import check_draft
from recovery_app.models import (
    Campaign,
    CampaignStep,
    Channel,
    DraftReview,
    DraftStatus,
    Enrollment,
    EnrollmentStatus,
    Lead,
    Message,
    Tenant,
    pk,
)


@dataclass(frozen=True, slots=True)
class PendingDraft:
    review: DraftReview
    lead: Lead
    campaign_name: str


def _visible(viewer: Viewer) -> list:
    clauses = [col(DraftReview.tenant_id) == viewer.tenant_id]
    if not viewer.is_manager:
        clauses.append(col(Lead.assigned_user_id) == viewer.user_id)
    return clauses


def pending(
    session: Session, *, viewer: Viewer, campaign_id: int | None = None, limit: int = 100
) -> list[PendingDraft]:
    """Drafts waiting for a decision, oldest first, with their lead and campaign."""
    query = (
        select(DraftReview, Lead, col(Campaign.name))
        .join(Lead, col(Lead.id) == col(DraftReview.lead_id))
        .join(Campaign, col(Campaign.id) == col(DraftReview.campaign_id))
        .where(col(DraftReview.status) == DraftStatus.PENDING, *_visible(viewer))
        .order_by(col(DraftReview.created_at), col(DraftReview.id))
        .limit(limit)
    )
    if campaign_id is not None:
        query = query.where(col(DraftReview.campaign_id) == campaign_id)
    return [PendingDraft(r, lead, name) for r, lead, name in session.execute(query).all()]


def _get(session: Session, viewer: Viewer, review_id: int) -> tuple[DraftReview, Lead]:
    row = session.execute(
        select(DraftReview, Lead)
        .join(Lead, col(Lead.id) == col(DraftReview.lead_id))
        .where(col(DraftReview.id) == review_id, *_visible(viewer))
    ).one_or_none()
    if row is None:
        raise NotFound("No such draft.")
    review, lead = row
    if review.status != DraftStatus.PENDING:
        raise Conflict(f"This draft was already {review.status}.")
    return review, lead


def waiting_campaigns(session: Session, *, viewer: Viewer) -> list[tuple[int, str]]:
    """The campaigns that have drafts waiting for this viewer, by name."""
    rows = session.execute(
        select(col(Campaign.id), col(Campaign.name))
        .join(DraftReview, col(DraftReview.campaign_id) == col(Campaign.id))
        .join(Lead, col(Lead.id) == col(DraftReview.lead_id))
        .where(col(DraftReview.status) == DraftStatus.PENDING, *_visible(viewer))
        .group_by(col(Campaign.id), col(Campaign.name))
        .order_by(col(Campaign.name), col(Campaign.id))
    ).all()
    return [(int(campaign_id or 0), name) for campaign_id, name in rows]


def pending_one(session: Session, *, viewer: Viewer, review_id: int) -> PendingDraft:
    """One draft still waiting, if the viewer may decide on it (NotFound, Conflict if decided)."""
    review, lead = _get(session, viewer, review_id)
    campaign = session.get(Campaign, review.campaign_id)
    return PendingDraft(review, lead, campaign.name if campaign else "")


def approve(
    session: Session,
    *,
    viewer: Viewer,
    review_id: int,
    now: datetime,
    subject: str | None = None,
    body: str | None = None,
) -> Message | None:
    """Send the draft (edited when `body`/`subject` are given); None when its nurture stopped."""
    review, lead = _get(session, viewer, review_id)
    if body is not None or subject is not None:
        subject = subject if subject is not None else review.subject
        body = (body if body is not None else review.body).strip()
        problems = check_template(Channel(review.channel), subject, body)
        settings_checks = check_draft(
            Channel(review.channel),
            subject,
            body,
            require_opt_out=review.channel == Channel.SMS,
        )
        if settings_checks and "body" not in problems:
            problems["body"] = "; ".join(settings_checks)
        if problems:
            raise ValidationFailed("Check the message.", fields=problems)
        review.subject, review.body = subject, body
    return _decide(session, viewer, review, lead, DraftStatus.APPROVED, now)


def reject(session: Session, *, viewer: Viewer, review_id: int, now: datetime) -> Message | None:
    """Do not use the AI text: the step's template text goes out instead."""
    review, lead = _get(session, viewer, review_id)
    return _decide(session, viewer, review, lead, DraftStatus.REJECTED, now)


def approve_all(session: Session, *, viewer: Viewer, campaign_id: int, now: datetime) -> int:
    """Approve every pending draft of one campaign the viewer may decide on."""
    service.get_campaign(session, viewer=viewer, campaign_id=campaign_id)
    count = 0
    while batch := pending(session, viewer=viewer, campaign_id=campaign_id, limit=200):
        for item in batch:
            _decide(session, viewer, item.review, item.lead, DraftStatus.APPROVED, now)
            count += 1
        session.flush()
    return count


def _decide(
    session: Session,
    viewer: Viewer,
    review: DraftReview,
    lead: Lead,
    decision: DraftStatus,
    now: datetime,
) -> Message | None:
    from recovery_app.domain.campaigns.sweep import step_message
    from recovery_app.messaging.outbox import insert_once

    review.status = decision
    review.decided_at = now
    review.decided_by_user_id = viewer.user_id
    review.updated_at = now
    audit.record(
        session,
        action=f"draft.{decision}",
        entity_type="draft_review",
        entity_id=review.id,
        tenant_id=review.tenant_id,
        actor=viewer,
        after={"lead_id": review.lead_id, "campaign_id": review.campaign_id},
    )
    enrollment = session.get(Enrollment, review.enrollment_id)
    campaign = session.get(Campaign, review.campaign_id)
    step = session.get(CampaignStep, review.campaign_step_id)
    if enrollment is None or campaign is None or step is None:
        return None
    if enrollment.status != EnrollmentStatus.ACTIVE or enrollment.current_step != review.position:
        return None  # the lead replied, opted out or was moved meanwhile
    tenant = session.get(Tenant, lead.tenant_id)
    zones = lead_zones(lead.timezone, lead.phone, tenant.timezone if tenant else None)
    window, _ = window_for(session, campaign, step.channel, now=now, memo={})
    opening = next_opening(now, zones, window)
    if decision == DraftStatus.APPROVED:
        subject, body, drafted_by = review.subject, review.body, review.drafted_by
    else:
        subject, body, drafted_by = review.fallback_subject, review.fallback_body, "template"
    row = step_message(
        lead,
        campaign=campaign,
        step=step,
        enrollment_id=pk(enrollment),
        subject=subject,
        body=body,
        drafted_by=drafted_by,
        now=now,
        send_at=opening,
    )
    if opening > now:
        row["hold_reason"] = "Approved after the send window closed: re-planned to its next opening"
    message = insert_once(session, Message(**row))
    review.message_id = message.id
    steps = service.steps_of(session, pk(campaign))
    enrollment.current_step = review.position + 1
    enrollment.hold_reason = None
    enrollment.updated_at = now
    if enrollment.current_step < len(steps):
        enrollment.next_run_at = opening + timedelta(
            minutes=steps[enrollment.current_step].delay_minutes
        )
    else:
        enrollment.status = EnrollmentStatus.COMPLETED
        enrollment.completed_at = now
        enrollment.next_run_at = None
    return message
