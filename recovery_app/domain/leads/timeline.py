"""What happens to a lead when something happens to it: a message goes out or comes in, its
status moves, it opts out or back in. Messaging, webhooks, intake and campaigns call these, so
each rule (and its activity and audit entry) lives in one place."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session
from sqlmodel import col

from recovery_app.db import insert_row
from recovery_app.domain.audit import service as audit
from recovery_app.domain.crm import writeback as crm
from recovery_app.domain.notifications.service import notify
from recovery_app.domain.scoring.service import features_of, model_for, score_lead
from recovery_app.models import (
    Activity,
    ActivityKind,
    Channel,
    Direction,
    DraftReview,
    DraftStatus,
    Enrollment,
    EnrollmentStatus,
    Lead,
    LeadStatus,
    Message,
    MessageCategory,
    MessageStatus,
    Tenant,
    User,
)
from recovery_app.observability import metrics

OUT_KIND = {Channel.SMS: ActivityKind.SMS_OUT, Channel.EMAIL: ActivityKind.EMAIL_OUT}
IN_KIND = {Channel.SMS: ActivityKind.SMS_IN, Channel.EMAIL: ActivityKind.EMAIL_IN}


def add_activity(
    session: Session,
    lead: Lead,
    kind: ActivityKind,
    *,
    now: datetime,
    data: dict[str, Any] | None = None,
    message_id: int | None = None,
    actor_user_id: int | None = None,
) -> Activity:
    activity = Activity(
        tenant_id=lead.tenant_id,
        lead_id=lead.id,  # type: ignore[arg-type]
        kind=kind,
        occurred_at=now,
        data=data or {},
        message_id=message_id,
        actor_user_id=actor_user_id,
    )
    insert_row(session, activity)
    lead.last_activity_at = max(lead.last_activity_at, now)
    lead.updated_at = now
    return activity


def add_activities(session: Session, rows: Sequence[dict[str, Any]], *, now: datetime) -> None:
    """`add_activity` for many leads at once (bulk actions): one executemany INSERT and one
    UPDATE of the leads' last activity. Copies of those leads already in the session reload
    the two columns on next access."""
    if not rows:
        return
    session.execute(Activity.__table__.insert(), list(rows))  # type: ignore[attr-defined]
    lead_ids = {row["lead_id"] for row in rows}
    session.execute(
        update(Lead)
        .where(col(Lead.id).in_(lead_ids))
        .values(
            last_activity_at=case(
                (col(Lead.last_activity_at) > now, col(Lead.last_activity_at)), else_=now
            ),
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Lead) and obj.id in lead_ids:
            session.expire(obj, ["last_activity_at", "updated_at"])


def bump(session: Session, lead: Lead, **counters: int) -> None:
    """Add to the lead's counters in one UPDATE and re-read the row. The UPDATE takes the row's
    lock (the database's write lock on SQLite) first, so concurrent merges and replies to the
    same lead queue up and each sees the others' work instead of overwriting it."""
    session.flush()
    session.execute(
        update(Lead)
        .where(col(Lead.id) == lead.id)
        .values(**{name: getattr(Lead, name) + amount for name, amount in counters.items()})
        .execution_options(synchronize_session=False)
    )
    session.refresh(lead)


def set_status(
    session: Session, lead: Lead, status: LeadStatus, *, now: datetime, reason: str | None = None
) -> None:
    if lead.status == status:
        return
    data: dict[str, Any] = {"from": str(lead.status), "to": str(status)}
    if reason:
        data["reason"] = reason
    add_activity(session, lead, ActivityKind.STATUS_CHANGED, now=now, data=data)
    lead.status, lead.status_reason, lead.status_changed_at = status, reason, now
    crm.status_changed(session, lead, now=now)  # the status tag in GoHighLevel
    if status in (LeadStatus.CONVERTED, LeadStatus.LOST):
        # The goal is met (or the lead is gone): nurture stops.
        stop_enrollments(session, lead, reason=str(status), now=now)


def rescore(session: Session, lead: Lead, *, now: datetime) -> None:
    """Recompute the score with the tenant's model; a change is kept as a score_changed activity
    (the score's history)."""
    model = model_for(session.get(Tenant, lead.tenant_id))
    result = score_lead(features_of(lead), now=now, model=model)
    if result.score != lead.score or result.temperature != lead.temperature:
        crm.scored(session, lead, now=now)  # the score fields in GoHighLevel
    if result.score != lead.score:
        add_activity(
            session,
            lead,
            ActivityKind.SCORE_CHANGED,
            now=now,
            data={"from": lead.score, "to": result.score, "temperature": str(result.temperature)},
        )
    lead.score, lead.temperature, lead.score_factors = (
        result.score,
        result.temperature,
        result.factors_json(),
    )


def record_outbound(session: Session, lead: Lead, message: Message, *, now: datetime) -> None:
    """A message left (or was simulated): timeline, first response time, status new -> contacted."""
    add_activity(
        session,
        lead,
        OUT_KIND[Channel(message.channel)],
        now=now,
        message_id=message.id,
        actor_user_id=message.sent_by_user_id,
        data={"channel": str(message.channel)},
    )
    lead.last_outbound_at = now
    lead.last_outbound_channel = str(message.channel)
    if lead.first_response_at is None:
        lead.first_response_at = now
        waited = max(0.0, (now - lead.created_at).total_seconds())
        metrics.after_commit(session, lambda: metrics.SPEED_TO_LEAD.observe(waited))
    if message.sent_by_user_id is not None:
        touched_by_human(lead, now=now)
    if lead.status == LeadStatus.NEW:
        set_status(session, lead, LeadStatus.CONTACTED, now=now)
    rescore(session, lead, now=now)
    if message.category == MessageCategory.MARKETING:
        crm.message_noted(session, lead, message, now=now)  # a note in GoHighLevel
    if message.channel == Channel.EMAIL:
        # Behavioral triggers: an email going out is when `no_open` rules look at the ones
        # before it. (Imported here: campaigns build on this module.)
        from recovery_app.domain.campaigns import triggers

        triggers.evaluate(session, lead, ActivityKind.EMAIL_OUT, now=now)


def touched_by_human(lead: Lead, *, now: datetime) -> None:
    """Speed to lead counts the first time a person, not automation, acted on the lead."""
    if lead.first_human_touch_at is None:
        lead.first_human_touch_at = now


def record_reply(session: Session, lead: Lead, message: Message, *, now: datetime) -> None:
    """The lead answered: engaged (or recovered, if a recovery message went out while silent),
    campaigns stop, the score moves, and the assigned agent is told."""
    add_activity(
        session,
        lead,
        IN_KIND[Channel(message.channel)],
        now=now,
        message_id=message.id,
        data={"channel": str(message.channel)},
    )
    bump(session, lead, inbound_count=1)
    lead.last_inbound_at = now
    if lead.first_reply_seconds is None and lead.first_response_at is not None:
        lead.first_reply_seconds = max(0, int((now - lead.first_response_at).total_seconds()))
    came_back(session, lead, now=now, action="Replied")
    _mark_replied(session, lead, message, now=now)
    stop_enrollments(session, lead, reason="replied", now=now)
    add_activity(
        session,
        lead,
        ActivityKind.REPLY,
        now=now,
        message_id=message.id,
        data={"notify_user_id": lead.assigned_user_id},
    )
    rescore(session, lead, now=now)
    crm.message_noted(session, lead, message, now=now)  # replies through GoHighLevel excepted
    agent = session.get(User, lead.assigned_user_id) if lead.assigned_user_id else None
    if agent is not None:
        name = f"{lead.first_name} {lead.last_name}".strip() or lead.phone or lead.email or "A lead"
        notify(
            session,
            user=agent,
            kind="reply",
            title=f"{name} replied",
            body=message.body[:200],
            lead_id=lead.id,
            now=now,
            dedupe_key=f"reply:{message.id}",
        )
    # Behavioral triggers (`reply_keywords`) last: the enrollments stopped above, so a rule that
    # moves the lead into another campaign enrolls it after the stop, not before.
    from recovery_app.domain.campaigns import triggers

    triggers.evaluate(session, lead, ActivityKind.REPLY, now=now, message=message)


def came_back(session: Session, lead: Lead, *, now: datetime, action: str) -> None:
    """The lead acted on its own (replied, booked an appointment): new or contacted -> engaged;
    silent -> recovered when a recovery message went out since it fell silent, else engaged;
    lost -> engaged. `action` starts the status reason ("Replied", "Booked an appointment")."""
    if lead.status == LeadStatus.SILENT:
        recovered = session.execute(
            select(func.count())
            .select_from(Message)
            .where(
                col(Message.lead_id) == lead.id,
                col(Message.direction) == Direction.OUTBOUND,
                col(Message.category) == MessageCategory.MARKETING,
                col(Message.sent_at) >= (lead.status_changed_at or lead.created_at),
            )
        ).scalar_one()
        if recovered:
            reason = f"{action} after a recovery message"
            set_status(session, lead, LeadStatus.RECOVERED, now=now, reason=reason)
        else:
            set_status(session, lead, LeadStatus.ENGAGED, now=now, reason=action)
    elif lead.status in (LeadStatus.NEW, LeadStatus.CONTACTED):
        set_status(session, lead, LeadStatus.ENGAGED, now=now, reason=action)
    elif lead.status == LeadStatus.LOST:
        reason = f"{action} after being marked lost"
        set_status(session, lead, LeadStatus.ENGAGED, now=now, reason=reason)


def tell_failure(session: Session, lead: Lead, message: Message, *, now: datetime) -> None:
    """A message to the lead failed for good (refused, undelivered, bounced): its agent hears
    of it (the managers when nobody is assigned), once per message."""
    from recovery_app.domain.notifications.service import notify_owner

    name = f"{lead.first_name} {lead.last_name}".strip() or lead.phone or lead.email or "A lead"
    notify_owner(
        session,
        lead=lead,
        kind="failure",
        title=f"{'Text' if message.channel == Channel.SMS else 'Email'} to {name} failed",
        body=(message.error_message or message.error_code or "")[:200],
        now=now,
        dedupe_key=f"failure:{message.id}",
    )


def _mark_replied(session: Session, lead: Lead, reply: Message, *, now: datetime) -> None:
    """The last message we sent on the reply's channel is the one that got the answer (what
    recovery and ROI attribution count)."""
    answered = session.execute(
        select(Message)
        .where(
            col(Message.lead_id) == lead.id,
            col(Message.channel) == reply.channel,
            col(Message.direction) == Direction.OUTBOUND,
            col(Message.sent_at).is_not(None),
        )
        .order_by(col(Message.sent_at).desc())
        .limit(1)
    ).scalar_one_or_none()
    if answered is not None and answered.replied_at is None:
        answered.replied_at = now
        if answered.status not in (
            MessageStatus.UNDELIVERED,
            MessageStatus.FAILED,
            MessageStatus.BOUNCED,
        ):
            answered.status = MessageStatus.REPLIED


def stop_enrollments(session: Session, lead: Lead, *, reason: str, now: datetime) -> int:
    """Stop every active nurture of the lead (reply, opt-out, conversion, manual stop): no more
    steps, and what they queued but did not send yet never goes out."""
    stopped = list(
        session.execute(
            update(Enrollment)
            .where(
                col(Enrollment.lead_id) == lead.id,
                col(Enrollment.status) == EnrollmentStatus.ACTIVE,
            )
            .values(
                status=EnrollmentStatus.STOPPED,
                stopped_reason=reason,
                next_run_at=None,
                updated_at=now,
            )
            .returning(col(Enrollment.id))
            .execution_options(synchronize_session=False)
        ).scalars()
    )
    if stopped:
        cancel_pending(session, enrollment_ids=stopped, reason=reason, now=now)
    return len(stopped)


def cancel_pending(
    session: Session, *, enrollment_ids: Sequence[int | None], reason: str, now: datetime
) -> None:
    """Queued (not yet sending) messages of these enrollments are canceled and their drafts
    awaiting approval discarded: a stopped nurture sends nothing more."""
    if not enrollment_ids:
        return
    session.execute(
        update(Message)
        .where(
            col(Message.enrollment_id).in_(enrollment_ids),
            col(Message.status) == MessageStatus.QUEUED,
        )
        .values(
            status=MessageStatus.CANCELED,
            hold_reason=f"Nurture stopped: {reason}"[:255],
            next_attempt_at=None,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(DraftReview)
        .where(
            col(DraftReview.enrollment_id).in_(enrollment_ids),
            col(DraftReview.status) == DraftStatus.PENDING,
        )
        .values(status=DraftStatus.DISCARDED, decided_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )


def opt_out(
    session: Session, lead: Lead, channel: Channel, *, reason: str, now: datetime, actor_label: str
) -> bool:
    """Record an opt-out (audited); False when the lead had already opted out."""
    field = "opted_out_sms" if channel == Channel.SMS else "opted_out_email"
    if getattr(lead, field):
        return False
    setattr(lead, field, True)
    setattr(lead, f"{field}_at", now)
    setattr(lead, f"{field}_reason", reason[:255])
    add_activity(
        session,
        lead,
        ActivityKind.OPTED_OUT,
        now=now,
        data={"channel": str(channel), "reason": reason},
    )
    audit.record(
        session,
        action="lead.opted_out",
        entity_type="lead",
        entity_id=lead.id,
        tenant_id=lead.tenant_id,
        actor_label=actor_label,
        before={field: False},
        after={field: True, "reason": reason},
    )
    stop_enrollments(session, lead, reason="opted_out", now=now)
    rescore(session, lead, now=now)
    return True


def opt_in(
    session: Session, lead: Lead, channel: Channel, *, reason: str, now: datetime, actor_label: str
) -> bool:
    """Undo an opt-out at the lead's own request (e.g. texting START); audited."""
    field = "opted_out_sms" if channel == Channel.SMS else "opted_out_email"
    if not getattr(lead, field):
        return False
    setattr(lead, field, False)
    setattr(lead, f"{field}_at", None)
    setattr(lead, f"{field}_reason", None)
    if channel == Channel.SMS:
        lead.consent_sms = True
    else:
        lead.consent_email = True
    add_activity(
        session,
        lead,
        ActivityKind.OPTED_IN,
        now=now,
        data={"channel": str(channel), "reason": reason},
    )
    audit.record(
        session,
        action="lead.opted_in",
        entity_type="lead",
        entity_id=lead.id,
        tenant_id=lead.tenant_id,
        actor_label=actor_label,
        before={field: True},
        after={field: False, "reason": reason},
    )
    return True
