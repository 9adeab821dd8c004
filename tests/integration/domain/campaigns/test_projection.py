"""The wizard's review on SQLite and PostgreSQL: who launch would enroll and who each channel
reaches, the sends per day, the cost at the office's prices and the compliance findings."""

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from recovery_app.domain.campaigns import projection, service
from recovery_app.domain.campaigns.schemas import CampaignIn, StepIn
from recovery_app.domain.campaigns.windows import SendWindow
from recovery_app.domain.campaigns.wizard import StepDraft, WizardDraft
from recovery_app.errors import Forbidden, ValidationFailed
from recovery_app.messaging.drafting import Drafter, cost_microdollars
from recovery_app.models import AiDraft, Channel, LeadStatus, Role
from recovery_app.settings import Settings
from tests.factories import NOW, make_lead, make_tenant, make_user, manager_of, viewer_for

CHICAGO = "America/Chicago"
SMS = "Hi {{first_name}}, still looking? Reply STOP to opt out."
AI_OFF = Drafter(Settings(anthropic_api_key=None))
AI_ON = Drafter(Settings(anthropic_api_key="sk-ant-test", anthropic_model="claude-haiku-4-5"))


def office(session, **fields):
    return make_tenant(
        session,
        **(
            {
                "timezone": CHICAGO,
                "postal_address": "1 Main St, Austin, TX",
                "preferences": {"prices": {"sms_segment_usd": 0.01, "email_usd": 0.002}},
            }
            | fields
        ),
    )


def lead(session, tenant, **fields):
    return make_lead(
        session,
        tenant,
        **(
            {
                "status": LeadStatus.SILENT,
                "consent_sms": True,
                "consent_email": True,
                "timezone": CHICAGO,
                "first_name": "Sam",
            }
            | fields
        ),
    )


def draft(**fields) -> WizardDraft:
    base = {
        "name": "Win back",
        "statuses": ["silent"],
        "steps": [
            StepDraft(channel="sms", delay="0", body=SMS),
            StepDraft(
                channel="email",
                delay="2",
                delay_unit="days",
                subject="Checking in",
                body="Hi {{first_name}}, any questions?",
            ),
        ],
        "days": [0, 1, 2, 3, 4],
        "window_start": "09:00",
        "window_end": "17:00",
    }
    return WizardDraft(**(base | fields))


def test_reach_counts_who_launch_enrolls_and_who_each_channel_gets(session) -> None:
    tenant = office(session)
    lead(session, tenant, source="web_form")
    lead(session, tenant, email=None, consent_sms=False, source="web_form")
    lead(session, tenant, opted_out_sms=True, source="referral")
    fourth = lead(session, tenant, source="portal")
    lead(session, make_tenant(session))  # another office: never counted
    other = service.create_campaign(
        session,
        viewer=manager_of(tenant),
        data=CampaignIn(name="Other", steps=[StepIn(channel=Channel.SMS, body=SMS)]),
        now=NOW,
    )
    service.launch(session, viewer=manager_of(tenant), campaign_id=other.id, now=NOW)
    assert service.active_nurture(session, lead_id=fourth.id) is not None

    found = projection.reach(
        session, tenant_id=tenant.id, rule={"status": ["silent"]}, campaign_id=None, now=NOW
    )
    # `other` (every open lead) took all four: a new campaign would enroll none of them, while
    # reviewing `other` itself counts them as its own.
    assert found.matching == 4 and found.elsewhere == 4
    own = projection.reach(
        session, tenant_id=tenant.id, rule={"status": ["silent"]}, campaign_id=other.id, now=NOW
    )
    assert (own.matching, own.elsewhere, own.enrollable) == (4, 0, 4)
    assert (own.sms_reachable, own.sms_consented) == (3, 2)  # the opted-out one has no text
    assert (own.email_reachable, own.email_consented) == (3, 3)  # one has no address
    assert own.segments == 3  # warm x web_form, warm x referral, warm x portal


def test_the_day_plan_waits_for_windows_delays_and_the_daily_cap() -> None:
    weekdays = SendWindow(frozenset(range(5)), time(9), time(17))
    steps = [
        StepDraft(channel="sms"),
        StepDraft(channel="email"),
        StepDraft(channel="sms"),
    ]
    # NOW is Sunday 09:00 in Chicago: the first text waits for Monday 09:00; the email two days
    # later (Wednesday); the last text would go the same Wednesday but the cap of one a day
    # moves it to Thursday.
    days = projection.plan_days(
        steps,
        [0, 2 * 24 * 60, 0],
        sends=[10, 8, 7],
        window_of=lambda channel: weekdays,
        start=NOW,
        timezone=CHICAGO,
        cap=1,
    )
    assert [(d.day.isoformat(), d.sms, d.email) for d in days] == [
        ("2026-11-02", 10, 0),
        ("2026-11-04", 0, 8),
        ("2026-11-05", 7, 0),
    ]
    two_a_day = projection.plan_days(
        steps,
        [0, 2 * 24 * 60, 0],
        sends=[10, 8, 7],
        window_of=lambda channel: weekdays,
        start=NOW,
        timezone=CHICAGO,
        cap=2,
    )
    assert [(d.day.isoformat(), d.sms, d.email) for d in two_a_day][-1] == ("2026-11-04", 7, 8)


def test_the_review_prices_the_sends_at_the_offices_prices(session) -> None:
    tenant = office(session)
    for _ in range(4):
        lead(session, tenant)
    lead(session, tenant, consent_sms=False)
    review = projection.review(
        session, viewer=manager_of(tenant), campaign_id=None, draft=draft(), now=NOW, drafter=AI_OFF
    )
    assert review.reach.enrollable == 5
    assert review.sends_per_step == [4, 5]  # no SMS consent: no text; every email consented
    assert [(d.sms, d.email) for d in review.days] == [(4, 0), (0, 5)]
    cost = review.cost
    # "Hi Sam, still looking? Reply STOP to opt out." is one GSM-7 segment.
    assert (cost.sms_messages, cost.sms_segments, cost.emails) == (4, 4, 5)
    assert cost.sms_usd == pytest.approx(0.04) and cost.email_usd == pytest.approx(0.01)
    assert cost.ai_calls == 0 and cost.total_usd == pytest.approx(0.05)
    assert review.start == NOW and review.windows == {
        "sms": ("Mon-Fri 09:00-17:00", False),
        "email": ("Mon-Fri 09:00-17:00", False),
    }


def test_ai_steps_cost_one_draft_per_lead_group_priced_from_past_drafts(session) -> None:
    tenant = office(session)
    lead(session, tenant, source="web_form")
    lead(session, tenant, source="web_form")
    lead(session, tenant, source="referral")
    for n, (tokens_in, tokens_out) in enumerate(((1000, 100), (3000, 300))):
        session.add(
            AiDraft(
                tenant_id=tenant.id,
                cache_key=f"past:{n}",
                channel=Channel.SMS,
                body="Hi",
                input_tokens=tokens_in,
                output_tokens=tokens_out,
            )
        )
    session.flush()
    steps = [StepDraft(channel="sms", body=SMS, ai_personalize=True)]
    review = projection.review(
        session,
        viewer=manager_of(tenant),
        campaign_id=None,
        draft=draft(steps=steps),
        now=NOW,
        drafter=AI_ON,
    )
    assert review.reach.segments == 2 and review.cost.ai_calls == 2
    per_call = cost_microdollars("claude-haiku-4-5", 2000, 200) / 1_000_000
    assert review.cost.ai_usd == pytest.approx(2 * per_call)
    # An AI-written text may take up to two segments, whatever the template's length.
    assert review.cost.sms_segments == 3 * 2
    # Without AI the same steps cost no AI and say they send the template.
    off = projection.review(
        session,
        viewer=manager_of(tenant),
        campaign_id=None,
        draft=draft(steps=steps),
        now=NOW,
        drafter=AI_OFF,
    )
    assert off.cost.ai_calls == 0 and off.cost.sms_segments == 3
    assert any("AI is off" in f.text for f in off.findings)


def test_the_compliance_check_says_what_the_guard_will_do(session) -> None:
    tenant = office(
        session, postal_address=None, quiet_hours_start=time(20), quiet_hours_end=time(9)
    )
    lead(session, tenant, consent_sms=False)
    lead(session, tenant, consent_email=False)
    steps = [
        StepDraft(channel="sms", body="Hi {{first_name}}, any news? No kids please."),
        StepDraft(channel="email", delay="1", subject="Hi", body="Hello {{first_name}}"),
    ]
    found = projection.review(
        session,
        viewer=manager_of(tenant),
        campaign_id=None,
        draft=draft(steps=steps, window_start="07:00", window_end="22:00", optimize=True),
        now=NOW,
        drafter=AI_OFF,
    ).findings
    texts = "\n".join(f.text for f in found)
    assert found[0].level == "block"  # worst first
    blocked = [f.text for f in found if f.level == "block"]
    assert any("postal address" in text for text in blocked)
    assert "1 of 2 leads with a number have no SMS consent" in texts
    assert "1 of 2 leads with an address have no email consent" in texts
    assert "Text step 1 has no opt-out wording" in texts
    assert 'Step 1 says "no kids"' in texts
    # Quiet from 20:00 to 09:00 narrows the law's 08:00-21:00.
    assert (
        "The text window 07:00-22:00 runs into quiet hours: texts go out only 09:00-20:00" in texts
    )
    assert "Not enough reply history to suggest a send window yet" in texts
    assert "one-click unsubscribe" in texts


def test_the_review_is_for_managers_and_after_the_earlier_stages(session) -> None:
    tenant = office(session)
    agent = viewer_for(make_user(session, tenant, role=Role.AGENT))
    with pytest.raises(Forbidden):
        projection.review(session, viewer=agent, campaign_id=None, draft=draft(), now=NOW)
    with pytest.raises(ValidationFailed) as refused:
        projection.review(
            session,
            viewer=manager_of(tenant),
            campaign_id=None,
            draft=draft(frequency_cap="x"),
            now=NOW,
        )
    assert "frequency_cap_per_day" in refused.value.fields


def test_a_later_start_plans_from_that_day(session) -> None:
    tenant = office(session)
    lead(session, tenant)
    review = projection.review(
        session,
        viewer=manager_of(tenant),
        campaign_id=None,
        draft=draft(start_mode="later", start_date="2026-11-09", start_time="10:00"),
        now=NOW,
        drafter=AI_OFF,
    )
    assert review.start == datetime(2026, 11, 9, 10, tzinfo=ZoneInfo(CHICAGO)).astimezone(UTC)
    assert [d.day.isoformat() for d in review.days] == ["2026-11-09", "2026-11-11"]
