"""The campaign wizard's rules on SQLite and PostgreSQL: each stage's field errors, the draft
saved stage by stage and read back, launching through the engine, the list's duplicate and
unschedule, the live audience count, previews and "draft with AI"."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from recovery_app.domain.campaigns import composing, service, wizard
from recovery_app.domain.campaigns.wizard import StepDraft, WizardDraft
from recovery_app.errors import Conflict, Forbidden, NotFound, ValidationFailed
from recovery_app.messaging.drafting import Drafter
from recovery_app.models import (
    AiDraft,
    AuditLog,
    CampaignStatus,
    Channel,
    Enrollment,
    LeadStatus,
    Role,
)
from recovery_app.settings import Settings
from tests.factories import NOW, make_lead, make_tenant, make_user, manager_of, viewer_for
from tests.fakes.anthropic_api import FakeAnthropic

SMS = "Hi {{first_name}}, still looking at {{property_interest}}? Reply STOP to opt out."


def form(**fields) -> WizardDraft:
    base = {
        "name": "Win back",
        "statuses": ["silent"],
        "steps": [
            StepDraft(channel="sms", delay="0", body=SMS),
            StepDraft(
                channel="email",
                delay="2",
                delay_unit="days",
                subject="Checking in, {{first_name}}",
                body="Hi {{first_name}},\n\nAny questions?\n\n{{agent_name}}",
            ),
        ],
        "days": [0, 1, 2, 3, 4, 5, 6],
        "window_start": "00:00",
        "window_end": "23:59",
    }
    return WizardDraft(**(base | fields))


def errors_at(session, tenant, stage, **fields) -> dict[str, str]:
    return wizard.check(
        session, viewer=manager_of(tenant), draft=form(**fields), stage=stage, now=NOW
    )


@pytest.mark.parametrize(
    ("stage", "fields", "field"),
    [
        ("audience", {"name": "  "}, "name"),
        ("audience", {"goal": "fame"}, "goal"),
        ("audience", {"min_score": "eighty"}, "audience.min_score"),
        ("audience", {"min_score": "80", "max_score": "20"}, "audience.max_score"),
        ("audience", {"statuses": ["dormant"]}, "audience.status"),
        ("steps", {"steps": []}, "steps"),
        ("steps", {"steps": [StepDraft(channel="fax", body=SMS)]}, "steps.0.channel"),
        ("steps", {"steps": [StepDraft(delay="-3", body=SMS)]}, "steps.0.delay"),
        ("steps", {"steps": [StepDraft(delay="91", delay_unit="days", body=SMS)]}, "steps.0.delay"),
        (
            "steps",
            {"steps": [StepDraft(body=SMS), StepDraft(body=SMS, condition="not_opened")]},
            "steps.1.condition",
        ),
        ("messages", {"steps": [StepDraft(body="Hi {{nickname}}")]}, "steps.0.body"),
        ("messages", {"steps": [StepDraft(channel="email", body="Hello")]}, "steps.0.subject"),
        ("messages", {"steps": [StepDraft(body="x" * 400)]}, "steps.0.body"),
        ("timing", {"days": []}, "send_window.days"),
        ("timing", {"window_start": "19:00", "window_end": "09:00"}, "send_window.end"),
        ("timing", {"window_start": "9am"}, "send_window.start"),
        ("timing", {"frequency_cap": "0"}, "frequency_cap_per_day"),
        ("timing", {"start_mode": "later", "start_date": "2026-10-01"}, "starts_at"),
        ("timing", {"start_mode": "later", "start_date": "next week"}, "starts_at"),
    ],
)
def test_each_stage_names_what_keeps_it_from_going_on(session, stage, fields, field) -> None:
    tenant = make_tenant(session)
    assert field in errors_at(session, tenant, stage, **fields)


def test_a_stage_checks_only_itself_and_the_stages_before_it(session) -> None:
    tenant = make_tenant(session)
    broken_timing = {"frequency_cap": "zero", "window_start": "late"}
    assert errors_at(session, tenant, "messages", **broken_timing) == {}
    assert set(errors_at(session, tenant, "timing", **broken_timing)) == {
        "frequency_cap_per_day",
        "send_window.start",
    }
    # A condition that checks an earlier email is fine once there is one.
    steps = [
        StepDraft(channel="email", subject="Hi", body="Hello"),
        StepDraft(condition="not_opened", body=SMS),
    ]
    assert errors_at(session, tenant, "messages", steps=steps) == {}


def test_the_draft_is_saved_stage_by_stage_and_read_back(session) -> None:
    tenant = make_tenant(session, timezone="America/Chicago")
    manager = manager_of(tenant)
    draft = form(min_score="40", tags="buyer, relocation ", optimize=True, frequency_cap="2")

    created = wizard.save(
        session, viewer=manager, campaign_id=None, draft=draft, stage="audience", now=NOW
    )
    assert created.status == CampaignStatus.DRAFT
    assert created.audience == {
        "status": ["silent"],
        "min_score": 40,
        "tags": ["buyer", "relocation"],
    }
    assert service.steps_of(session, created.id) == []  # steps are not reached yet

    wizard.save(
        session, viewer=manager, campaign_id=created.id, draft=draft, stage="steps", now=NOW
    )
    steps = service.steps_of(session, created.id)
    assert [(s.channel, s.delay_minutes) for s in steps] == [("sms", 0), ("email", 2 * 24 * 60)]
    assert created.frequency_cap_per_day == 3  # timing not reached yet: the default

    later = form(
        min_score="40",
        tags="buyer, relocation",
        optimize=True,
        frequency_cap="2",
        start_mode="later",
        start_date="2026-11-10",
        start_time="09:30",
        autopilot=False,
    )
    wizard.save(
        session, viewer=manager, campaign_id=created.id, draft=later, stage="timing", now=NOW
    )
    assert created.send_window["optimize"] is True
    assert created.frequency_cap_per_day == 2 and created.autopilot is False
    # 09:30 in Chicago (CST, UTC-6) on 10 November.
    assert created.starts_at == NOW.replace(day=10, hour=15, minute=30)

    back = wizard.load(session, viewer=manager, campaign_id=created.id)
    assert back.name == "Win back" and back.min_score == "40" and back.tags == "buyer, relocation"
    assert (back.start_mode, back.start_date, back.start_time) == ("later", "2026-11-10", "09:30")
    assert [(s.channel, s.delay, s.delay_unit) for s in back.steps] == [
        ("sms", "0", "days"),
        ("email", "2", "days"),
    ]
    assert back.steps[1].subject == "Checking in, {{first_name}}" and back.optimize

    # Choosing "when launched" again clears the date.
    wizard.save(
        session, viewer=manager, campaign_id=created.id, draft=form(), stage="timing", now=NOW
    )
    assert created.starts_at is None


def test_a_step_that_uses_a_template_opens_with_its_text(session) -> None:
    from recovery_app.domain.campaigns.library import ensure_builtin_templates
    from recovery_app.domain.campaigns.schemas import CampaignIn, StepIn

    tenant = make_tenant(session)
    template = ensure_builtin_templates(session)[("silent_7d", Channel.EMAIL)]
    campaign = service.create_campaign(
        session,
        viewer=manager_of(tenant),
        data=CampaignIn(name="T", steps=[StepIn(channel=Channel.EMAIL, template_id=template.id)]),
        now=NOW,
    )
    (step,) = wizard.load(session, viewer=manager_of(tenant), campaign_id=campaign.id).steps
    assert (step.template_id, step.subject, step.body) == (
        template.id,
        template.subject,
        template.body,
    )


def test_saving_refuses_bad_fields_agents_and_other_offices(session) -> None:
    tenant, other = make_tenant(session), make_tenant(session)
    manager = manager_of(tenant)
    with pytest.raises(ValidationFailed) as refused:
        wizard.save(
            session,
            viewer=manager,
            campaign_id=None,
            draft=form(name=""),
            stage="audience",
            now=NOW,
        )
    assert refused.value.fields == {"name": "name the campaign"}
    agent = viewer_for(make_user(session, tenant, role=Role.AGENT))
    with pytest.raises(Forbidden):
        wizard.save(
            session, viewer=agent, campaign_id=None, draft=form(), stage="audience", now=NOW
        )
    with pytest.raises(Forbidden):
        composing.preview_audience(session, viewer=agent, draft=form(), now=NOW)
    mine = wizard.save(
        session, viewer=manager, campaign_id=None, draft=form(), stage="audience", now=NOW
    )
    with pytest.raises(NotFound):
        wizard.save(
            session,
            viewer=manager_of(other),
            campaign_id=mine.id,
            draft=form(),
            stage="audience",
            now=NOW,
        )
    with pytest.raises(NotFound):
        wizard.load(session, viewer=manager_of(other), campaign_id=mine.id)


def test_launching_enrolls_the_audience_through_the_engine(session) -> None:
    tenant = make_tenant(session)
    manager = manager_of(tenant)
    silent = [make_lead(session, tenant, status=LeadStatus.SILENT) for _ in range(3)]
    make_lead(session, tenant, status=LeadStatus.ENGAGED)
    draft = form()
    campaign = wizard.save(
        session, viewer=manager, campaign_id=None, draft=draft, stage="timing", now=NOW
    )

    launched, enrolled = wizard.launch(
        session, viewer=manager, campaign_id=campaign.id, draft=draft, now=NOW
    )
    assert enrolled == 3 and launched.status == CampaignStatus.ACTIVE
    leads = session.execute(select(Enrollment.lead_id).where(Enrollment.campaign_id == campaign.id))
    assert sorted(leads.scalars()) == sorted(lead.id for lead in silent)
    # A running campaign is no longer the wizard's.
    with pytest.raises(Conflict):
        wizard.load(session, viewer=manager, campaign_id=campaign.id)
    with pytest.raises(Conflict):
        wizard.save(
            session, viewer=manager, campaign_id=campaign.id, draft=draft, stage="audience", now=NOW
        )


def test_a_later_start_schedules_and_unscheduling_makes_it_a_draft_again(session) -> None:
    tenant = make_tenant(session)
    manager = manager_of(tenant)
    make_lead(session, tenant, status=LeadStatus.SILENT)
    draft = form(start_mode="later", start_date="2026-11-20", start_time="10:00")
    campaign = wizard.save(
        session, viewer=manager, campaign_id=None, draft=draft, stage="timing", now=NOW
    )
    _, enrolled = wizard.launch(
        session, viewer=manager, campaign_id=campaign.id, draft=draft, now=NOW
    )
    assert enrolled == 0 and campaign.status == CampaignStatus.SCHEDULED

    wizard.unschedule(session, viewer=manager, campaign_id=campaign.id, now=NOW)
    assert campaign.status == CampaignStatus.DRAFT
    assert wizard.load(session, viewer=manager, campaign_id=campaign.id).start_mode == "later"
    with pytest.raises(Conflict):
        wizard.unschedule(session, viewer=manager, campaign_id=campaign.id, now=NOW)
    actions = session.execute(
        select(AuditLog.action).where(AuditLog.entity_id == str(campaign.id))
    ).scalars()
    assert "campaign.unscheduled" in set(actions)


def test_duplicating_copies_steps_and_timing_as_a_new_draft(session) -> None:
    tenant = make_tenant(session)
    manager = manager_of(tenant)
    draft = form(optimize=True, frequency_cap="1")
    original = wizard.save(
        session, viewer=manager, campaign_id=None, draft=draft, stage="timing", now=NOW
    )
    wizard.launch(session, viewer=manager, campaign_id=original.id, draft=draft, now=NOW)

    copy = wizard.duplicate(
        session, viewer=manager, campaign_id=original.id, now=NOW + timedelta(hours=1)
    )
    assert copy.id != original.id and copy.name == "Win back (copy)"
    assert copy.status == CampaignStatus.DRAFT and copy.launched_at is None
    assert copy.send_window == original.send_window and copy.frequency_cap_per_day == 1
    pairs = [
        (s.channel, s.delay_minutes, s.subject, s.body) for s in service.steps_of(session, copy.id)
    ]
    assert pairs == [
        (s.channel, s.delay_minutes, s.subject, s.body)
        for s in service.steps_of(session, original.id)
    ]
    with pytest.raises(NotFound):
        wizard.duplicate(
            session, viewer=manager_of(make_tenant(session)), campaign_id=original.id, now=NOW
        )


def test_the_live_count_and_sample_follow_the_rule(session) -> None:
    tenant, other = make_tenant(session), make_tenant(session)
    agent = make_user(session, tenant, full_name="Dana Cole")
    scores = [95, 20, 70, 55, 88, 64, 41]
    for score in scores:
        make_lead(session, tenant, status=LeadStatus.SILENT, score=score, assigned_user_id=agent.id)
    make_lead(session, tenant, status=LeadStatus.CONVERTED, score=99)
    make_lead(session, other, status=LeadStatus.SILENT, score=100)
    manager = manager_of(tenant)

    every = composing.preview_audience(session, viewer=manager, draft=form(), now=NOW)
    assert every.count == len(scores)
    assert [lead.score for lead in every.sample] == [95, 88, 70, 64, 55]
    assert every.sample[0].agent == "Dana Cole"
    hot = composing.preview_audience(session, viewer=manager, draft=form(min_score="60"), now=NOW)
    assert hot.count == 4
    with pytest.raises(ValidationFailed) as refused:
        composing.preview_audience(session, viewer=manager, draft=form(max_score="200"), now=NOW)
    assert "audience.max_score" in refused.value.fields


def test_the_preview_renders_a_real_lead_and_counts_segments(session) -> None:
    tenant = make_tenant(session, name="Harbor Realty")
    agent = make_user(session, tenant, full_name="Dana Cole")
    lead = make_lead(
        session,
        tenant,
        first_name="Zoë",
        assigned_user_id=agent.id,
        attributes={"property_interest": "3-bed homes in Austin"},
    )
    values = composing.lead_values(session, viewer=manager_of(tenant), lead_id=lead.id)
    checked = composing.check_text("sms", "", SMS, values)
    assert checked.body == "Hi Zoë, still looking at 3-bed homes in Austin? Reply STOP to opt out."
    assert checked.has_opt_out
    # "ë" is not GSM-7: the whole text goes as UCS-2, 70 in one segment, 67 each past that.
    counted = checked.segments
    assert counted is not None
    assert (counted.encoding, counted.units, counted.segments, counted.left_in_segment) == (
        "UCS-2",
        70,
        1,
        0,
    )
    longer = composing.check_text("sms", "", SMS + "!", values).segments
    assert longer is not None and (longer.segments, longer.per_segment) == (2, 67)
    plain = composing.check_text(
        "sms", "", "Hi {{first_name}}, any news? [x]", {"first_name": "Zoe"}
    )
    # "[" and "]" are GSM-7's extension characters: two septets each.
    assert plain.segments is not None
    assert (plain.segments.encoding, plain.segments.units, plain.segments.segments) == (
        "GSM-7",
        len("Hi Zoe, any news? [x]") + 2,
        1,
    )
    assert not plain.has_opt_out
    with pytest.raises(NotFound):
        composing.lead_values(session, viewer=manager_of(make_tenant(session)), lead_id=lead.id)


def test_draft_with_ai_without_a_key_keeps_the_template_and_says_why(session) -> None:
    tenant = make_tenant(session)
    drafter = Drafter(Settings(anthropic_api_key=None))
    result = composing.draft_with_ai(
        session, viewer=manager_of(tenant), draft=form(), index=0, now=NOW, drafter=drafter
    )
    assert result.drafted_by == "template" and result.body == SMS
    assert result.note == "no ANTHROPIC_API_KEY"


def test_draft_with_ai_writes_the_step_through_the_drafter(session) -> None:
    tenant = make_tenant(session)
    fake = FakeAnthropic()
    try:
        drafter = Drafter(
            Settings(anthropic_api_key=FakeAnthropic.API_KEY, anthropic_base_url=fake.url)
        )
        result = composing.draft_with_ai(
            session, viewer=manager_of(tenant), draft=form(), index=0, now=NOW, drafter=drafter
        )
    finally:
        fake.close()
    assert result.drafted_by == "ai" and "{{first_name}}" in result.body
    prompt = fake.requests[0]["messages"][0]["content"]
    assert "step 1 of 2" in prompt and "Reply STOP to opt out" in prompt
    (row,) = session.execute(select(AiDraft).where(AiDraft.tenant_id == tenant.id)).scalars()
    assert row.cost_microdollars > 0  # the call's cost counts in ROI like any other draft
    with pytest.raises(ValidationFailed):
        composing.draft_with_ai(session, viewer=manager_of(tenant), draft=form(), index=5, now=NOW)


def test_the_library_has_the_builtins_and_the_offices_own(session) -> None:
    from recovery_app.models import Template

    tenant, other = make_tenant(session), make_tenant(session)
    session.add(
        Template(tenant_id=tenant.id, channel=Channel.SMS, name="Ours", body="Hi. Reply STOP")
    )
    session.add(Template(tenant_id=other.id, channel=Channel.SMS, name="Theirs", body="Hi"))
    session.flush()
    names = [t.name for t in composing.library(session, viewer=manager_of(tenant))]
    assert "Ours" in names and "Theirs" not in names
    assert "7 days silent: gentle check-in" in names
    first_sms = composing.starting_template(
        composing.library(session, viewer=manager_of(tenant)), "sms", 0
    )
    assert first_sms is not None and first_sms.situation == "silent_7d"
