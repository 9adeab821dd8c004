"""Behavioral triggers: each event fires at its threshold inside its window, once per rule,
lead and window; each action does what it says; the webhook, intake and dispatcher paths fire
rules while they run; managers edit the rules (validated, audited) over REST too."""

import itertools
import threading
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, func, select
from twilio.request_validator import RequestValidator

from recovery_app.api.app import create_api
from recovery_app.db import session_scope
from recovery_app.domain.accounts.api_keys import issue_key
from recovery_app.domain.campaigns import service, trigger_rules, triggers
from recovery_app.domain.leads import timeline
from recovery_app.domain.leads.intake import intake, normalize, parse_payload
from recovery_app.errors import Forbidden, NotFound, ValidationFailed
from recovery_app.models import (
    Activity,
    ActivityKind,
    AuditLog,
    Channel,
    Direction,
    Enrollment,
    EnrollmentStatus,
    Lead,
    LeadStatus,
    Message,
    MessageCategory,
    MessageStatus,
    Notification,
    Role,
    Temperature,
    Tenant,
    TriggerFiring,
    TriggerRule,
)
from tests.factories import NOW, make_lead, make_tenant, make_user, manager_of, viewer_for
from tests.integration.conftest import LEAD_PHONE, SENDER

_keys = itertools.count(1)


@pytest.fixture
def team(session):
    """An office with an agent, a lead assigned to them and a manager's view."""
    tenant = make_tenant(session)
    agent = make_user(session, tenant, full_name="Ana Agent", phone="+15125550100")
    # A lead of a month ago: the emails these tests give it are from the days before NOW.
    lead = make_lead(
        session,
        tenant,
        first_name="Maria",
        assigned_user_id=agent.id,
        source="portal",
        created_at=NOW - timedelta(days=30),
    )
    timeline.rescore(session, lead, now=NOW)
    return tenant, agent, lead, manager_of(tenant)


def rule(session, viewer, **fields) -> TriggerRule:
    data = {"name": f"Rule {next(_keys)}", "event": "email_open", "action": "raise_score"}
    data |= (
        {"params": {"points": 10}} if fields.get("action", "raise_score") == "raise_score" else {}
    )
    return trigger_rules.create_rule(session, viewer=viewer, data=data | fields, now=NOW)


def email(session, lead, sent_at, *, opened_at=None, clicked_at=None) -> Message:
    message = Message(
        tenant_id=lead.tenant_id,
        lead_id=lead.id,
        channel=Channel.EMAIL,
        direction=Direction.OUTBOUND,
        category=MessageCategory.MARKETING,
        status=MessageStatus.OPENED if opened_at else MessageStatus.DELIVERED,
        subject="Hello",
        body="Hi",
        idempotency_key=f"test-email:{next(_keys)}",
        sent_at=sent_at,
        opened_at=opened_at,
        clicked_at=clicked_at,
        created_at=sent_at,
        updated_at=sent_at,
    )
    session.add(message)
    session.flush()
    return message


def opened(session, lead, at, kind=ActivityKind.EMAIL_OPEN) -> list[TriggerFiring]:
    """The lead opens (clicks) one of our emails at `at`, as the SendGrid handler records it."""
    message = email(session, lead, at - timedelta(hours=1), opened_at=at)
    timeline.add_activity(session, lead, kind, now=at, message_id=message.id)
    return triggers.evaluate(session, lead, kind, now=at)


def reply(session, lead, body, at=NOW) -> Message:
    message = Message(
        tenant_id=lead.tenant_id,
        lead_id=lead.id,
        channel=Channel.SMS,
        direction=Direction.INBOUND,
        status=MessageStatus.RECEIVED,
        body=body,
        idempotency_key=f"test-in:{next(_keys)}",
        sent_at=at,
        created_at=at,
        updated_at=at,
    )
    session.add(message)
    session.flush()
    return message


def firings(session, rule_: TriggerRule) -> list[TriggerFiring]:
    return list(
        session.execute(select(TriggerFiring).where(TriggerFiring.rule_id == rule_.id)).scalars()
    )


def fired_activities(session, lead) -> list[Activity]:
    return list(
        session.execute(
            select(Activity).where(
                Activity.lead_id == lead.id, Activity.kind == ActivityKind.TRIGGER_FIRED
            )
        ).scalars()
    )


def enroll(session, viewer, make_campaign, lead, name="Nurture A"):
    campaign = make_campaign(session, viewer, name=name)
    service.enroll_lead(session, lead=lead, campaign=campaign, now=NOW, reason="test")
    return campaign


def active_enrollments(session, lead) -> list[Enrollment]:
    return list(
        session.execute(
            select(Enrollment).where(
                Enrollment.lead_id == lead.id, Enrollment.status == EnrollmentStatus.ACTIVE
            )
        ).scalars()
    )


def assert_explained(lead: Lead) -> None:
    assert lead.score == max(0, min(100, sum(f["points"] for f in lead.score_factors)))


# ------------------------------------------------------------------ events, thresholds, windows
def test_email_opens_fire_at_the_threshold_inside_the_window(session, team) -> None:
    _, _, lead, manager = team
    two_opens = rule(session, manager, name="Opened 2+ emails in 24 h", threshold=2)
    score_before = lead.score
    assert opened(session, lead, NOW - timedelta(hours=30)) == []  # outside the window later
    assert opened(session, lead, NOW - timedelta(hours=1)) == []  # one in the last 24 h
    [firing] = opened(session, lead, NOW)  # the open being handled counts
    assert firing.rule_id == two_opens.id and firing.data["count"] == 2
    assert lead.score_boost == 10 and lead.score_boost_reason == "Opened 2+ emails in 24 h"
    behavior = [f for f in lead.score_factors if f["factor"] == "behavior"]
    assert behavior == [{"factor": "behavior", "label": "Opened 2+ emails in 24 h", "points": 10}]
    assert lead.score == score_before + 10
    assert_explained(lead)
    [activity] = fired_activities(session, lead)
    assert activity.data["rule_id"] == two_opens.id
    assert activity.data["rule"] == two_opens.name and activity.data["action"] == "raise_score"


def test_a_rule_fires_once_per_lead_and_window(session, team) -> None:
    _, _, lead, manager = team
    once = rule(session, manager, threshold=1)
    assert len(opened(session, lead, NOW)) == 1
    assert triggers.evaluate(session, lead, ActivityKind.EMAIL_OPEN, now=NOW) == []
    assert opened(session, lead, NOW + timedelta(hours=2)) == []  # same daily window
    assert len(firings(session, once)) == 1 and lead.score_boost == 10
    # The next aligned window (midnight UTC for 24 h) may fire again.
    assert len(opened(session, lead, NOW + timedelta(hours=10))) == 1
    assert lead.score_boost == 20 and len(fired_activities(session, lead)) == 2


def test_windows_are_aligned_buckets() -> None:
    at = datetime(2026, 11, 1, 15, 30, tzinfo=UTC)
    assert triggers.window_start(at, 24) == datetime(2026, 11, 1, tzinfo=UTC)
    assert triggers.window_start(at, 6) == datetime(2026, 11, 1, 12, tzinfo=UTC)
    assert triggers.window_start(at, 1) == datetime(2026, 11, 1, 15, tzinfo=UTC)
    week = triggers.window_start(at, 168)
    assert week <= at < week + timedelta(hours=168)


def test_email_clicks_fire_click_rules_only(session, team) -> None:
    _, _, lead, manager = team
    opens = rule(session, manager, event="email_open")
    clicks = rule(session, manager, event="email_click", threshold=2, window_hours=2)
    assert opened(session, lead, NOW - timedelta(hours=3), ActivityKind.EMAIL_CLICK) == []
    assert opened(session, lead, NOW, ActivityKind.EMAIL_CLICK) == []  # 1 in the last 2 h
    [firing] = opened(session, lead, NOW + timedelta(minutes=5), ActivityKind.EMAIL_CLICK)
    assert firing.rule_id == clicks.id and firings(session, opens) == []


@pytest.mark.parametrize(
    ("keywords", "body", "fires"),
    [
        ([], "Can we book a Showing on Saturday?", True),
        ([], "We are PRE-APPROVED already", True),
        ([], "preapproved, and ready to make an offer", True),
        ([], "two tours please", True),
        ([], "I showed it to my wife", False),
        ([], "Thanks, just looking", False),
        (["cash", "move in"], "Paying CASH.", True),
        (["cash", "move in"], "we want to move  in by June", True),
        (["cash", "move in"], "Love cashews", False),
    ],
)
def test_reply_keywords_match_whole_words(session, team, keywords, body, fires) -> None:
    _, _, lead, manager = team
    rule(session, manager, event="reply_keywords", keywords=keywords)
    message = reply(session, lead, body)
    fired = triggers.evaluate(session, lead, ActivityKind.REPLY, now=NOW, message=message)
    assert bool(fired) is fires


def test_a_form_submitted_again_fires_through_intake(session, team) -> None:
    tenant, _, lead, manager = team
    again = rule(session, manager, event="form_resubmitted", action="alert_agent")
    person = normalize(
        parse_payload({"email": lead.email, "message": "Still looking"}), region="US"
    )
    first = intake(
        session, tenant=tenant, person=person, received_at=NOW, via="test", respond=False
    )
    assert first.created is False and first.lead_id == lead.id
    [firing] = firings(session, again)
    assert firing.data["count"] == 1
    # A new person is a first submission, not a comeback.
    other = normalize(parse_payload({"email": "new.person@example.com"}), region="US")
    made = intake(session, tenant=tenant, person=other, received_at=NOW, via="test", respond=False)
    assert made.created and len(firings(session, again)) == 1


def test_form_resubmitted_respects_its_threshold(session, team) -> None:
    tenant, _, lead, manager = team
    twice = rule(session, manager, event="form_resubmitted", threshold=2, window_hours=48)
    person = normalize(parse_payload({"email": lead.email}), region="US")
    intake(session, tenant=tenant, person=person, received_at=NOW, via="test", respond=False)
    assert firings(session, twice) == []
    intake(
        session,
        tenant=tenant,
        person=person,
        received_at=NOW + timedelta(hours=1),
        via="test",
        respond=False,
    )
    assert len(firings(session, twice)) == 1


def test_no_open_fires_when_the_last_emails_aged_unopened(session, team, make_campaign) -> None:
    _, _, lead, manager = team
    enroll(session, manager, make_campaign, lead)
    quiet = rule(
        session, manager, event="no_open", threshold=3, window_hours=168, action="pause_nurture"
    )
    email(session, lead, NOW - timedelta(days=6), opened_at=NOW - timedelta(days=6))
    for days in (5, 4, 3):
        email(session, lead, NOW - timedelta(days=days))
    # Two of the three are past the 24 h grace when the third goes out: not yet.
    assert (
        triggers.evaluate(session, lead, ActivityKind.EMAIL_OUT, now=NOW - timedelta(days=3)) == []
    )
    [firing] = triggers.evaluate(session, lead, ActivityKind.EMAIL_OUT, now=NOW)
    assert firing.rule_id == quiet.id and firing.data["emails"] == 3
    assert active_enrollments(session, lead) == []
    stopped = session.execute(select(Enrollment.stopped_reason)).scalar_one()
    assert stopped == f"trigger: {quiet.name}"
    # The same run of emails never fires again, whatever the window.
    later = NOW + timedelta(days=8)
    assert triggers.evaluate(session, lead, ActivityKind.EMAIL_OUT, now=later) == []


def test_an_email_going_out_checks_no_open_rules(session, team) -> None:
    _, _, lead, manager = team
    rule(session, manager, event="no_open", threshold=2, action="pause_nurture")
    for days in (3, 2):
        email(session, lead, NOW - timedelta(days=days))
    new = email(session, lead, NOW)
    timeline.record_outbound(session, lead, new, now=NOW)  # what the dispatcher calls
    assert [a.data["action"] for a in fired_activities(session, lead)] == ["pause_nurture"]


def test_a_new_leads_first_email_reads_no_rules(session, team) -> None:
    """No email of a lead younger than the open grace can have aged unopened: recording its
    first-response email (the dispatcher, per email) skips the rules and their query."""
    tenant, _, _, manager = team
    rule(session, manager, event="no_open", threshold=1, action="pause_nurture")
    lead = make_lead(session, tenant, created_at=NOW - timedelta(minutes=1))
    statements: list[str] = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731 (conn, cursor, statement, ...)
    event.listen(session.get_bind(), "before_cursor_execute", listener)
    try:
        assert triggers.evaluate(session, lead, ActivityKind.EMAIL_OUT, now=NOW) == []
    finally:
        event.remove(session.get_bind(), "before_cursor_execute", listener)
    assert statements == []
    older = make_lead(session, tenant, created_at=NOW - timedelta(days=3))
    email(session, older, NOW - timedelta(days=2))
    assert [f.rule_id for f in triggers.evaluate(session, older, ActivityKind.EMAIL_OUT, now=NOW)]


def test_rules_changed_in_the_transaction_count_at_once(session, team) -> None:
    """Rules are read once a transaction; creating, disabling or deleting one forgets that."""
    _, _, lead, manager = team
    assert opened(session, lead, NOW) == []  # no rule yet: the empty answer is remembered
    first = rule(session, manager, threshold=1)
    assert [f.rule_id for f in opened(session, lead, NOW)] == [first.id]
    trigger_rules.update_rule(
        session, viewer=manager, rule_id=first.id, changes={"enabled": False}, now=NOW
    )
    later = NOW + timedelta(days=2)  # a new window, where the rule would fire again
    assert opened(session, lead, later) == []
    second = rule(session, manager, threshold=1)
    assert [f.rule_id for f in opened(session, lead, later)] == [second.id]
    trigger_rules.delete_rule(session, viewer=manager, rule_id=second.id, now=NOW)
    assert opened(session, lead, later + timedelta(days=2)) == []


def test_no_open_waits_for_the_grace_and_yields_to_a_recent_open(session, team) -> None:
    _, _, lead, manager = team
    rule(session, manager, event="no_open", threshold=2, action="pause_nurture")
    email(session, lead, NOW - timedelta(days=3))
    email(session, lead, NOW - timedelta(hours=3))  # not had its chance yet
    assert triggers.evaluate(session, lead, ActivityKind.EMAIL_OUT, now=NOW) == []
    email(session, lead, NOW - timedelta(days=2))
    email(session, lead, NOW - timedelta(hours=2), opened_at=NOW - timedelta(hours=1))
    assert triggers.evaluate(session, lead, ActivityKind.EMAIL_OUT, now=NOW) == []


def test_the_no_open_sweep_finds_leads_whose_emails_aged(session, team) -> None:
    tenant, _, lead, manager = team
    quiet = rule(
        session, manager, event="no_open", threshold=2, window_hours=24, action="pause_nurture"
    )
    reader = make_lead(session, tenant)
    for hours in (50, 30):
        email(session, lead, NOW - timedelta(hours=hours))
        email(session, reader, NOW - timedelta(hours=hours), opened_at=NOW - timedelta(hours=20))
    other_office = make_tenant(session)
    stranger = make_lead(session, other_office)
    for hours in (50, 30):
        email(session, stranger, NOW - timedelta(hours=hours))
    assert triggers.evaluate_no_open(session, NOW) == {"no_open_fired": 1}
    assert [f.lead_id for f in firings(session, quiet)] == [lead.id]
    assert triggers.evaluate_no_open(session, NOW + timedelta(days=1)) == {"no_open_fired": 0}
    # A newer email that also goes unopened is a new run: it fires again.
    email(session, lead, NOW + timedelta(hours=1))
    assert triggers.evaluate_no_open(session, NOW + timedelta(days=2)) == {"no_open_fired": 1}


def test_disabled_rules_and_closed_leads_fire_nothing(session, team) -> None:
    tenant, _, lead, manager = team
    rule(session, manager, enabled=False)
    assert opened(session, lead, NOW) == []
    rule(session, manager)
    closed = make_lead(session, tenant, status=LeadStatus.CONVERTED)
    assert opened(session, closed, NOW) == []


# ------------------------------------------------------------------ actions
def test_alert_agent_notifies_in_app_and_queues_an_internal_text(session, team) -> None:
    _, agent, lead, manager = team
    alert = rule(
        session,
        manager,
        event="email_click",
        action="alert_agent",
        params={"channels": ["in_app", "sms"]},
    )
    [firing] = opened(session, lead, NOW, ActivityKind.EMAIL_CLICK)
    [note] = session.execute(select(Notification).where(Notification.user_id == agent.id)).scalars()
    assert note.kind == "trigger" and note.lead_id == lead.id and alert.name in note.title
    [text] = session.execute(
        select(Message).where(Message.category == MessageCategory.INTERNAL)
    ).scalars()
    assert (text.channel, text.recipient_user_id, text.to_address) == (
        Channel.SMS,
        agent.id,
        agent.phone,
    )
    assert (
        text.status == MessageStatus.QUEUED and text.idempotency_key == f"trigger:{firing.id}:sms"
    )
    assert firing.data["outcome"] == {"agent_id": agent.id, "channels": ["in_app", "sms"]}


def test_alert_without_an_agent_goes_to_the_managers(session, team) -> None:
    tenant, _, _, manager = team
    boss = make_user(session, tenant, role=Role.MANAGER)
    unassigned = make_lead(session, tenant)
    rule(session, manager, event="email_click", action="alert_agent", params={"channels": ["sms"]})
    opened(session, unassigned, NOW, ActivityKind.EMAIL_CLICK)
    [note] = session.execute(select(Notification)).scalars()
    assert note.user_id == boss.id and note.kind == "trigger"
    assert (
        session.execute(
            select(func.count())
            .select_from(Message)
            .where(Message.category == MessageCategory.INTERNAL)
        ).scalar_one()
        == 0
    )


def test_an_alert_that_cannot_be_texted_is_shown_in_app(session, team) -> None:
    tenant, _, _, manager = team
    no_phone = make_user(session, tenant, phone=None)
    lead = make_lead(session, tenant, assigned_user_id=no_phone.id)
    rule(session, manager, event="email_click", action="alert_agent", params={"channels": ["sms"]})
    [firing] = opened(session, lead, NOW, ActivityKind.EMAIL_CLICK)
    assert firing.data["outcome"] == {"agent_id": no_phone.id, "channels": ["in_app"]}
    [note] = session.execute(select(Notification)).scalars()
    assert note.user_id == no_phone.id


def test_move_campaign_enrolls_and_stops_the_other_nurture(session, team, make_campaign) -> None:
    _, _, lead, manager = team
    first = enroll(session, manager, make_campaign, lead, name="General")
    hot = make_campaign(session, manager, name="Hot buyers")
    rule(
        session,
        manager,
        event="email_click",
        action="move_campaign",
        params={"campaign_id": hot.id},
    )
    [firing] = opened(session, lead, NOW, ActivityKind.EMAIL_CLICK)
    [active] = active_enrollments(session, lead)
    assert active.campaign_id == hot.id and firing.data["outcome"]["campaign_id"] == hot.id
    old = session.execute(select(Enrollment).where(Enrollment.campaign_id == first.id)).scalar_one()
    assert (
        old.status == EnrollmentStatus.STOPPED
        and old.stopped_reason == f"moved to campaign {hot.id}"
    )
    enrolled = session.execute(
        select(Activity)
        .where(Activity.lead_id == lead.id, Activity.kind == ActivityKind.ENROLLED)
        .order_by(Activity.id.desc())
        .limit(1)
    ).scalar_one()
    assert enrolled.data["reason"].startswith("trigger: ")


def test_a_reply_trigger_moves_the_lead_after_the_reply_stopped_its_nurture(
    session, team, make_campaign
) -> None:
    _, _, lead, manager = team
    enroll(session, manager, make_campaign, lead, name="General")
    tours = make_campaign(session, manager, name="Tour booking")
    rule(
        session,
        manager,
        event="reply_keywords",
        action="move_campaign",
        params={"campaign_id": tours.id},
    )
    timeline.record_reply(
        session, lead, reply(session, lead, "Could we do a tour Friday?"), now=NOW
    )
    [active] = active_enrollments(session, lead)
    assert active.campaign_id == tours.id and lead.status == LeadStatus.ENGAGED


def test_move_campaign_to_a_campaign_that_ended_is_skipped(session, team, make_campaign) -> None:
    _, _, lead, manager = team
    target = make_campaign(session, manager, name="Short lived")
    rule(
        session,
        manager,
        event="email_click",
        action="move_campaign",
        params={"campaign_id": target.id},
    )
    service.pause(session, viewer=manager, campaign_id=target.id, now=NOW)
    [firing] = opened(session, lead, NOW, ActivityKind.EMAIL_CLICK)
    assert firing.data["outcome"] == {"skipped": "the campaign is not running"}
    assert active_enrollments(session, lead) == []


def test_pause_nurture_stops_the_enrollments(session, team, make_campaign) -> None:
    _, _, lead, manager = team
    enroll(session, manager, make_campaign, lead)
    rule(session, manager, name="Opened: a person takes over", action="pause_nurture")
    [firing] = opened(session, lead, NOW)
    assert active_enrollments(session, lead) == [] and firing.data["outcome"] == {"stopped": 1}


def test_mark_hot_boosts_just_enough_and_stays_explained(session, team) -> None:
    _, _, lead, manager = team
    assert lead.temperature != Temperature.HOT
    hot = rule(session, manager, event="reply_keywords", action="mark_hot")
    message = reply(session, lead, "Is the showing still on?")
    triggers.evaluate(session, lead, ActivityKind.REPLY, now=NOW, message=message)
    assert lead.temperature == Temperature.HOT and lead.score == 70
    assert lead.score_boost_reason == hot.name
    assert {
        "factor": "behavior",
        "label": hot.name,
        "points": lead.score_boost,
    } in lead.score_factors
    assert_explained(lead)


def test_raised_boosts_add_up_to_a_cap(session, team) -> None:
    _, _, lead, manager = team
    big = rule(session, manager, action="raise_score", params={"points": 45})
    more = rule(session, manager, action="raise_score", params={"points": 20})
    opened(session, lead, NOW)
    assert lead.score_boost == 50
    assert lead.score_boost_reason == f"{big.name}; {more.name}"
    assert_explained(lead)


# ------------------------------------------------------------------ rule management
def test_managers_create_update_and_delete_rules_with_an_audit_trail(session, team) -> None:
    _, agent, _, manager = team
    created = rule(session, manager, name="Hot reply", event="reply_keywords", keywords=[" cash "])
    assert created.keywords == ["cash"] and created.threshold == 1 and created.enabled
    changed = trigger_rules.update_rule(
        session,
        viewer=manager,
        rule_id=created.id,
        changes={"action": "alert_agent", "params": {"channels": ["email", "in_app"]}},
        now=NOW,
    )
    assert changed.params == {"channels": ["in_app", "email"]} and changed.keywords == ["cash"]
    assert [r.id for r in trigger_rules.list_rules(session, viewer=manager)] == [created.id]
    trigger_rules.delete_rule(session, viewer=manager, rule_id=created.id, now=NOW)
    assert trigger_rules.list_rules(session, viewer=manager) == []
    actions = session.execute(
        select(AuditLog.action).where(AuditLog.entity_type == "trigger_rule").order_by(AuditLog.id)
    ).scalars()
    assert list(actions) == [
        "trigger_rule.created",
        "trigger_rule.updated",
        "trigger_rule.deleted",
    ]
    with pytest.raises(Forbidden):
        trigger_rules.list_rules(session, viewer=viewer_for(agent))
    other = rule(session, manager_of(make_tenant(session)))
    with pytest.raises(NotFound):
        trigger_rules.update_rule(session, viewer=manager, rule_id=other.id, changes={}, now=NOW)


def test_changing_the_action_drops_the_old_parameters(session, team) -> None:
    _, _, lead, manager = team
    changed = trigger_rules.update_rule(
        session,
        viewer=manager,
        rule_id=rule(session, manager).id,
        changes={"action": "pause_nurture"},
        now=NOW,
    )
    assert changed.action == "pause_nurture" and changed.params == {}
    opened(session, lead, NOW)
    trigger_rules.delete_rule(session, viewer=manager, rule_id=changed.id, now=NOW)
    session.expire_all()
    assert session.execute(select(func.count()).select_from(TriggerFiring)).scalar_one() == 0


@pytest.mark.parametrize(
    ("fields", "bad"),
    [
        ({"event": "email_bounce"}, "event"),
        ({"action": "send_flowers"}, "action"),
        ({"threshold": 0}, "threshold"),
        ({"threshold": 51}, "threshold"),
        ({"window_hours": 721}, "window_hours"),
        ({"window_hours": True}, "window_hours"),
        ({"name": "  "}, "name"),
        ({"keywords": ["x" * 41]}, "keywords"),
        ({"keywords": [f"w{i}" for i in range(21)]}, "keywords"),
        ({"keywords": "tour"}, "keywords"),
        ({"params": {"points": 0}}, "params.points"),
        ({"params": {"points": 51}}, "params.points"),
        ({"params": {"points": 5, "extra": 1}}, "params.extra"),
        ({"action": "alert_agent", "params": {"channels": ["pager"]}}, "params.channels"),
        ({"action": "move_campaign", "params": {}}, "params.campaign_id"),
        ({"action": "pause_nurture", "params": {"points": 5}}, "params.points"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_invalid_rules_name_the_bad_field(session, team, fields, bad) -> None:
    _, _, _, manager = team
    with pytest.raises(ValidationFailed) as caught:
        rule(session, manager, **fields)
    assert bad in caught.value.fields


def test_move_campaign_needs_a_running_campaign_of_the_tenant(session, team, make_campaign) -> None:
    _, _, _, manager = team
    draft = make_campaign(session, manager, name="Draft", launch=False)
    theirs = make_campaign(session, manager_of(make_tenant(session)), name="Theirs")
    for campaign_id, problem in ((draft.id, "draft"), (theirs.id, "no such"), (10**9, "no such")):
        with pytest.raises(ValidationFailed) as caught:
            rule(session, manager, action="move_campaign", params={"campaign_id": campaign_id})
        assert problem in caught.value.fields["params.campaign_id"]
    running = make_campaign(session, manager, name="Running")
    moved = rule(session, manager, action="move_campaign", params={"campaign_id": running.id})
    assert moved.params == {"campaign_id": running.id}


def test_rule_names_are_unique_per_tenant(session, team) -> None:
    _, _, _, manager = team
    rule(session, manager, name="Opened twice")
    with pytest.raises(ValidationFailed) as caught:
        rule(session, manager, name="opened TWICE")
    assert "name" in caught.value.fields
    rule(session, manager_of(make_tenant(session)), name="Opened twice")


def test_default_rules_install_once(session, team) -> None:
    tenant, _, _, manager = team
    assert trigger_rules.install_default_rules(session, tenant.id, now=NOW) == len(
        trigger_rules.DEFAULT_RULES
    )
    assert trigger_rules.install_default_rules(session, tenant.id, now=NOW) == 0
    rules = trigger_rules.list_rules(session, viewer=manager)
    assert {r.event for r in rules} == set(triggers.EVENTS) - {"form_resubmitted"}
    assert {r.action for r in rules} >= {"raise_score", "mark_hot", "alert_agent", "pause_nurture"}
    summaries = {r.name: trigger_rules.describe(r) for r in rules}
    assert summaries["Opened 2+ emails in 24 h"] == (
        "Opens 2+ email(s) within 24 h -> raise the score by 10"
    )
    assert summaries["Hot reply: tell the agent"] == (
        "Reply mentions tour, showing, pre-approved, offer -> alert the agent (in app, sms)"
    )
    assert summaries["No open on 3 emails"] == "No open on the last 3 email(s) -> pause the nurture"


def test_only_managers_install_the_starter_rules(session, team) -> None:
    _, agent, _, manager = team
    with pytest.raises(Forbidden):
        trigger_rules.install_defaults(session, viewer=viewer_for(agent), now=NOW)
    assert trigger_rules.install_defaults(session, viewer=manager, now=NOW) == len(
        trigger_rules.DEFAULT_RULES
    )


# ------------------------------------------------------------------ the doors, end to end


def _tenant(session, office):
    return session.get(Tenant, office.tenant_id)


@pytest.fixture
def client(office):
    with TestClient(create_api()) as client:
        yield client


def test_a_sendgrid_open_fires_an_email_open_rule(office, client) -> None:
    with session_scope() as session:
        rule(session, manager_of(_tenant(session, office)))
    message_id = office.queue(Channel.EMAIL, body="Hello Ana")
    assert office.dispatcher.drain().sent == 1
    event = {
        "email": "ana@example.com",
        "event": "open",
        "sg_event_id": "evt-open-1",
        "timestamp": int(time.time()),
        "message_id": str(message_id),
    }
    response = client.post("/api/v1/webhooks/sendgrid/events", json=[event])
    assert response.status_code == 200
    with session_scope() as session:
        assert session.get(Lead, office.lead_id).score_boost == 10
        [firing] = session.execute(select(TriggerFiring)).scalars()
        assert firing.lead_id == office.lead_id and firing.data["count"] == 1


def test_a_twilio_reply_mentioning_a_showing_fires_reply_keywords(office, client) -> None:
    with session_scope() as session:
        rule(
            session,
            manager_of(_tenant(session, office)),
            event="reply_keywords",
            action="mark_hot",
        )
    params = {
        "MessageSid": "SM" + "f" * 32,
        "From": LEAD_PHONE,
        "To": SENDER,
        "Body": "Can we set up a showing this weekend?",
        "AccountSid": "AC" + "0" * 32,
    }
    path = "/api/v1/webhooks/twilio/sms"
    signature = RequestValidator("test-auth-token").compute_signature(
        f"https://leads.example.com{path}", params
    )
    response = client.post(
        path,
        content=urlencode(params),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature,
        },
    )
    assert response.status_code == 200
    with session_scope() as session:
        lead = session.get(Lead, office.lead_id)
        assert lead.temperature == Temperature.HOT and lead.status == LeadStatus.ENGAGED
        [firing] = session.execute(select(TriggerFiring)).scalars()
        assert firing.data["keyword"] == "showing"


def test_concurrent_workers_fire_a_rule_once(app_database) -> None:
    if app_database.backend != "postgresql":
        pytest.skip("row-level concurrency is PostgreSQL's; SQLite serialises writers")
    with session_scope() as session:
        tenant = make_tenant(session)
        lead = make_lead(session, tenant)
        rule(session, manager_of(tenant))
        for minutes in range(4):
            at = NOW - timedelta(minutes=minutes)
            timeline.add_activity(session, lead, ActivityKind.EMAIL_OPEN, now=at)
        lead_id = lead.id
    barrier, results = threading.Barrier(4), []

    def worker() -> None:
        with session_scope() as session:
            row = session.get(Lead, lead_id)
            barrier.wait(30)
            results.append(len(triggers.evaluate(session, row, ActivityKind.EMAIL_OPEN, now=NOW)))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(results) == [0, 0, 0, 1]
    with session_scope() as session:
        assert session.get(Lead, lead_id).score_boost == 10
        assert session.execute(select(func.count()).select_from(TriggerFiring)).scalar_one() == 1


# ------------------------------------------------------------------ REST
@pytest.fixture
def api(app_database):
    with session_scope() as s:
        tenant = make_tenant(s)
        agent = make_user(s, tenant)
        _, manager_key = issue_key(s, tenant=tenant, role=Role.MANAGER)
        _, agent_key = issue_key(s, tenant=tenant, role=Role.AGENT, user=agent)
    with TestClient(create_api()) as client:
        yield client, {"manager": manager_key, "agent": agent_key}


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_trigger_rules_over_rest(api) -> None:
    client, keys = api
    manager = auth(keys["manager"])
    body = {
        "name": "Opened 2+ emails in 24 h",
        "event": "email_open",
        "threshold": 2,
        "action": "raise_score",
        "params": {"points": 10},
    }
    created = client.post("/api/v1/recovery/triggers", json=body, headers=manager)
    assert created.status_code == 201, created.text
    rule_id = created.json()["id"]
    assert created.json() | {"id": 0} == created.json() | {
        "id": 0,
        "enabled": True,
        "window_hours": 24,
        "keywords": [],
    }
    listed = client.get("/api/v1/recovery/triggers", headers=manager).json()
    assert [r["id"] for r in listed["items"]] == [rule_id] and listed["next_cursor"] is None
    patched = client.patch(
        f"/api/v1/recovery/triggers/{rule_id}", json={"enabled": False}, headers=manager
    )
    assert patched.status_code == 200 and patched.json()["enabled"] is False
    bad = client.patch(
        f"/api/v1/recovery/triggers/{rule_id}", json={"threshold": 99}, headers=manager
    )
    assert bad.status_code == 422 and "threshold" in bad.json()["error"]["fields"]
    forbidden = client.get("/api/v1/recovery/triggers", headers=auth(keys["agent"]))
    assert forbidden.status_code == 403
    assert client.get("/api/v1/recovery/triggers").status_code == 401
    assert client.delete(f"/api/v1/recovery/triggers/{rule_id}", headers=manager).status_code == 204
    gone = client.delete(f"/api/v1/recovery/triggers/{rule_id}", headers=manager)
    assert gone.status_code == 404
    with session_scope() as session:
        assert session.execute(select(func.count()).select_from(TriggerRule)).scalar_one() == 0
