"""Campaigns: rules, audience, launch and enrollment, pause/resume, archive (SQLite and
PostgreSQL)."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from recovery_app.domain.campaigns import audience, service
from recovery_app.domain.campaigns.schemas import CampaignIn, CampaignPatch, StepIn
from recovery_app.domain.leads import timeline
from recovery_app.errors import Conflict, Forbidden, ValidationFailed
from recovery_app.messaging import outbox
from recovery_app.models import (
    Activity,
    ActivityKind,
    AuditLog,
    CampaignStatus,
    Channel,
    Enrollment,
    EnrollmentStatus,
    LeadStatus,
    Message,
    MessageStatus,
    Role,
    Temperature,
)
from tests.factories import NOW, make_lead, make_tenant, make_user, manager_of, viewer_for
from tests.integration.domain.campaigns.conftest import ALWAYS, two_steps


def enrollments(session, campaign) -> list[Enrollment]:
    return list(
        session.execute(
            select(Enrollment)
            .where(Enrollment.campaign_id == campaign.id)
            .order_by(Enrollment.lead_id)
        ).scalars()
    )


def test_only_managers_create_campaigns(session, make_campaign) -> None:
    tenant = make_tenant(session)
    agent = viewer_for(make_user(session, tenant, role=Role.AGENT))
    with pytest.raises(Forbidden):
        make_campaign(session, agent)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"audience": {"colour": ["red"]}}, "audience.colour"),
        ({"audience": {"temperature": ["boiling"]}}, "audience.temperature"),
        ({"audience": {"min_score": 80, "max_score": 20}}, "audience.max_score"),
        (
            {"steps": [StepIn(channel=Channel.SMS, body="Hi {{nickname}}, Reply STOP to opt out")]},
            "steps.0.body",
        ),
        ({"steps": [StepIn(channel=Channel.EMAIL, body="Hello there")]}, "steps.0.subject"),
        ({"steps": [StepIn(channel=Channel.SMS, body="x" * 400)]}, "steps.0.body"),
        (
            {
                "steps": [
                    StepIn(channel=Channel.EMAIL, subject="s", body="b", condition="not_opened")
                ]
            },
            "steps.0.condition",
        ),
        ({"steps": [StepIn(channel=Channel.SMS, template_id=999_999)]}, "steps.0.template_id"),
    ],
)
def test_bad_campaigns_are_refused_with_the_field(session, make_campaign, fields, field) -> None:
    tenant = make_tenant(session)
    with pytest.raises(ValidationFailed) as refused:
        make_campaign(session, manager_of(tenant), launch=False, **fields)
    assert field in (refused.value.fields or {})


def test_enrolling_in_chunks_enrolls_each_lead_once(session, make_campaign) -> None:
    tenant = make_tenant(session)
    silent = [make_lead(session, tenant, status=LeadStatus.SILENT) for _ in range(5)]
    campaign = make_campaign(session, manager_of(tenant), launch=False)

    assert service.enroll_matching(session, campaign, now=NOW, chunk=2) == 5  # three INSERTs
    assert service.enroll_matching(session, campaign, now=NOW, chunk=2) == 0
    assert [e.lead_id for e in enrollments(session, campaign)] == [lead.id for lead in silent]


def test_launch_enrolls_every_matching_lead_once(session, make_campaign) -> None:
    tenant, other = make_tenant(session), make_tenant(session)
    silent = [make_lead(session, tenant, status=LeadStatus.SILENT) for _ in range(3)]
    make_lead(session, tenant, status=LeadStatus.CONTACTED)
    make_lead(session, tenant, status=LeadStatus.SILENT, opted_out_sms=True, opted_out_email=True)
    make_lead(session, other, status=LeadStatus.SILENT)
    campaign = make_campaign(session, manager_of(tenant))

    rows = enrollments(session, campaign)
    assert [e.lead_id for e in rows] == sorted(lead.id for lead in silent)
    assert all(e.status == EnrollmentStatus.ACTIVE and e.current_step == 0 for e in rows)
    assert all(e.next_run_at == NOW for e in rows)
    assert campaign.status == CampaignStatus.ACTIVE and campaign.launched_at == NOW
    activities = (
        session.execute(
            select(Activity).where(
                Activity.kind == ActivityKind.ENROLLED, Activity.tenant_id == tenant.id
            )
        )
        .scalars()
        .all()
    )
    assert sorted(a.lead_id for a in activities) == sorted(lead.id for lead in silent)
    assert activities[0].data["campaign_id"] == campaign.id

    # Enrolling again (an always-on sweep) adds nobody twice.
    assert service.enroll_matching(session, campaign, now=NOW + timedelta(hours=1)) == 0
    audits = (
        session.execute(select(AuditLog.action).where(AuditLog.entity_id == str(campaign.id)))
        .scalars()
        .all()
    )
    assert "campaign.launched" in audits


def test_a_lead_is_in_one_active_campaign_at_a_time(session, make_campaign) -> None:
    tenant = make_tenant(session)
    lead = make_lead(session, tenant, status=LeadStatus.SILENT)
    first = make_campaign(session, manager_of(tenant))
    second = make_campaign(session, manager_of(tenant), name="Second")
    assert [e.lead_id for e in enrollments(session, first)] == [lead.id]
    assert enrollments(session, second) == []

    # By hand (or by a trigger) the lead moves: the first nurture stops.
    moved = service.enroll_lead(session, lead=lead, campaign=second, now=NOW, reason="test")
    assert moved.status == EnrollmentStatus.ACTIVE
    (old,) = enrollments(session, first)
    assert old.status == EnrollmentStatus.STOPPED
    assert old.stopped_reason == f"moved to campaign {second.id}"


def test_audience_rules_narrow_the_leads(session) -> None:
    tenant = make_tenant(session)
    hot = make_lead(session, tenant, score=80, source="referral", tags=["buyer", "vip"])
    warm = make_lead(session, tenant, score=50, source="web_form", tags=["seller"])
    cold = make_lead(
        session,
        tenant,
        score=10,
        source="web_form",
        status=LeadStatus.SILENT,
        last_outbound_at=NOW - timedelta(hours=200),
    )
    make_lead(session, tenant, score=90, status=LeadStatus.CONVERTED)

    def matching(rule):
        rule = audience.clean_audience(rule)
        return {
            lead.id
            for lead in audience.sample_matching(
                session, rule, tenant_id=tenant.id, now=NOW, limit=50
            )
        }

    assert matching({}) == {hot.id, warm.id, cold.id}
    assert matching({"temperature": [Temperature.HOT]}) == {hot.id}
    assert matching({"min_score": 40, "max_score": 60}) == {warm.id}
    assert matching({"source": ["web_form"]}) == {warm.id, cold.id}
    assert matching({"tags": ["vip", "seller"]}) == {hot.id, warm.id}
    assert matching({"silent_for_hours": 168}) == {cold.id}
    assert matching({"status": ["converted"]}) != set()
    assert (
        audience.count_matching(session, {"source": ["web_form"]}, tenant_id=tenant.id, now=NOW)
        == 2
    )


def test_agents_cannot_be_enrolled_by_audience_of_other_agents(session, make_campaign) -> None:
    tenant = make_tenant(session)
    alice, bob = make_user(session, tenant), make_user(session, tenant)
    mine = make_lead(session, tenant, status=LeadStatus.SILENT, assigned_user_id=alice.id)
    make_lead(session, tenant, status=LeadStatus.SILENT, assigned_user_id=bob.id)
    campaign = make_campaign(
        session, manager_of(tenant), audience={"status": ["silent"], "assigned_user_id": [alice.id]}
    )
    assert [e.lead_id for e in enrollments(session, campaign)] == [mine.id]


def test_a_campaign_starting_later_is_scheduled_not_enrolled(session, make_campaign) -> None:
    tenant = make_tenant(session)
    make_lead(session, tenant, status=LeadStatus.SILENT)
    campaign = make_campaign(session, manager_of(tenant), starts_at=NOW + timedelta(days=1))
    assert campaign.status == CampaignStatus.SCHEDULED
    assert enrollments(session, campaign) == []


def test_pause_holds_queued_messages_and_resume_releases_them(session, make_campaign) -> None:
    tenant = make_tenant(session)
    lead = make_lead(session, tenant, status=LeadStatus.SILENT)
    campaign = make_campaign(session, manager_of(tenant))
    (enrollment,) = enrollments(session, campaign)
    queued = outbox.enqueue(
        session,
        lead=lead,
        channel=Channel.SMS,
        body="Hi",
        idempotency_key="step:x:0",
        now=NOW,
        campaign_id=campaign.id,
        enrollment_id=enrollment.id,
    )
    assert service.pause(session, viewer=manager_of(tenant), campaign_id=campaign.id, now=NOW) == 1
    session.refresh(queued)
    assert queued.next_attempt_at is None and queued.hold_reason == outbox.PAUSED_HOLD
    with pytest.raises(Conflict):
        service.pause(session, viewer=manager_of(tenant), campaign_id=campaign.id, now=NOW)

    later = NOW + timedelta(hours=2)
    assert (
        service.resume(session, viewer=manager_of(tenant), campaign_id=campaign.id, now=later) == 1
    )
    session.refresh(queued)
    assert queued.next_attempt_at == later and queued.hold_reason is None
    assert campaign.status == CampaignStatus.ACTIVE


def test_steps_change_only_while_not_running(session, make_campaign) -> None:
    tenant = make_tenant(session)
    campaign = make_campaign(session, manager_of(tenant))
    with pytest.raises(Conflict):
        service.update_campaign(
            session,
            viewer=manager_of(tenant),
            campaign_id=campaign.id,
            changes=CampaignPatch(steps=two_steps()[:1]),
            now=NOW,
        )
    service.update_campaign(
        session,
        viewer=manager_of(tenant),
        campaign_id=campaign.id,
        changes=CampaignPatch(status="paused"),
        now=NOW,
    )
    service.update_campaign(
        session,
        viewer=manager_of(tenant),
        campaign_id=campaign.id,
        changes=CampaignPatch(steps=two_steps()[:1], name="Shorter"),
        now=NOW,
    )
    assert [s.channel for s in service.steps_of(session, campaign.id)] == [Channel.SMS]
    assert campaign.name == "Shorter" and campaign.channels == ["sms"]


def test_reply_opt_out_and_conversion_stop_the_nurture(session, make_campaign) -> None:
    tenant = make_tenant(session)
    leads = [make_lead(session, tenant, status=LeadStatus.SILENT) for _ in range(3)]
    campaign = make_campaign(session, manager_of(tenant))
    queued = outbox.enqueue(
        session,
        lead=leads[0],
        channel=Channel.SMS,
        body="Hi",
        idempotency_key="step:y:0",
        now=NOW,
        campaign_id=campaign.id,
        enrollment_id=enrollments(session, campaign)[0].id,
    )
    reply = Message(
        tenant_id=tenant.id,
        lead_id=leads[0].id,
        channel=Channel.SMS,
        direction="inbound",
        status=MessageStatus.RECEIVED,
        body="yes, call me",
        idempotency_key="in:test:1",
    )
    session.add(reply)
    session.flush()
    timeline.record_reply(session, leads[0], reply, now=NOW)
    timeline.opt_out(session, leads[1], Channel.SMS, reason="STOP", now=NOW, actor_label="test")
    timeline.set_status(session, leads[2], LeadStatus.CONVERTED, now=NOW)
    session.flush()
    rows = {e.lead_id: e for e in enrollments(session, campaign)}
    assert rows[leads[0].id].stopped_reason == "replied"
    assert rows[leads[1].id].stopped_reason == "opted_out"
    assert rows[leads[2].id].stopped_reason == "converted"
    assert all(e.status == EnrollmentStatus.STOPPED for e in rows.values())
    session.refresh(queued)
    assert queued.status == MessageStatus.CANCELED


def test_archive_stops_enrollments_and_delete_removes_drafts(session, make_campaign) -> None:
    tenant = make_tenant(session)
    make_lead(session, tenant, status=LeadStatus.SILENT)
    ran = make_campaign(session, manager_of(tenant))
    draft = make_campaign(session, manager_of(tenant), launch=False, name="Never ran")
    service.archive(session, viewer=manager_of(tenant), campaign_id=ran.id, now=NOW)
    service.archive(session, viewer=manager_of(tenant), campaign_id=draft.id, now=NOW)
    assert ran.archived_at == NOW
    assert all(e.status == EnrollmentStatus.STOPPED for e in enrollments(session, ran))
    assert [c.id for c in service.list_campaigns(session, viewer=manager_of(tenant))] == []


def test_campaign_input_round_trips_the_send_window(session) -> None:
    tenant = make_tenant(session)
    data = CampaignIn(name="Weekdays", steps=two_steps(), send_window=ALWAYS)
    campaign = service.create_campaign(session, viewer=manager_of(tenant), data=data, now=NOW)
    assert campaign.send_window == {
        "days": [0, 1, 2, 3, 4, 5, 6],
        "start": "00:00",
        "end": "23:59",
        "optimize": False,
    }
    with pytest.raises(ValueError):
        CampaignIn(name="x", send_window={"days": [], "start": "09:00", "end": "08:00"})
