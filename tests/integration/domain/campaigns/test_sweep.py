"""The nurture sweep on SQLite and PostgreSQL: due steps queued exactly once, delays, send
windows, conditions, skipped channels, completion. The sweep commits per batch, so these tests
use the app's own database (`app_database`) and transactions."""

from datetime import timedelta

from sqlalchemy import select

from recovery_app.db import session_scope
from recovery_app.domain.campaigns import service
from recovery_app.domain.campaigns.schemas import SendWindow, StepIn
from recovery_app.domain.campaigns.sweep import run_sweep
from recovery_app.models import (
    Campaign,
    CampaignStatus,
    Channel,
    Enrollment,
    EnrollmentStatus,
    LeadStatus,
    Message,
    MessageCategory,
    MessageStatus,
    Tenant,
)
from tests.factories import NOW, make_lead, make_tenant, make_user, manager_of
from tests.integration.domain.campaigns.conftest import two_steps


def sweep(now, **kwargs) -> dict[str, int]:
    with session_scope() as session:
        return run_sweep(session, now, **kwargs)


def messages() -> list[Message]:
    with session_scope() as session:
        return list(session.execute(select(Message).order_by(Message.id)).scalars())


def enrollment_rows() -> list[Enrollment]:
    with session_scope() as session:
        return list(session.execute(select(Enrollment).order_by(Enrollment.id)).scalars())


def setup(make_campaign, *, leads=2, **campaign_fields) -> tuple[int, list[int], int]:
    with session_scope() as s:
        tenant = make_tenant(s, name="Harbor Realty")
        agent = make_user(s, tenant, full_name="Dana Cole")
        ids = [
            make_lead(
                s,
                tenant,
                status=LeadStatus.SILENT,
                first_name=f"Sam{i}",
                assigned_user_id=agent.id,
                attributes={"property_interest": "3-bed homes in Austin"},
            ).id
            for i in range(leads)
        ]
        campaign = make_campaign(s, manager_of(tenant), **campaign_fields)
        return tenant.id, ids, campaign.id


def test_each_due_step_is_queued_once_then_the_next_after_its_delay(app_database, make_campaign):
    _tenant_id, lead_ids, campaign_id = setup(make_campaign)

    stats = sweep(NOW)
    assert stats["steps_queued"] == 2
    first = messages()
    assert {m.lead_id for m in first} == set(lead_ids)
    sms = first[0]
    assert sms.channel == Channel.SMS and sms.category == MessageCategory.MARKETING
    assert sms.status == MessageStatus.QUEUED and sms.drafted_by == "template"
    assert sms.body.startswith("Hi Sam") and "3-bed homes in Austin" in sms.body
    assert "{{" not in sms.body
    assert sms.idempotency_key == f"step:{sms.enrollment_id}:0"
    assert sms.campaign_id == campaign_id and sms.campaign_step_id is not None

    # Running again at the same moment (a retry, a second leader) queues nothing more.
    assert sweep(NOW)["steps_queued"] == 0
    assert len(messages()) == 2
    rows = enrollment_rows()
    assert all(e.current_step == 1 and e.next_run_at == NOW + timedelta(days=1) for e in rows)

    assert sweep(NOW + timedelta(hours=23))["steps_queued"] == 0
    stats = sweep(NOW + timedelta(days=1))
    assert stats["steps_queued"] == 2 and stats["completed"] == 2
    emails = [m for m in messages() if m.channel == Channel.EMAIL]
    assert len(emails) == 2 and emails[0].subject.startswith("Checking in, Sam")
    assert "Dana Cole" in emails[0].body
    assert all(e.status == EnrollmentStatus.COMPLETED for e in enrollment_rows())
    with session_scope() as s:
        assert s.get(Campaign, campaign_id).status == CampaignStatus.COMPLETED


def test_outside_the_send_window_the_step_waits_for_its_opening(app_database, make_campaign):
    # NOW is Sunday 15:00 UTC = 09:00 in Austin (CST since 02:00 that day); the window is
    # weekdays 17:00-19:00 local.
    window = SendWindow(days=[0, 1, 2, 3, 4], start="17:00", end="19:00")
    setup(make_campaign, leads=1, send_window=window)
    stats = sweep(NOW)
    assert stats["held_for_window"] == 1 and messages() == []
    (row,) = enrollment_rows()
    opening = NOW + timedelta(days=1, hours=8)  # Monday 17:00 in Austin (UTC-6)
    assert row.next_run_at == opening
    assert row.hold_reason == "Outside the send window until Mon 17:00 (America/Chicago)"
    assert sweep(opening)["steps_queued"] == 1


def test_steps_for_a_channel_the_lead_cannot_get_are_skipped(app_database, make_campaign):
    with session_scope() as s:
        tenant = make_tenant(s)
        no_phone = make_lead(s, tenant, status=LeadStatus.SILENT, phone=None).id
        opted_out = make_lead(s, tenant, status=LeadStatus.SILENT, opted_out_sms=True).id
        make_campaign(s, manager_of(tenant))
    stats = sweep(NOW)
    assert stats["steps_skipped"] == 2 and messages() == []
    rows = {e.lead_id: e for e in enrollment_rows()}
    assert rows[no_phone].hold_reason == "Step 1 skipped: no phone number"
    assert rows[opted_out].hold_reason == "Step 1 skipped: opted out of SMS"
    assert all(e.current_step == 1 for e in rows.values())


def test_only_if_not_opened_skips_when_an_earlier_email_was_opened(app_database, make_campaign):
    steps = [
        StepIn(channel=Channel.EMAIL, subject="One", body="Hi {{first_name}}, first email."),
        StepIn(
            channel=Channel.EMAIL,
            delay_minutes=60,
            subject="Two",
            body="Hi {{first_name}}, second.",
            condition="not_opened",
        ),
    ]
    setup(make_campaign, steps=steps)
    sweep(NOW)
    first = messages()
    with session_scope() as s:
        opened = s.get(Message, first[0].id)
        opened.status, opened.opened_at = MessageStatus.OPENED, NOW + timedelta(minutes=5)
    stats = sweep(NOW + timedelta(hours=1))
    assert stats["steps_queued"] == 1 and stats["steps_skipped"] == 1
    second = [m for m in messages() if m.subject == "Two"]
    assert [m.lead_id for m in second] == [first[1].lead_id]


def test_a_paused_campaign_runs_no_steps(app_database, make_campaign):
    tenant_id, _, campaign_id = setup(make_campaign)
    with session_scope() as s:
        tenant = s.get(Tenant, tenant_id)
        service.pause(s, viewer=manager_of(tenant), campaign_id=campaign_id, now=NOW)
    assert sweep(NOW)["steps_queued"] == 0
    with session_scope() as s:
        service.resume(s, viewer=manager_of(tenant), campaign_id=campaign_id, now=NOW)
    assert sweep(NOW)["steps_queued"] == 2


def test_scheduled_campaigns_start_on_time_and_always_on_enrolls_new_matches(
    app_database, make_campaign
):
    with session_scope() as s:
        tenant = make_tenant(s)
        make_lead(s, tenant, status=LeadStatus.SILENT)
        scheduled = make_campaign(
            s, manager_of(tenant), starts_at=NOW + timedelta(hours=1), steps=two_steps()[:1]
        ).id
    assert sweep(NOW)["launched"] == 0
    stats = sweep(NOW + timedelta(hours=1))
    assert stats["launched"] == 1 and stats["enrolled"] == 1 and stats["steps_queued"] == 1
    with session_scope() as s:
        assert s.get(Campaign, scheduled).status == CampaignStatus.COMPLETED
        tenant = s.get(Tenant, tenant.id)
        always = make_campaign(
            s,
            manager_of(tenant),
            name="Always",
            always_on=True,
            audience={"status": ["contacted"]},
            steps=two_steps()[:1],
        ).id
        make_lead(s, tenant, status=LeadStatus.CONTACTED)
    stats = sweep(NOW + timedelta(hours=2))
    assert stats["enrolled"] == 1 and stats["steps_queued"] == 1
    with session_scope() as s:
        # Always-on campaigns keep running with nobody left in them.
        assert s.get(Campaign, always).status == CampaignStatus.ACTIVE


def test_batches_cover_every_due_enrollment(app_database, make_campaign):
    setup(make_campaign, leads=7)
    stats = sweep(NOW, batch_size=3)
    assert stats["steps_queued"] == 7
    assert len({m.lead_id for m in messages()}) == 7
