"""`{{booking_link}}`: the lead's agent's scheduling page in every message rendered for the
lead (first response, campaign steps, recovery), empty when there is none; the template and
draft checks know the name."""

from datetime import timedelta

from sqlalchemy import select

from recovery_app.db import session_scope
from recovery_app.domain.campaigns import service
from recovery_app.domain.campaigns.rendering import render
from recovery_app.domain.campaigns.schemas import CampaignIn, SendWindow, StepIn
from recovery_app.domain.campaigns.sweep import run_sweep
from recovery_app.domain.leads.first_response import queue_first_response, variables
from recovery_app.domain.leads.handling import check_template, save_first_response
from recovery_app.messaging.draft_checks import check_draft
from recovery_app.models import Channel, LeadStatus, Message, Role
from tests.factories import NOW, make_lead, make_tenant, make_user, manager_of, viewer_for

LINK = "https://calendly.com/marcus-reyes/30min"
ALWAYS = SendWindow(days=[0, 1, 2, 3, 4, 5, 6], start="00:00", end="23:59")


def test_the_variable_is_the_assigned_agents_link_and_empty_without_one(session) -> None:
    tenant = make_tenant(session)
    with_link = make_user(session, tenant, full_name="Marcus Reyes", booking_url=LINK)
    without = make_user(session, tenant, full_name="Ada Lin")
    mine = make_lead(session, tenant, assigned_user_id=with_link.id)
    assert variables(session, mine, tenant)["booking_link"] == LINK
    for lead in (
        make_lead(session, tenant, assigned_user_id=without.id),
        make_lead(session, tenant, assigned_user_id=None),
    ):
        values = variables(session, lead, tenant)
        assert values["booking_link"] is None
        assert render("Pick a time: {{booking_link}}", values) == "Pick a time: "


def test_a_first_response_carries_the_agents_link(session) -> None:
    tenant = make_tenant(session, name="Harbor Office")
    manager = make_user(session, tenant, role=Role.MANAGER)
    agent = make_user(session, tenant, full_name="Marcus Reyes", booking_url=LINK)
    save_first_response(
        session,
        viewer=viewer_for(manager),
        source=None,
        channel=Channel.SMS,
        subject=None,
        body="Hi {{first_name}}, grab a time with me: {{booking_link}} Reply STOP to opt out.",
        now=NOW,
    )
    lead = make_lead(session, tenant, first_name="Maria", email=None, assigned_user_id=agent.id)
    queue_first_response(session, lead=lead, tenant=tenant, now=NOW)
    body = session.execute(select(Message.body).where(Message.lead_id == lead.id)).scalar_one()
    assert body == f"Hi Maria, grab a time with me: {LINK} Reply STOP to opt out."


def test_a_campaign_step_carries_the_agents_link(app_database) -> None:
    with session_scope() as s:
        tenant = make_tenant(s)
        agent = make_user(s, tenant, booking_url=LINK)
        lead = make_lead(s, tenant, status=LeadStatus.SILENT, assigned_user_id=agent.id)
        data = CampaignIn(
            name="Book a call",
            goal="appointment",
            audience={"status": ["silent"]},
            send_window=ALWAYS,
            steps=[
                StepIn(
                    channel=Channel.SMS,
                    body="{{first_name}}, pick a time: {{booking_link}} Reply STOP to opt out.",
                )
            ],
        )
        campaign = service.create_campaign(s, viewer=manager_of(tenant), data=data, now=NOW)
        service.launch(s, viewer=manager_of(tenant), campaign_id=campaign.id, now=NOW)
        first_name, lead_id = lead.first_name, lead.id
    with session_scope() as s:
        run_sweep(s, NOW + timedelta(minutes=1))
    with session_scope() as s:
        body = s.execute(select(Message.body).where(Message.lead_id == lead_id)).scalar_one()
    assert body == f"{first_name}, pick a time: {LINK} Reply STOP to opt out."


def test_template_and_draft_checks_know_the_variable() -> None:
    body = "Book here: {{booking_link}} Reply STOP to opt out."
    assert check_template(Channel.SMS, None, body) == {}
    assert "body" in check_template(Channel.SMS, None, "Book here: {{calendar_link}}")
    problems = check_draft(
        Channel.SMS,
        None,
        body,
        require_opt_out=True,
        allowed_hosts=frozenset({"app.example.com"}),
        blocklist=(),
    )
    assert problems == []
    # The long sample link counts toward the SMS length a template is checked with.
    long_text = "x" * 250 + " {{booking_link}} Reply STOP to opt out."
    assert "segments" in check_template(Channel.SMS, None, long_text)["body"]
