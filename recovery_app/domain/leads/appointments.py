"""Appointments a lead books through its agent's booking link (Calendly, `calendly.py`).

Booking is the strongest sign of intent short of a deal: the lead becomes engaged (recovered
when it was silent and a recovery message went out since), its nurture stops - enrollments of
campaigns whose goal is an appointment complete, the goal met - the "appointment" scoring
factor adds its points and the lead's agent is told. A cancellation takes the points and the
goal back and, when the office wants it (the default), resumes the stopped nurture where it
stood. A lead may hold several appointments: the effects last while any of them stands. A
cancellation Calendly marks `rescheduled` is followed by the new booking, so it changes
nothing but the timeline.

The lead's timeline is the record: `appointment_set` activities keep each booking (and the
nurture it stopped), `appointment_canceled` ones the cancellations, keyed by invitee URI.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlmodel import col

from recovery_app.domain.accounts.service import resume_nurture_on_cancel
from recovery_app.domain.campaigns.service import steps_of
from recovery_app.domain.campaigns.sweep import REVIEW_HOLD
from recovery_app.domain.leads import timeline
from recovery_app.domain.notifications.service import notify_owner
from recovery_app.models import (
    Activity,
    ActivityKind,
    Campaign,
    CampaignGoal,
    CampaignStatus,
    DraftReview,
    DraftStatus,
    Enrollment,
    EnrollmentStatus,
    Lead,
    LeadStatus,
    Message,
    MessageStatus,
    Tenant,
    User,
)

# The stopped_reason of the enrollments a booking stopped (and the ones a cancellation resumes).
STOP_REASON = "appointment_set"
# The hold reason `timeline.cancel_pending` gives the queued messages it cancels for us.
CANCELED_HOLD = f"Nurture stopped: {STOP_REASON}"
NOTIFICATION_KIND = "appointment"


@dataclass(frozen=True, slots=True)
class Booking:
    """One booked appointment as the calendar reports it."""

    invitee_uri: str  # unique per booking
    starts_at: datetime
    ends_at: datetime | None = None
    event_name: str = ""
    event_uri: str | None = None
    cancel_url: str | None = None
    reschedule_url: str | None = None
    # The booking form's answers, "Question: answer".
    answers: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Cancellation:
    invitee_uri: str
    rescheduled: bool = False
    reason: str | None = None
    canceled_by: str | None = None


@dataclass
class _History:
    """The lead's bookings (their `appointment_set` data by invitee URI) and cancellations."""

    booked: dict[str, dict[str, Any]]
    canceled: set[str]

    def standing(self, *, without: str = "") -> dict[str, datetime]:
        """Start of every booking not canceled (nor `without`), by invitee URI."""
        return {
            uri: datetime.fromisoformat(str(data["starts_at"]))
            for uri, data in self.booked.items()
            if uri not in self.canceled and uri != without
        }


def _history(session: Session, lead: Lead) -> _History:
    rows = session.execute(
        select(col(Activity.kind), col(Activity.data))
        .where(
            col(Activity.lead_id) == lead.id,
            col(Activity.kind).in_(
                [str(ActivityKind.APPOINTMENT_SET), str(ActivityKind.APPOINTMENT_CANCELED)]
            ),
        )
        .order_by(col(Activity.occurred_at), col(Activity.id))
    ).all()
    history = _History({}, set())
    for kind, data in rows:
        uri = str((data or {}).get("invitee_uri") or "")
        if kind == ActivityKind.APPOINTMENT_CANCELED:
            history.canceled.add(uri)
        elif not (data or {}).get("canceled_before"):
            history.booked[uri] = data
    return history


def _next_start(starts: Iterable[datetime], now: datetime) -> datetime | None:
    """The soonest start still ahead, else the latest one (None when there is none)."""
    ordered = sorted(starts)
    ahead = [start for start in ordered if start >= now]
    return ahead[0] if ahead else (ordered[-1] if ordered else None)


def _lock(session: Session, lead: Lead) -> None:
    """Take the lead's row lock (SQLite: the write lock) and re-read it, so two calendar events
    for one lead queue up and each sees the other's record."""
    timeline.bump(session, lead, inbound_count=0)


def appointment_set(session: Session, lead: Lead, booking: Booking, *, now: datetime) -> bool:
    """Record a booked appointment and act on it (see the module); False when this booking was
    recorded before, or canceled before it arrived, and nothing else changed."""
    _lock(session, lead)
    history = _history(session, lead)
    uri = booking.invitee_uri
    data: dict[str, Any] = {
        "invitee_uri": uri,
        "event_name": booking.event_name,
        "starts_at": booking.starts_at.isoformat(),
        "ends_at": booking.ends_at.isoformat() if booking.ends_at else None,
        "event_uri": booking.event_uri,
        "cancel_url": booking.cancel_url,
        "reschedule_url": booking.reschedule_url,
        "answers": booking.answers,
    }
    if uri in history.booked:
        return False
    if uri in history.canceled:
        # The cancellation was delivered first: keep the booking on the timeline, nothing more.
        timeline.add_activity(
            session,
            lead,
            ActivityKind.APPOINTMENT_SET,
            now=now,
            data=data | {"canceled_before": True},
        )
        return False
    nurture = _stop_nurture(session, lead, now=now)
    timeline.add_activity(
        session, lead, ActivityKind.APPOINTMENT_SET, now=now, data=data | {"nurture": nurture}
    )
    lead.appointment_at = _next_start([*history.standing().values(), booking.starts_at], now)
    timeline.came_back(session, lead, now=now, action="Booked an appointment")
    timeline.rescore(session, lead, now=now)
    what = booking.event_name or "an appointment"
    _tell(
        session,
        lead,
        title=f"{_name(lead)} booked {what}",
        body=_when_text(session, lead, booking.starts_at),
        now=now,
        key=f"appointment:{uri}",
    )
    return True


def appointment_canceled(
    session: Session, lead: Lead, cancellation: Cancellation, *, now: datetime
) -> bool:
    """Record a canceled appointment and take back what booking it did when no other one
    stands (see the module); False when it was recorded before."""
    _lock(session, lead)
    history = _history(session, lead)
    uri = cancellation.invitee_uri
    if uri in history.canceled:
        return False
    booking = history.booked.get(uri)
    standing = history.standing(without=uri)
    if booking is None:
        outcome = "no booking on record"  # its booking may still come; it will change nothing
    elif standing:
        lead.appointment_at = _next_start(standing.values(), now)
        outcome = "another appointment still stands"
    elif cancellation.rescheduled:
        outcome = "rescheduled (the new booking follows)"
    else:
        lead.appointment_at = None
        outcome = _reverse_goal(session, lead, history, now=now)
    timeline.add_activity(
        session,
        lead,
        ActivityKind.APPOINTMENT_CANCELED,
        now=now,
        data={
            "invitee_uri": uri,
            "event_name": (booking or {}).get("event_name", ""),
            "starts_at": (booking or {}).get("starts_at"),
            "rescheduled": cancellation.rescheduled,
            "reason": cancellation.reason,
            "canceled_by": cancellation.canceled_by,
            "nurture": outcome,
        },
    )
    timeline.rescore(session, lead, now=now)
    if booking is not None:
        verb = "is rescheduling" if cancellation.rescheduled else "canceled"
        what = booking.get("event_name") or "an appointment"
        start = datetime.fromisoformat(str(booking["starts_at"]))
        why = f" ({cancellation.reason})" if cancellation.reason else ""
        _tell(
            session,
            lead,
            title=f"{_name(lead)} {verb} {what}",
            body=(_when_text(session, lead, start) + why)[:500],
            now=now,
            key=f"appointment-canceled:{uri}",
        )
    return True


def _stop_nurture(session: Session, lead: Lead, *, now: datetime) -> list[dict[str, Any]]:
    """Stop the lead's active nurture; enrollments of campaigns whose goal is an appointment
    complete (goal met). Returns where each one stood, for the timeline and a later resume."""
    active = session.execute(
        select(Enrollment, col(Campaign.goal))
        .join(Campaign, col(Campaign.id) == col(Enrollment.campaign_id))
        .where(
            col(Enrollment.lead_id) == lead.id, col(Enrollment.status) == EnrollmentStatus.ACTIVE
        )
    ).all()
    stood = [
        {
            "enrollment_id": enrollment.id,
            "campaign_id": enrollment.campaign_id,
            "next_run_at": enrollment.next_run_at.isoformat() if enrollment.next_run_at else None,
            "goal_met": goal == CampaignGoal.APPOINTMENT,
        }
        for enrollment, goal in active
    ]
    timeline.stop_enrollments(session, lead, reason=STOP_REASON, now=now)
    met = [item["enrollment_id"] for item in stood if item["goal_met"]]
    if met:
        session.execute(
            update(Enrollment)
            .where(col(Enrollment.id).in_(met))
            .values(status=EnrollmentStatus.COMPLETED, completed_at=now, updated_at=now)
            .execution_options(synchronize_session=False)
        )
    for enrollment, _ in active:
        session.expire(enrollment)  # written behind the ORM's back above
    return stood


def _reverse_goal(session: Session, lead: Lead, history: _History, *, now: datetime) -> str:
    """The last appointment is gone: enrollments its bookings completed (goal met) or stopped
    are stopped again - or resumed, when the office wants it and nothing speaks against it.
    Returns what happened, for the timeline."""
    planned: dict[int, str | None] = {}
    for data in history.booked.values():
        for item in data.get("nurture") or []:
            planned[int(item["enrollment_id"])] = item.get("next_run_at")
    if not planned:
        return "no nurture to resume"
    rows = session.execute(
        select(Enrollment, Campaign)
        .join(Campaign, col(Campaign.id) == col(Enrollment.campaign_id))
        .where(
            col(Enrollment.id).in_(list(planned)),
            col(Enrollment.stopped_reason) == STOP_REASON,
            col(Enrollment.status).in_([EnrollmentStatus.STOPPED, EnrollmentStatus.COMPLETED]),
        )
        .order_by(col(Enrollment.updated_at).desc(), col(Enrollment.id).desc())
    ).all()
    if not rows:
        return "the nurture moved on since"
    enrollment, campaign = rows[0]  # a lead is in one campaign at a time: the latest
    why_not = _why_not_resume(session, lead, enrollment, campaign)
    for other, _ in rows:
        if other.status == EnrollmentStatus.COMPLETED:  # the goal no longer holds
            other.status, other.completed_at, other.updated_at = EnrollmentStatus.STOPPED, None, now
    if why_not:
        return f"nurture not resumed: {why_not}"
    planned_at = planned.get(int(enrollment.id or 0))
    _resume(
        session,
        enrollment,
        next_run_at=max(now, datetime.fromisoformat(planned_at)) if planned_at else now,
        now=now,
    )
    return f"nurture resumed ({campaign.name})"[:200]


def _why_not_resume(
    session: Session, lead: Lead, enrollment: Enrollment, campaign: Campaign
) -> str | None:
    tenant = session.get(Tenant, lead.tenant_id)
    if tenant is None or not resume_nurture_on_cancel(tenant):
        return "off in Settings"
    if lead.status in (LeadStatus.CONVERTED, LeadStatus.LOST):
        return f"the lead is {lead.status}"
    if campaign.archived_at is not None or campaign.status not in (
        CampaignStatus.ACTIVE,
        CampaignStatus.PAUSED,
    ):
        return f"the campaign is {'archived' if campaign.archived_at else campaign.status}"
    if lead.last_inbound_at is not None and lead.last_inbound_at > enrollment.updated_at:
        return "the lead wrote since"
    other = session.execute(
        select(col(Enrollment.id)).where(
            col(Enrollment.lead_id) == lead.id,
            col(Enrollment.status) == EnrollmentStatus.ACTIVE,
        )
    ).first()
    if other is not None:
        return "the lead is in another campaign"
    if enrollment.current_step >= len(steps_of(session, int(campaign.id or 0))):
        return "no steps left"
    return None


def _resume(
    session: Session, enrollment: Enrollment, *, next_run_at: datetime, now: datetime
) -> None:
    """Active again at the step it stopped on: a draft that was waiting for approval waits
    again, messages the stop canceled before they went out are queued again, and the next step
    runs when it was planned (or now, if that has passed)."""
    enrollment.status = EnrollmentStatus.ACTIVE
    enrollment.stopped_reason = None
    enrollment.completed_at = None
    enrollment.updated_at = now
    review = None
    if enrollment.hold_reason == REVIEW_HOLD:
        review = session.execute(
            select(DraftReview).where(
                col(DraftReview.enrollment_id) == enrollment.id,
                col(DraftReview.position) == enrollment.current_step,
                col(DraftReview.status) == DraftStatus.DISCARDED,
            )
        ).scalar_one_or_none()
    if review is not None:
        review.status, review.decided_at, review.updated_at = DraftStatus.PENDING, None, now
        enrollment.next_run_at = None
    else:
        enrollment.hold_reason = None
        enrollment.next_run_at = next_run_at
    requeued = session.execute(
        update(Message)
        .where(
            col(Message.enrollment_id) == enrollment.id,
            col(Message.status) == MessageStatus.CANCELED,
            col(Message.hold_reason) == CANCELED_HOLD,
        )
        .values(status=MessageStatus.QUEUED, hold_reason=None, next_attempt_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    if requeued:
        session.info["wake_dispatcher"] = True


def _name(lead: Lead) -> str:
    return f"{lead.first_name} {lead.last_name}".strip() or lead.email or lead.phone or "A lead"


def _when_text(session: Session, lead: Lead, start: datetime) -> str:
    """The start in the agent's time zone (the office's when nobody is assigned)."""
    agent = session.get(User, lead.assigned_user_id) if lead.assigned_user_id else None
    tenant = session.get(Tenant, lead.tenant_id)
    name = (agent.timezone if agent else None) or (tenant.timezone if tenant else "UTC")
    try:
        zone = ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    return f"{start.astimezone(zone):%a %b %-d, %-I:%M %p %Z}"


def _tell(session: Session, lead: Lead, *, title: str, body: str, now: datetime, key: str) -> None:
    """In-app to the lead's agent, or to the managers when nobody active is assigned."""
    notify_owner(
        session,
        lead=lead,
        kind=NOTIFICATION_KIND,
        title=title,
        body=body,
        now=now,
        dedupe_key=key,
    )
