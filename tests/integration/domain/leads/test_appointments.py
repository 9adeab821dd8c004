"""Appointments on a lead (the rules behind the Calendly webhook): when a cancellation resumes
the nurture a booking stopped and when it does not, drafts waiting for approval, events
delivered out of order, and the silence rules while an appointment stands."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from recovery_app.domain.campaigns import service
from recovery_app.domain.campaigns.schemas import CampaignIn, SendWindow, StepIn
from recovery_app.domain.campaigns.silence import detect_silent_leads
from recovery_app.domain.campaigns.sweep import REVIEW_HOLD
from recovery_app.domain.leads.appointments import (
    Booking,
    Cancellation,
    appointment_canceled,
    appointment_set,
)
from recovery_app.models import (
    Activity,
    ActivityKind,
    CampaignGoal,
    CampaignStep,
    Channel,
    DraftReview,
    DraftStatus,
    EnrollmentStatus,
    LeadStatus,
    Tenant,
)
from tests.factories import NOW, make_lead, make_tenant, make_user, manager_of

URI = "https://api.calendly.com/scheduled_events/EV/invitees/A"
ALWAYS = SendWindow(days=[0, 1, 2, 3, 4, 5, 6], start="00:00", end="23:59")


@pytest.fixture
def office(session):
    tenant = make_tenant(session, silence_threshold_hours=48)
    agent = make_user(session, tenant)
    lead = make_lead(session, tenant, assigned_user_id=agent.id)
    return tenant, lead


def campaign(session, tenant: Tenant, name: str = "Win back", **fields):
    data = CampaignIn(
        name=name,
        audience={"status": ["silent"]},
        send_window=ALWAYS,
        steps=[
            StepIn(channel=Channel.SMS, body="Hi {{first_name}}. Reply STOP to opt out."),
            StepIn(channel=Channel.SMS, delay_minutes=60, body="Still there? Reply STOP to end."),
        ],
        **fields,
    )
    made = service.create_campaign(session, viewer=manager_of(tenant), data=data, now=NOW)
    service.launch(session, viewer=manager_of(tenant), campaign_id=made.id, now=NOW)
    return made


def book(session, lead, uri: str = URI, *, at=NOW, starts_in=timedelta(days=1)) -> bool:
    return appointment_set(
        session, lead, Booking(invitee_uri=uri, starts_at=at + starts_in), now=at
    )


def cancel(session, lead, uri: str = URI, *, at=NOW, **fields) -> dict:
    appointment_canceled(session, lead, Cancellation(invitee_uri=uri, **fields), now=at)
    return session.execute(
        select(Activity.data)
        .where(Activity.lead_id == lead.id, Activity.kind == ActivityKind.APPOINTMENT_CANCELED)
        .order_by(Activity.id.desc())
        .limit(1)
    ).scalar_one()


def test_a_lead_that_wrote_since_is_not_nurtured_again(session, office) -> None:
    tenant, lead = office
    enrollment = service.enroll_lead(
        session, lead=lead, campaign=campaign(session, tenant), now=NOW, reason="test"
    )
    book(session, lead)
    lead.last_inbound_at = NOW + timedelta(minutes=5)
    data = cancel(session, lead, at=NOW + timedelta(minutes=10))
    assert data["nurture"] == "nurture not resumed: the lead wrote since"
    session.refresh(enrollment)
    assert enrollment.status == EnrollmentStatus.STOPPED


def test_a_lead_moved_to_another_campaign_stays_there(session, office) -> None:
    tenant, lead = office
    first = service.enroll_lead(
        session, lead=lead, campaign=campaign(session, tenant), now=NOW, reason="test"
    )
    book(session, lead)
    later = NOW + timedelta(minutes=1)
    service.enroll_lead(
        session, lead=lead, campaign=campaign(session, tenant, "Other"), now=later, reason="test"
    )
    data = cancel(session, lead, at=later)
    assert data["nurture"] == "nurture not resumed: the lead is in another campaign"
    session.refresh(first)
    assert first.status == EnrollmentStatus.STOPPED


def test_an_archived_campaign_is_not_resumed_and_its_goal_is_taken_back(session, office) -> None:
    tenant, lead = office
    made = campaign(session, tenant, goal=CampaignGoal.APPOINTMENT)
    enrollment = service.enroll_lead(session, lead=lead, campaign=made, now=NOW, reason="t")
    book(session, lead)
    session.refresh(enrollment)
    assert enrollment.status == EnrollmentStatus.COMPLETED
    service.archive(session, viewer=manager_of(tenant), campaign_id=made.id, now=NOW)
    data = cancel(session, lead)
    assert data["nurture"] == "nurture not resumed: the campaign is archived"
    session.refresh(enrollment)
    assert enrollment.status == EnrollmentStatus.STOPPED and enrollment.completed_at is None


def test_a_draft_waiting_for_approval_waits_again(session, office) -> None:
    tenant, lead = office
    made = campaign(session, tenant, autopilot=False)
    enrollment = service.enroll_lead(session, lead=lead, campaign=made, now=NOW, reason="t")
    step = session.execute(
        select(CampaignStep).where(CampaignStep.campaign_id == made.id, CampaignStep.position == 0)
    ).scalar_one()
    review = DraftReview(
        tenant_id=tenant.id,
        campaign_id=made.id,
        campaign_step_id=step.id,
        enrollment_id=enrollment.id,
        lead_id=lead.id,
        position=0,
        channel=Channel.SMS,
        body="An AI draft",
        fallback_body="The template",
    )
    session.add(review)
    enrollment.next_run_at, enrollment.hold_reason = None, REVIEW_HOLD
    session.flush()
    book(session, lead)
    session.refresh(review)
    assert review.status == DraftStatus.DISCARDED
    cancel(session, lead)
    session.refresh(review)
    session.refresh(enrollment)
    assert review.status == DraftStatus.PENDING and review.decided_at is None
    assert enrollment.status == EnrollmentStatus.ACTIVE and enrollment.next_run_at is None
    assert enrollment.hold_reason == REVIEW_HOLD


def test_a_cancellation_delivered_before_its_booking_wins(session, office) -> None:
    _, lead = office
    data = cancel(session, lead)
    assert data["nurture"] == "no booking on record"
    assert book(session, lead) is False
    assert lead.appointment_at is None
    assert lead.status == LeadStatus.CONTACTED
    assert cancel(session, lead) == data  # nothing more recorded


def test_no_silence_while_an_appointment_stands(session, office) -> None:
    _, lead = office
    lead.last_outbound_at = NOW - timedelta(days=5)
    book(session, lead, starts_in=timedelta(days=2))
    assert detect_silent_leads(session, NOW)["marked_silent"] == 0
    session.refresh(lead)
    assert lead.status == LeadStatus.ENGAGED
    # We write again after the meeting and hear nothing: silent after all.
    lead.last_outbound_at = NOW + timedelta(days=3)
    session.flush()
    assert detect_silent_leads(session, NOW + timedelta(days=6))["marked_silent"] == 1
