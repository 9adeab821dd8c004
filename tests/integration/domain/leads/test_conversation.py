"""A person working a lead (SQLite and PostgreSQL): messages go through the outbox with the
guard's verdict at once, notes and calls land on the timeline, each is a human touch, and an
agent cannot reach leads that are not theirs."""

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from recovery_app.domain.leads import conversation
from recovery_app.errors import NotFound, ValidationFailed
from recovery_app.models import (
    Activity,
    ActivityKind,
    Channel,
    Message,
    MessageCategory,
    MessageStatus,
)
from tests.factories import NOW, make_lead, make_tenant, make_user, viewer_for

NIGHT = datetime(2026, 11, 2, 3, 40, tzinfo=UTC)  # 21:40 CST in Chicago


@pytest.fixture
def desk(session):
    tenant = make_tenant(session, timezone="America/Chicago")
    ana, ben = make_user(session, tenant), make_user(session, tenant)
    lead = make_lead(
        session,
        tenant,
        assigned_user_id=ana.id,
        phone="+13125550142",
        timezone="America/Chicago",
        consent_sms=True,
        consent_email=True,
    )
    return viewer_for(ana), viewer_for(ben), lead


def test_a_message_goes_through_the_outbox_with_the_verdict(session, desk) -> None:
    ana, _, lead = desk
    sent = conversation.send_message(
        session, viewer=ana, lead_id=lead.id, channel=Channel.SMS, body="Hi! Free at 4?", now=NOW
    )
    assert sent.action == "send" and sent.detail == ""
    message = session.get(Message, sent.message_id)
    assert (message.status, message.category, message.sent_by_user_id) == (
        MessageStatus.QUEUED,
        MessageCategory.CONVERSATIONAL,
        ana.user_id,
    )
    assert lead.first_human_touch_at == NOW


def test_a_held_or_refused_send_says_why(session, desk) -> None:
    ana, _, lead = desk
    held = conversation.send_message(
        session, viewer=ana, lead_id=lead.id, channel=Channel.SMS, body="Hi!", now=NIGHT
    )
    assert held.action == "hold"
    assert held.detail.startswith("21:40 in America/Chicago - quiet hours (allowed 08:00-21:00)")
    lead.opted_out_email = True
    refused = conversation.send_message(
        session,
        viewer=ana,
        lead_id=lead.id,
        channel=Channel.EMAIL,
        subject="Hello",
        body="Hi!",
        now=NOW,
    )
    assert refused.action == "block" and refused.detail == "The lead opted out of email."
    with pytest.raises(ValidationFailed):
        conversation.send_message(
            session, viewer=ana, lead_id=lead.id, channel=Channel.EMAIL, body="No subject", now=NOW
        )


def test_notes_and_calls_land_on_the_timeline(session, desk) -> None:
    ana, _, lead = desk
    before = conversation.fingerprint(session, viewer=ana, lead_id=lead.id)
    conversation.add_note(session, viewer=ana, lead_id=lead.id, text=" Wants a yard. ", now=NOW)
    conversation.log_call(
        session,
        viewer=ana,
        lead_id=lead.id,
        outcome="left_voicemail",
        minutes=2,
        note="Call back Tuesday",
        now=NOW,
    )
    session.flush()
    rows = session.execute(
        select(Activity.kind, Activity.data, Activity.actor_user_id)
        .where(Activity.lead_id == lead.id)
        .order_by(Activity.id)
    ).all()
    assert rows == [
        (ActivityKind.NOTE, {"text": "Wants a yard."}, ana.user_id),
        (
            ActivityKind.CALL_LOGGED,
            {"outcome": "left_voicemail", "minutes": 2, "note": "Call back Tuesday"},
            ana.user_id,
        ),
    ]
    assert conversation.fingerprint(session, viewer=ana, lead_id=lead.id) != before
    with pytest.raises(ValidationFailed) as bad:
        conversation.log_call(
            session, viewer=ana, lead_id=lead.id, outcome="shouted", minutes=-1, note="", now=NOW
        )
    assert set(bad.value.fields) == {"outcome", "minutes"}
    with pytest.raises(ValidationFailed):
        conversation.add_note(session, viewer=ana, lead_id=lead.id, text="  ", now=NOW)


def test_another_agents_lead_is_not_found(session, desk) -> None:
    _, ben, lead = desk
    with pytest.raises(NotFound):
        conversation.send_message(
            session, viewer=ben, lead_id=lead.id, channel=Channel.SMS, body="Hi", now=NOW
        )
    with pytest.raises(NotFound):
        conversation.add_note(session, viewer=ben, lead_id=lead.id, text="x", now=NOW)
    with pytest.raises(NotFound):
        conversation.fingerprint(session, viewer=ben, lead_id=lead.id)


def test_score_history_starts_where_the_lead_started(session, desk) -> None:
    from datetime import timedelta

    from recovery_app.domain.leads.service import score_history

    ana, ben, lead = desk
    assert score_history(session, viewer=ana, lead_id=lead.id) == [(lead.created_at, lead.score)]
    for hours, (before, after) in enumerate([(50, 62), (62, 71)], start=1):
        session.add(
            Activity(
                tenant_id=lead.tenant_id,
                lead_id=lead.id,
                kind=ActivityKind.SCORE_CHANGED,
                occurred_at=NOW + timedelta(hours=hours),
                data={"from": before, "to": after},
            )
        )
    session.flush()
    assert score_history(session, viewer=ana, lead_id=lead.id) == [
        (lead.created_at, 50),
        (NOW + timedelta(hours=1), 62),
        (NOW + timedelta(hours=2), 71),
    ]
    with pytest.raises(NotFound):
        score_history(session, viewer=ben, lead_id=lead.id)
