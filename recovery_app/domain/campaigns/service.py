"""Campaigns: create and change them (managers), launch, pause, resume, archive, and enroll
leads. Enrolling a whole audience is one INSERT ... SELECT; the nurture sweep
(`campaigns.sweep`) then runs each enrollment's steps.

Lifecycle: draft -> (scheduled ->) active <-> paused -> completed. A lead is in at most one
active campaign at a time: launching skips leads already being nurtured elsewhere, enrolling one
lead by hand (or by a trigger) moves it. Every change is audited.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Integer, String, exists, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlmodel import col
from sqlmodel.sql.sqltypes import UTCDateTime

from recovery_app.domain.accounts.permissions import require_manager
from recovery_app.domain.accounts.schemas import Viewer
from recovery_app.domain.audit import service as audit
from recovery_app.domain.campaigns.audience import audience_clauses, clean_audience
from recovery_app.domain.campaigns.schemas import (
    DEFAULT_SEND_WINDOW,
    CampaignIn,
    CampaignPatch,
    StepIn,
)
from recovery_app.domain.leads import timeline
from recovery_app.domain.leads.handling import check_template
from recovery_app.errors import Conflict, NotFound, ValidationFailed
from recovery_app.messaging.outbox import PAUSED_HOLD
from recovery_app.models import (
    Activity,
    ActivityKind,
    Campaign,
    CampaignStatus,
    CampaignStep,
    DraftReview,
    DraftStatus,
    Enrollment,
    EnrollmentStatus,
    Lead,
    Message,
    MessageStatus,
    Template,
    pk,
)

EDITABLE = (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED, CampaignStatus.PAUSED)


@dataclass(frozen=True, slots=True)
class CampaignView:
    campaign: Campaign
    steps: list[CampaignStep]
    enrolled: int
    active: int


def _dialect(session: Session) -> Any:
    return postgresql if session.get_bind().dialect.name == "postgresql" else sqlite


def get_campaign(session: Session, *, viewer: Viewer, campaign_id: int) -> Campaign:
    campaign = session.get(Campaign, campaign_id)
    if campaign is None or campaign.tenant_id != viewer.tenant_id or campaign.archived_at:
        raise NotFound("No such campaign.")
    return campaign


def steps_of(session: Session, campaign_id: int) -> list[CampaignStep]:
    query = (
        select(CampaignStep)
        .where(col(CampaignStep.campaign_id) == campaign_id)
        .order_by(col(CampaignStep.position))
    )
    return list(session.execute(query).scalars())


def list_campaigns(session: Session, *, viewer: Viewer) -> list[Campaign]:
    query = (
        select(Campaign)
        .where(col(Campaign.tenant_id) == viewer.tenant_id, col(Campaign.archived_at).is_(None))
        .order_by(col(Campaign.created_at).desc(), col(Campaign.id).desc())
    )
    return list(session.execute(query).scalars())


def describe(session: Session, campaign: Campaign) -> CampaignView:
    from sqlalchemy import case, func

    enrolled, active = session.execute(
        select(
            func.count(),
            func.coalesce(
                func.sum(case((col(Enrollment.status) == EnrollmentStatus.ACTIVE, 1), else_=0)), 0
            ),
        ).where(col(Enrollment.campaign_id) == campaign.id)
    ).one()
    return CampaignView(campaign, steps_of(session, pk(campaign)), int(enrolled), int(active))


def check_steps(session: Session, tenant_id: int, steps: list[StepIn]) -> None:
    """ValidationFailed naming each step field (`steps.<i>.body`) that cannot be sent as it is:
    the rule the API, the wizard and every save share."""
    errors: dict[str, str] = {}
    for index, step in enumerate(steps):
        subject, body = step.subject, step.body
        if step.template_id is not None:
            template = session.get(Template, step.template_id)
            if template is None or template.tenant_id not in (None, tenant_id):
                errors[f"steps.{index}.template_id"] = "no such template"
                continue
            if template.channel != step.channel:
                errors[f"steps.{index}.template_id"] = f"that template is for {template.channel}"
                continue
            subject, body = subject or template.subject, body or template.body
        problems = check_template(step.channel, subject, body or "")
        for field, problem in problems.items():
            errors[f"steps.{index}.{field}"] = problem
        if step.condition == "not_opened" and index == 0:
            errors[f"steps.{index}.condition"] = "the first step has no earlier email to check"
    if errors:
        raise ValidationFailed("Check the campaign's steps.", fields=errors)


def _write_steps(session: Session, campaign: Campaign, steps: list[StepIn]) -> None:
    for old in steps_of(session, pk(campaign)):
        session.delete(old)
    session.flush()
    for position, step in enumerate(steps):
        session.add(
            CampaignStep(
                campaign_id=pk(campaign),
                position=position,
                channel=step.channel,
                delay_minutes=step.delay_minutes,
                template_id=step.template_id,
                subject=(step.subject or "").strip() or None,
                body=(step.body or "").strip() or None,
                ai_personalize=step.ai_personalize,
                condition=step.condition,
            )
        )
    campaign.channels = sorted({str(step.channel) for step in steps})
    session.flush()


def _snapshot(campaign: Campaign) -> dict[str, Any]:
    return {
        "name": campaign.name,
        "status": str(campaign.status),
        "goal": str(campaign.goal),
        "audience": campaign.audience,
        "send_window": campaign.send_window,
        "always_on": campaign.always_on,
        "autopilot": campaign.autopilot,
        "frequency_cap_per_day": campaign.frequency_cap_per_day,
    }


def _audit(
    session: Session, viewer: Viewer | None, campaign: Campaign, action: str, before, after
) -> None:
    audit.record(
        session,
        action=action,
        entity_type="campaign",
        entity_id=campaign.id,
        tenant_id=campaign.tenant_id,
        actor=viewer,
        actor_label=None if viewer else "system",
        before=before,
        after=after,
    )


def create_campaign(
    session: Session, *, viewer: Viewer, data: CampaignIn, now: datetime
) -> Campaign:
    require_manager(viewer, "create campaigns")
    audience = clean_audience(data.audience)
    check_steps(session, viewer.tenant_id, data.steps)
    campaign = Campaign(
        tenant_id=viewer.tenant_id,
        name=data.name.strip(),
        goal=data.goal,
        status=CampaignStatus.DRAFT,
        audience=audience,
        send_window=data.send_window.model_dump(),
        always_on=data.always_on,
        autopilot=data.autopilot,
        frequency_cap_per_day=data.frequency_cap_per_day,
        starts_at=data.starts_at,
        created_by_user_id=viewer.user_id,
        created_at=now,
        updated_at=now,
    )
    session.add(campaign)
    session.flush()
    _write_steps(session, campaign, data.steps)
    _audit(session, viewer, campaign, "campaign.created", None, _snapshot(campaign))
    return campaign


def update_campaign(
    session: Session, *, viewer: Viewer, campaign_id: int, changes: CampaignPatch, now: datetime
) -> Campaign:
    """Change settings; steps only while the campaign is not running (pause it first).
    `status` "active" launches or resumes it, "paused" pauses it."""
    require_manager(viewer, "change campaigns")
    campaign = get_campaign(session, viewer=viewer, campaign_id=campaign_id)
    before = _snapshot(campaign)
    if changes.steps is not None:
        if campaign.status not in EDITABLE:
            raise Conflict("Pause the campaign before changing its steps.")
        check_steps(session, campaign.tenant_id, changes.steps)
        _write_steps(session, campaign, changes.steps)
    if changes.audience is not None:
        campaign.audience = clean_audience(changes.audience)
    if changes.send_window is not None:
        campaign.send_window = changes.send_window.model_dump()
    for name in ("name", "goal", "always_on", "autopilot", "frequency_cap_per_day"):
        value = getattr(changes, name)
        if value is not None:
            setattr(campaign, name, value.strip() if isinstance(value, str) else value)
    # An explicit null start clears a chosen date ("start when launched"); absent leaves it.
    if "starts_at" in changes.model_fields_set:
        campaign.starts_at = changes.starts_at
    campaign.updated_at = now
    _audit(session, viewer, campaign, "campaign.updated", before, _snapshot(campaign))
    if changes.status == CampaignStatus.ACTIVE:
        if campaign.status == CampaignStatus.PAUSED:
            resume(session, viewer=viewer, campaign_id=campaign_id, now=now)
        elif campaign.status != CampaignStatus.ACTIVE:
            launch(session, viewer=viewer, campaign_id=campaign_id, now=now)
    elif changes.status == CampaignStatus.PAUSED:
        pause(session, viewer=viewer, campaign_id=campaign_id, now=now)
    elif changes.status is not None:
        raise ValidationFailed(
            "A campaign can be set active or paused.", fields={"status": "active or paused"}
        )
    return campaign


def launch(session: Session, *, viewer: Viewer, campaign_id: int, now: datetime) -> int:
    """Start the campaign (or schedule it, when it starts later): every lead matching the
    audience is enrolled once. Returns how many were enrolled now."""
    require_manager(viewer, "launch campaigns")
    campaign = get_campaign(session, viewer=viewer, campaign_id=campaign_id)
    if campaign.status not in (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED):
        raise Conflict(f"The campaign is {campaign.status}; only a draft can be launched.")
    if not steps_of(session, campaign_id):
        raise ValidationFailed("Add at least one step first.", fields={"steps": "required"})
    before = _snapshot(campaign)
    if campaign.starts_at is not None and campaign.starts_at > now:
        campaign.status = CampaignStatus.SCHEDULED
        _audit(session, viewer, campaign, "campaign.scheduled", before, _snapshot(campaign))
        return 0
    enrolled = activate(session, campaign, now=now)
    _audit(session, viewer, campaign, "campaign.launched", before, _snapshot(campaign))
    return enrolled


def activate(session: Session, campaign: Campaign, *, now: datetime) -> int:
    """Make the campaign active and enroll its audience (launch, or the sweep at `starts_at`)."""
    campaign.status = CampaignStatus.ACTIVE
    campaign.launched_at = campaign.launched_at or now
    campaign.updated_at = now
    session.flush()
    return enroll_matching(session, campaign, now=now)


ENROLL_CHUNK = 5_000


def enroll_matching(
    session: Session, campaign: Campaign, *, now: datetime, chunk: int = ENROLL_CHUNK
) -> int:
    """Enroll every lead of the audience not yet in this campaign and not being nurtured by
    another one. The candidates are read first, then inserted `chunk` (5,000) at a time with
    INSERT ... SELECT ... ON CONFLICT DO NOTHING, so a launch and an always-on sweep racing
    each other still enroll each lead once. (One INSERT ... SELECT checking NOT EXISTS against the table
    it fills went quadratic on PostgreSQL: planned for an empty `enrollments`, its anti-join
    scanned every row inserted so far for each lead - minutes for 100,000 leads.) Each
    enrolled lead gets an `enrolled` activity."""
    steps = steps_of(session, pk(campaign))
    if not steps:
        return 0
    first_run = now + timedelta(minutes=steps[0].delay_minutes)
    clauses = audience_clauses(
        session, campaign.audience or {}, tenant_id=campaign.tenant_id, now=now
    )
    here = (
        select(col(Enrollment.id))
        .where(col(Enrollment.lead_id) == col(Lead.id), col(Enrollment.campaign_id) == campaign.id)
        .correlate(Lead)
    )
    elsewhere = (
        select(col(Enrollment.id))
        .where(
            col(Enrollment.lead_id) == col(Lead.id),
            col(Enrollment.status) == EnrollmentStatus.ACTIVE,
        )
        .correlate(Lead)
    )
    candidates = list(
        session.execute(
            select(col(Lead.id))
            .where(*clauses, ~exists(here), ~exists(elsewhere))
            .order_by(col(Lead.id))
        ).scalars()
    )
    lead_ids: list[int] = []
    for start in range(0, len(candidates), chunk):
        rows = select(
            col(Lead.tenant_id),
            col(Lead.id),
            literal(pk(campaign), Integer()),
            literal(0, Integer()),
            literal(first_run, UTCDateTime()),
            literal(str(EnrollmentStatus.ACTIVE), String()),
            literal(now, UTCDateTime()),
            literal(now, UTCDateTime()),
        ).where(col(Lead.id).in_(candidates[start : start + chunk]))
        stmt = (
            _dialect(session)
            .insert(Enrollment)
            .from_select(
                [
                    "tenant_id",
                    "lead_id",
                    "campaign_id",
                    "current_step",
                    "next_run_at",
                    "status",
                    "enrolled_at",
                    "updated_at",
                ],
                rows,
            )
            .on_conflict_do_nothing(index_elements=["lead_id", "campaign_id"])
            .returning(col(Enrollment.lead_id))
        )
        lead_ids += session.execute(stmt).scalars()
    if lead_ids:
        data = {"campaign_id": campaign.id, "campaign": campaign.name}
        session.execute(
            Activity.__table__.insert(),  # type: ignore[attr-defined]
            [
                {
                    "tenant_id": campaign.tenant_id,
                    "lead_id": lead_id,
                    "kind": str(ActivityKind.ENROLLED),
                    "occurred_at": now,
                    "data": data,
                }
                for lead_id in lead_ids
            ],
        )
    return len(lead_ids)


def enroll_lead(
    session: Session,
    *,
    lead: Lead,
    campaign: Campaign,
    now: datetime,
    reason: str,
    actor_user_id: int | None = None,
) -> Enrollment:
    """Put one lead into `campaign` now (a person's choice or a trigger's); see `enroll_leads`."""
    if campaign.tenant_id != lead.tenant_id:
        raise NotFound("No such campaign.")
    enroll_leads(
        session,
        campaign=campaign,
        lead_ids=[pk(lead)],
        now=now,
        reason=reason,
        actor_user_id=actor_user_id,
    )
    return session.execute(
        select(Enrollment)
        .where(col(Enrollment.lead_id) == lead.id, col(Enrollment.campaign_id) == campaign.id)
        .execution_options(populate_existing=True)
    ).scalar_one()


def enroll_leads(
    session: Session,
    *,
    campaign: Campaign,
    lead_ids: Sequence[int],
    now: datetime,
    reason: str,
    actor_user_id: int | None = None,
) -> list[int]:
    """Put these leads of the campaign's office into `campaign` now: any other active nurture
    of theirs stops ("moved"), a lead that went through this campaign before starts it again
    from the first step, a lead already active in it is left where it is. Set-based (a few
    statements whatever the count), so a bulk action over a thousand leads costs what one
    does; the caller decides who may enroll which leads. Returns the ids enrolled."""
    if campaign.status not in (CampaignStatus.ACTIVE, CampaignStatus.SCHEDULED):
        raise Conflict(f"The campaign is {campaign.status}; launch or resume it first.")
    steps = steps_of(session, pk(campaign))
    if not steps:
        raise ValidationFailed("The campaign has no steps.", fields={"campaign_id": "no steps"})
    ours = select(col(Lead.id)).where(
        col(Lead.id).in_(list(lead_ids)), col(Lead.tenant_id) == campaign.tenant_id
    )
    moved = f"moved to campaign {campaign.id}"
    stopped = session.execute(
        update(Enrollment)
        .where(
            col(Enrollment.lead_id).in_(ours),
            col(Enrollment.status) == EnrollmentStatus.ACTIVE,
            col(Enrollment.campaign_id) != campaign.id,
        )
        .values(
            status=EnrollmentStatus.STOPPED,
            stopped_reason=moved[:64],
            next_run_at=None,
            updated_at=now,
        )
        .returning(col(Enrollment.id), col(Enrollment.lead_id), col(Enrollment.campaign_id))
        .execution_options(synchronize_session=False)
    ).all()
    timeline.cancel_pending(
        session, enrollment_ids=[row[0] for row in stopped], reason=moved, now=now
    )
    first_run = now + timedelta(minutes=steps[0].delay_minutes)
    restart = {
        "current_step": 0,
        "status": str(EnrollmentStatus.ACTIVE),
        "stopped_reason": None,
        "completed_at": None,
        "hold_reason": None,
        "next_run_at": first_run,
        "updated_at": now,
    }
    rows = select(
        col(Lead.tenant_id),
        col(Lead.id),
        literal(pk(campaign), Integer()),
        literal(now, UTCDateTime()),
        *(literal(value, _RESTART_TYPES[name]) for name, value in restart.items()),
    ).where(col(Lead.id).in_(ours))
    insert = _dialect(session).insert(Enrollment)
    enrolled = list(
        session.execute(
            insert.from_select(
                ["tenant_id", "lead_id", "campaign_id", "enrolled_at", *restart], rows
            )
            .on_conflict_do_update(
                index_elements=["lead_id", "campaign_id"],
                set_=restart,
                where=col(Enrollment.status) != EnrollmentStatus.ACTIVE,
            )
            .returning(col(Enrollment.lead_id))
            .execution_options(synchronize_session=False)
        ).scalars()
    )
    activities: list[dict[str, Any]] = [
        {
            "tenant_id": campaign.tenant_id,
            "lead_id": lead_id,
            "kind": str(ActivityKind.UNENROLLED),
            "occurred_at": now,
            "actor_user_id": None,
            "data": {"campaign_id": other_campaign, "reason": moved},
        }
        for _, lead_id, other_campaign in stopped
    ]
    enrolled_data = {"campaign_id": campaign.id, "campaign": campaign.name, "reason": reason}
    activities += [
        {
            "tenant_id": campaign.tenant_id,
            "lead_id": lead_id,
            "kind": str(ActivityKind.ENROLLED),
            "occurred_at": now,
            "actor_user_id": actor_user_id,
            "data": enrolled_data,
        }
        for lead_id in enrolled
    ]
    if activities:
        timeline.add_activities(session, activities, now=now)
    return enrolled


# SQL types of the values an enrollment (re)starts with, for INSERT ... SELECT literals.
_RESTART_TYPES: dict[str, Any] = {
    "current_step": Integer(),
    "status": String(),
    "stopped_reason": String(),
    "completed_at": UTCDateTime(),
    "hold_reason": String(),
    "next_run_at": UTCDateTime(),
    "updated_at": UTCDateTime(),
}


def stop_enrollment(
    session: Session, enrollment: Enrollment, *, reason: str, now: datetime
) -> None:
    """Stop one enrollment: no further steps; its queued messages and pending drafts are
    dropped (see `timeline.stop_enrollments` for all of a lead's at once)."""
    if enrollment.status != EnrollmentStatus.ACTIVE:
        return
    enrollment.status = EnrollmentStatus.STOPPED
    enrollment.stopped_reason = reason[:64]
    enrollment.next_run_at = None
    enrollment.updated_at = now
    session.flush()
    timeline.cancel_pending(session, enrollment_ids=[pk(enrollment)], reason=reason, now=now)
    lead = session.get(Lead, enrollment.lead_id)
    if lead is not None:
        timeline.add_activity(
            session,
            lead,
            ActivityKind.UNENROLLED,
            now=now,
            data={"campaign_id": enrollment.campaign_id, "reason": reason},
        )


@dataclass(frozen=True, slots=True)
class Nurture:
    """A lead's active enrollment, as the lead page shows it."""

    enrollment: Enrollment
    campaign: Campaign
    step_count: int


def active_nurture(session: Session, *, lead_id: int) -> Nurture | None:
    row = session.execute(
        select(Enrollment, Campaign)
        .join(Campaign, col(Campaign.id) == col(Enrollment.campaign_id))
        .where(
            col(Enrollment.lead_id) == lead_id, col(Enrollment.status) == EnrollmentStatus.ACTIVE
        )
        .limit(1)
    ).one_or_none()
    if row is None:
        return None
    enrollment, campaign = row
    return Nurture(enrollment, campaign, len(steps_of(session, pk(campaign))))


def enrollable_campaigns(session: Session, *, viewer: Viewer) -> list[Campaign]:
    """Campaigns a lead can be put into by hand now."""
    return [
        c
        for c in list_campaigns(session, viewer=viewer)
        if c.status in (CampaignStatus.ACTIVE, CampaignStatus.SCHEDULED)
    ]


def pause(session: Session, *, viewer: Viewer, campaign_id: int, now: datetime) -> int:
    """Stop all future steps at once: the sweep skips paused campaigns and messages already
    queued but not yet sent wait (held) until a resume. Returns how many messages were held."""
    require_manager(viewer, "pause campaigns")
    campaign = get_campaign(session, viewer=viewer, campaign_id=campaign_id)
    if campaign.status != CampaignStatus.ACTIVE:
        raise Conflict(f"The campaign is {campaign.status}; only an active one can be paused.")
    before = _snapshot(campaign)
    campaign.status = CampaignStatus.PAUSED
    campaign.updated_at = now
    held = session.execute(
        update(Message)
        .where(
            col(Message.campaign_id) == campaign_id,
            col(Message.status) == MessageStatus.QUEUED,
        )
        .values(next_attempt_at=None, hold_reason=PAUSED_HOLD, updated_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    _audit(session, viewer, campaign, "campaign.paused", before, _snapshot(campaign))
    return int(held)


def resume(session: Session, *, viewer: Viewer, campaign_id: int, now: datetime) -> int:
    """Carry on: held messages are due again (the guard re-checks each) and steps that fell due
    while paused run on the next sweep, inside the send window."""
    require_manager(viewer, "resume campaigns")
    campaign = get_campaign(session, viewer=viewer, campaign_id=campaign_id)
    if campaign.status != CampaignStatus.PAUSED:
        raise Conflict(f"The campaign is {campaign.status}; only a paused one can be resumed.")
    before = _snapshot(campaign)
    campaign.status = CampaignStatus.ACTIVE
    campaign.updated_at = now
    released = session.execute(
        update(Message)
        .where(
            col(Message.campaign_id) == campaign_id,
            col(Message.status) == MessageStatus.QUEUED,
            col(Message.hold_reason) == PAUSED_HOLD,
        )
        .values(next_attempt_at=now, hold_reason=None, updated_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    session.info["wake_dispatcher"] = True
    _audit(session, viewer, campaign, "campaign.resumed", before, _snapshot(campaign))
    return int(released)


def archive(session: Session, *, viewer: Viewer, campaign_id: int, now: datetime) -> None:
    """DELETE: a draft that never ran is deleted; a campaign that ran is archived (its messages
    and results stay for ROI), its enrollments stop and its queued messages are dropped."""
    require_manager(viewer, "delete campaigns")
    campaign = get_campaign(session, viewer=viewer, campaign_id=campaign_id)
    before = _snapshot(campaign)
    if campaign.launched_at is None:
        _audit(session, viewer, campaign, "campaign.deleted", before, None)
        session.delete(campaign)
        session.flush()
        return
    ids = list(
        session.execute(
            select(col(Enrollment.id)).where(
                col(Enrollment.campaign_id) == campaign_id,
                col(Enrollment.status) == EnrollmentStatus.ACTIVE,
            )
        ).scalars()
    )
    session.execute(
        update(Enrollment)
        .where(col(Enrollment.id).in_(ids))
        .values(
            status=EnrollmentStatus.STOPPED,
            stopped_reason="campaign archived",
            next_run_at=None,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    timeline.cancel_pending(session, enrollment_ids=ids, reason="campaign archived", now=now)
    campaign.status = CampaignStatus.COMPLETED
    campaign.archived_at = now
    campaign.updated_at = now
    _audit(session, viewer, campaign, "campaign.archived", before, _snapshot(campaign))


def complete_finished(session: Session, *, now: datetime) -> int:
    """Active campaigns that are not always-on and have no active enrollment left are done."""
    still_running = (
        select(col(Enrollment.id))
        .where(
            col(Enrollment.campaign_id) == col(Campaign.id),
            col(Enrollment.status) == EnrollmentStatus.ACTIVE,
        )
        .correlate(Campaign)
    )
    pending = (
        select(col(DraftReview.id))
        .where(
            col(DraftReview.campaign_id) == col(Campaign.id),
            col(DraftReview.status) == DraftStatus.PENDING,
        )
        .correlate(Campaign)
    )
    result = session.execute(
        update(Campaign)
        .where(
            col(Campaign.status) == CampaignStatus.ACTIVE,
            col(Campaign.always_on).is_(False),
            ~exists(still_running),
            ~exists(pending),
        )
        .values(status=CampaignStatus.COMPLETED, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def send_window_of(campaign: Campaign) -> dict[str, Any]:
    return campaign.send_window or dict(DEFAULT_SEND_WINDOW)
