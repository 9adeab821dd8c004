"""The nurture sweep: runs every due campaign step exactly once.

Each pass (the `nurture_sweep` job, every SWEEP_INTERVAL_SECONDS):
1. scheduled campaigns whose start has come are launched; always-on campaigns enroll new matches;
2. due enrollments are claimed in batches (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so several
   sweepers never take the same row) and each batch is one transaction: per enrollment the step is
   skipped (condition, opted out, no address), held (outside the send window: `next_run_at`
   moves to the window's opening), sent to review (AI draft, campaign not on autopilot) or
   queued in the outbox under the key `step:<enrollment>:<position>`; then the enrollment moves
   to its next step or completes;
3. campaigns with nothing left to do complete.

Messages are written with one INSERT ... ON CONFLICT DO NOTHING per batch and enrollments with
one executemany UPDATE: a crash mid-batch rolls the batch back whole, and a batch that ran
twice cannot queue a second message for a step because the idempotency key is taken.
"""

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlmodel import col

from recovery_app.domain.campaigns import service
from recovery_app.domain.campaigns.rendering import render
from recovery_app.domain.campaigns.send_time import Suggestions, window_for
from recovery_app.domain.campaigns.windows import describe_wait, next_opening
from recovery_app.domain.compliance.quiet_hours import lead_zones
from recovery_app.domain.leads.first_response import variables
from recovery_app.messaging import drafting
from recovery_app.models import (
    Campaign,
    CampaignStatus,
    CampaignStep,
    Channel,
    Direction,
    DraftReview,
    DraftStatus,
    Enrollment,
    EnrollmentStatus,
    Lead,
    Message,
    MessageCategory,
    MessageStatus,
    Template,
    Tenant,
    User,
    pk,
)

logger = logging.getLogger(__name__)
BATCH = 500
REVIEW_HOLD = "Waiting for approval"


@dataclass
class SweepStats:
    launched: int = 0
    enrolled: int = 0
    steps_queued: int = 0
    steps_skipped: int = 0
    sent_to_review: int = 0
    held_for_window: int = 0
    completed: int = 0
    campaigns_completed: int = 0
    ai_drafts: int = 0
    errors: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class _Batch:
    """What one batch needs, loaded once: campaigns, steps, templates, tenants, agents."""

    campaigns: dict[int, Campaign] = field(default_factory=dict)
    steps: dict[int, list[CampaignStep]] = field(default_factory=dict)
    templates: dict[int, Template] = field(default_factory=dict)
    tenants: dict[int, Tenant] = field(default_factory=dict)
    agents: dict[int, User] = field(default_factory=dict)
    opened: set[int] = field(default_factory=set)
    # Send-time optimisation's suggested windows, shared by every batch of one pass.
    suggestions: Suggestions = field(default_factory=dict)


def run_sweep(
    session: Session,
    now: datetime,
    *,
    batch_size: int = BATCH,
    max_batches: int | None = None,
    drafter: drafting.Drafter | None = None,
) -> dict[str, int]:
    stats = SweepStats()
    drafter = drafter or drafting.get_drafter()
    for campaign in _due_scheduled(session, now):
        stats.enrolled += service.activate(session, campaign, now=now)
        stats.launched += 1
    for campaign in _always_on(session):
        stats.enrolled += service.enroll_matching(session, campaign, now=now)
    session.commit()
    batches = 0
    suggestions: Suggestions = {}
    while max_batches is None or batches < max_batches:
        ids = claim_due(session, now, limit=batch_size)
        if not ids:
            session.rollback()
            break
        run_batch(session, ids, now=now, stats=stats, drafter=drafter, suggestions=suggestions)
        session.commit()
        batches += 1
        if len(ids) < batch_size:
            break
    stats.campaigns_completed = service.complete_finished(session, now=now)
    return stats.as_dict()


def _due_scheduled(session: Session, now: datetime) -> list[Campaign]:
    query = select(Campaign).where(
        col(Campaign.status) == CampaignStatus.SCHEDULED,
        col(Campaign.starts_at) <= now,
        col(Campaign.archived_at).is_(None),
    )
    return list(session.execute(query).scalars())


def _always_on(session: Session) -> list[Campaign]:
    query = select(Campaign).where(
        col(Campaign.status) == CampaignStatus.ACTIVE,
        col(Campaign.always_on).is_(True),
        col(Campaign.archived_at).is_(None),
    )
    return list(session.execute(query).scalars())


def claim_due(session: Session, now: datetime, *, limit: int) -> list[int]:
    """Ids of due enrollments of active campaigns, locked for this transaction. PostgreSQL
    skips rows another sweeper holds; SQLite has one writer at a time anyway."""
    query = (
        select(col(Enrollment.id))
        .join(Campaign, col(Campaign.id) == col(Enrollment.campaign_id))
        .where(
            col(Enrollment.status) == EnrollmentStatus.ACTIVE,
            col(Enrollment.next_run_at) <= now,
            col(Campaign.status) == CampaignStatus.ACTIVE,
        )
        .order_by(col(Enrollment.next_run_at))
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=Enrollment)
    return [int(i) for i in session.execute(query).scalars() if i is not None]


def _load(
    session: Session, ids: list[int], suggestions: Suggestions | None = None
) -> tuple[list[tuple[Enrollment, Lead]], _Batch]:
    rows = session.execute(
        select(Enrollment, Lead)
        .join(Lead, col(Lead.id) == col(Enrollment.lead_id))
        .where(col(Enrollment.id).in_(ids))
        .order_by(col(Enrollment.id))
    ).all()
    pairs = [(e, lead) for e, lead in rows]
    ctx = _Batch(suggestions=suggestions if suggestions is not None else {})
    campaign_ids = {e.campaign_id for e, _ in pairs}
    for campaign in session.execute(
        select(Campaign).where(col(Campaign.id).in_(campaign_ids))
    ).scalars():
        ctx.campaigns[pk(campaign)] = campaign
    for step in session.execute(
        select(CampaignStep)
        .where(col(CampaignStep.campaign_id).in_(campaign_ids))
        .order_by(col(CampaignStep.position))
    ).scalars():
        ctx.steps.setdefault(step.campaign_id, []).append(step)
    template_ids = {s.template_id for steps in ctx.steps.values() for s in steps if s.template_id}
    if template_ids:
        for template in session.execute(
            select(Template).where(col(Template.id).in_(template_ids))
        ).scalars():
            ctx.templates[pk(template)] = template
    tenant_ids = {lead.tenant_id for _, lead in pairs}
    for tenant in session.execute(select(Tenant).where(col(Tenant.id).in_(tenant_ids))).scalars():
        ctx.tenants[pk(tenant)] = tenant
    agent_ids = {lead.assigned_user_id for _, lead in pairs if lead.assigned_user_id}
    if agent_ids:
        for agent in session.execute(select(User).where(col(User.id).in_(agent_ids))).scalars():
            ctx.agents[pk(agent)] = agent
    conditional = [
        pk(e)
        for e, _ in pairs
        if (next_step := _step(ctx, e)) is not None and next_step.condition == "not_opened"
    ]
    if conditional:
        ctx.opened = {
            int(i)
            for i in session.execute(
                select(col(Message.enrollment_id)).where(
                    col(Message.enrollment_id).in_(conditional),
                    col(Message.channel) == Channel.EMAIL,
                    col(Message.opened_at).is_not(None),
                )
            ).scalars()
            if i is not None
        }
    return pairs, ctx


def _step(ctx: _Batch, enrollment: Enrollment) -> CampaignStep | None:
    steps = ctx.steps.get(enrollment.campaign_id, [])
    return steps[enrollment.current_step] if enrollment.current_step < len(steps) else None


def _skip_reason(step: CampaignStep, lead: Lead, enrollment: Enrollment, ctx: _Batch) -> str | None:
    if step.channel == Channel.SMS:
        if not lead.phone:
            return "no phone number"
        if lead.opted_out_sms:
            return "opted out of SMS"
    else:
        if not lead.email:
            return "no email address"
        if lead.opted_out_email:
            return "opted out of email"
    if step.condition == "not_opened" and pk(enrollment) in ctx.opened:
        return "opened an earlier email"
    return None


def _texts(step: CampaignStep, ctx: _Batch) -> tuple[str | None, str]:
    template = ctx.templates.get(step.template_id) if step.template_id else None
    subject = step.subject or (template.subject if template else None)
    body = step.body or (template.body if template else "")
    return subject, body


def run_batch(
    session: Session,
    ids: list[int],
    *,
    now: datetime,
    stats: SweepStats,
    drafter: drafting.Drafter,
    suggestions: Suggestions | None = None,
) -> None:
    """Run the due step of each claimed enrollment. `suggestions`: the pass's memo of suggested
    send windows (a batch run alone looks them up itself)."""
    pairs, ctx = _load(session, ids, suggestions)
    messages: list[dict[str, Any]] = []
    reviews: list[dict[str, Any]] = []
    moves: list[dict[str, Any]] = []
    for enrollment, lead in pairs:
        campaign = ctx.campaigns[enrollment.campaign_id]
        tenant = ctx.tenants[lead.tenant_id]
        try:
            outcome = _run_one(session, enrollment, lead, campaign, tenant, ctx, now, drafter)
        except Exception:
            # One bad row must not stall the campaign: it is retried on a later sweep.
            logger.exception("nurture step failed for enrollment %s", enrollment.id)
            stats.errors += 1
            moves.append(
                {
                    "id": pk(enrollment),
                    "next_run_at": now + timedelta(minutes=15),
                    "hold_reason": "Step failed; retrying in 15 min",
                    "updated_at": now,
                }
            )
            continue
        kind, move, payload = outcome
        moves.append(move)
        if kind == "message":
            messages.append(payload)
            stats.steps_queued += 1
        elif kind == "review":
            reviews.append(payload)
            stats.sent_to_review += 1
        elif kind == "skip":
            stats.steps_skipped += 1
        elif kind == "hold":
            stats.held_for_window += 1
        if move.get("status") == EnrollmentStatus.COMPLETED:
            stats.completed += 1
        if payload and payload.get("drafted_by") == "ai":
            stats.ai_drafts += 1
    _write(session, messages, reviews, moves)


def _run_one(
    session: Session,
    enrollment: Enrollment,
    lead: Lead,
    campaign: Campaign,
    tenant: Tenant,
    ctx: _Batch,
    now: datetime,
    drafter: drafting.Drafter,
) -> tuple[str, dict[str, Any], dict[str, Any]]:
    step = _step(ctx, enrollment)
    if step is None:
        return "done", _advance(enrollment, ctx, now), {}
    skip = _skip_reason(step, lead, enrollment, ctx)
    if skip is not None:
        return "skip", _advance(enrollment, ctx, now, skipped=skip), {}
    zones = lead_zones(lead.timezone, lead.phone, tenant.timezone)
    window, suggested = window_for(session, campaign, step.channel, now=now, memo=ctx.suggestions)
    opening = next_opening(now, zones, window)
    if opening > now:
        reason = describe_wait(opening, zones[0] if zones else "UTC", suggested=suggested)
        return (
            "hold",
            {
                "id": pk(enrollment),
                "next_run_at": opening,
                "hold_reason": reason,
                "updated_at": now,
            },
            {},
        )
    agent = ctx.agents.get(lead.assigned_user_id) if lead.assigned_user_id else None
    values = variables(session, lead, tenant, agent=agent)
    subject_template, body_template = _texts(step, ctx)
    draft = None
    if step.ai_personalize:
        draft = drafter.draft(
            session,
            drafting.DraftRequest(
                tenant_id=pk(tenant),
                channel=Channel(step.channel),
                cache_key=f"step:{step.id}:seg:{lead.temperature}|{lead.source}",
                campaign_step_id=step.id,
                situation=f"campaign step {step.position + 1}",
                goal=str(campaign.goal),
                template_subject=subject_template,
                template_body=body_template,
                context=_segment_context(lead, tenant, campaign),
                require_opt_out=step.channel == Channel.SMS,
            ),
            now=now,
        )
    fallback_subject = render(subject_template or "", values) or None
    fallback_body = render(body_template, values)
    if draft is not None and draft.drafted_by != "template" and not campaign.autopilot:
        review = {
            "tenant_id": lead.tenant_id,
            "campaign_id": pk(campaign),
            "campaign_step_id": pk(step),
            "enrollment_id": pk(enrollment),
            "lead_id": pk(lead),
            "position": step.position,
            "channel": str(step.channel),
            "subject": render(draft.subject or "", values) or None,
            "body": render(draft.body, values),
            "fallback_subject": fallback_subject,
            "fallback_body": fallback_body,
            "drafted_by": draft.drafted_by,
            "ai_draft_id": draft.ai_draft_id,
            "status": str(DraftStatus.PENDING),
            "created_at": now,
            "updated_at": now,
        }
        move = {
            "id": pk(enrollment),
            "next_run_at": None,
            "hold_reason": REVIEW_HOLD,
            "updated_at": now,
        }
        return "review", move, review
    if draft is not None and draft.drafted_by != "template":
        subject, body, drafted_by = (
            render(draft.subject or "", values) or None,
            render(draft.body, values),
            draft.drafted_by,
        )
    else:
        subject, body, drafted_by = fallback_subject, fallback_body, "template"
    message = step_message(
        lead,
        campaign=campaign,
        step=step,
        enrollment_id=pk(enrollment),
        subject=subject,
        body=body,
        drafted_by=drafted_by,
        now=now,
    )
    return "message", _advance(enrollment, ctx, now), message


def step_message(
    lead: Lead,
    *,
    campaign: Campaign,
    step: CampaignStep,
    enrollment_id: int,
    subject: str | None,
    body: str,
    drafted_by: str,
    now: datetime,
    send_at: datetime | None = None,
) -> dict[str, Any]:
    """The outbox row of one campaign step for one lead (a dict for a bulk insert)."""
    channel = Channel(step.channel)
    return {
        "tenant_id": lead.tenant_id,
        "lead_id": pk(lead),
        "channel": str(channel),
        "direction": str(Direction.OUTBOUND),
        "category": str(MessageCategory.MARKETING),
        "status": str(MessageStatus.QUEUED),
        "to_address": lead.phone if channel == Channel.SMS else lead.email,
        "subject": (subject or "")[:255] or None,
        "body": body.strip(),
        "template_id": step.template_id,
        "campaign_id": pk(campaign),
        "campaign_step_id": pk(step),
        "enrollment_id": enrollment_id,
        "idempotency_key": f"step:{enrollment_id}:{step.position}",
        "drafted_by": drafted_by,
        "next_attempt_at": send_at or now,
        "attempts": 0,
        "created_at": now,
        "updated_at": now,
    }


def _segment_context(lead: Lead, tenant: Tenant, campaign: Campaign) -> dict[str, str]:
    """What the AI may know when writing for a whole segment (no one lead's private data)."""
    return {
        "temperature": str(lead.temperature),
        "source": lead.source,
        "lead_status": str(lead.status),
        "company_name": tenant.sender_name or tenant.name,
        "tenant_voice": str((tenant.preferences or {}).get("voice") or "warm, brief, professional"),
        "campaign": campaign.name,
    }


def _advance(
    enrollment: Enrollment, ctx: _Batch, now: datetime, *, skipped: str | None = None
) -> dict[str, Any]:
    """The enrollment after its current step: the next step's time, or completed."""
    steps = ctx.steps.get(enrollment.campaign_id, [])
    position = enrollment.current_step + 1
    move: dict[str, Any] = {"id": pk(enrollment), "current_step": position, "updated_at": now}
    move["hold_reason"] = (
        f"Step {enrollment.current_step + 1} skipped: {skipped}" if skipped else None
    )
    if position < len(steps):
        move["next_run_at"] = now + timedelta(minutes=steps[position].delay_minutes)
    else:
        move.update(status=EnrollmentStatus.COMPLETED, completed_at=now, next_run_at=None)
    return move


def _write(
    session: Session,
    messages: list[dict[str, Any]],
    reviews: list[dict[str, Any]],
    moves: list[dict[str, Any]],
) -> None:
    dialect = service._dialect(session)
    if messages:
        session.execute(
            dialect.insert(Message).on_conflict_do_nothing(index_elements=["idempotency_key"]),
            messages,
        )
        session.info["wake_dispatcher"] = True
    if reviews:
        session.execute(
            dialect.insert(DraftReview).on_conflict_do_nothing(
                index_elements=["enrollment_id", "position"]
            ),
            reviews,
        )
    for group in _by_keys(moves):
        session.execute(update(Enrollment), group)


def _by_keys(moves: list[dict[str, Any]]) -> Iterable[list[dict[str, Any]]]:
    """ORM bulk UPDATE wants every row of one call to set the same columns."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for move in moves:
        groups.setdefault(tuple(sorted(move)), []).append(move)
    return groups.values()
