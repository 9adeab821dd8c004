"""Provider webhooks: signatures, the inbox (store, answer, then process; replays change
nothing), and what each event does to messages and leads."""

import base64
import json
import time
from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from recovery_app.api.app import create_api
from recovery_app.db import session_scope
from recovery_app.models import (
    AuditLog,
    Campaign,
    Channel,
    Enrollment,
    Lead,
    LeadStatus,
    Message,
    MessageStatus,
    WebhookEvent,
)
from recovery_app.settings import reload_settings
from tests.integration.conftest import LEAD_PHONE, SENDER

BASE = "https://leads.example.com"


@pytest.fixture
def client(office):
    with TestClient(create_api()) as client:
        yield client


def twilio_post(
    client, path: str, params: dict, *, token="test-auth-token", signature: str | None = None
):
    body = urlencode(params)
    sig = (
        signature
        if signature is not None
        else RequestValidator(token).compute_signature(f"{BASE}{path}", params)
    )
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if sig:
        headers["X-Twilio-Signature"] = sig
    return client.post(path, content=body, headers=headers)


def inbound(client, body: str, sid: str = "SM" + "a" * 32, sender: str = LEAD_PHONE):
    return twilio_post(
        client,
        "/api/v1/webhooks/twilio/sms",
        {
            "MessageSid": sid,
            "From": sender,
            "To": SENDER,
            "Body": body,
            "AccountSid": "AC" + "0" * 32,
        },
    )


def lead(office) -> Lead:
    with session_scope() as session:
        row = session.get(Lead, office.lead_id)
        session.expunge(row)
        return row


def count(model, *where) -> int:
    with session_scope() as session:
        return session.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


# ------------------------------------------------------------------ inbound SMS
def test_a_reply_engages_the_lead_stops_campaigns_and_is_recorded_once(office, client) -> None:
    with session_scope() as session:
        campaign = Campaign(tenant_id=office.tenant_id, name="Nurture")
        session.add(campaign)
        session.flush()
        session.add(
            Enrollment(
                tenant_id=office.tenant_id,
                lead_id=office.lead_id,
                campaign_id=campaign.id,
                next_run_at=datetime.now(UTC),
            )
        )
    response = inbound(client, "Yes, Saturday works!")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/xml")
    assert response.text.endswith("<Response/>")
    replay = inbound(client, "Yes, Saturday works!")
    assert replay.status_code == 200 and replay.text == response.text
    assert count(Message, Message.direction == "inbound") == 1
    assert count(WebhookEvent) == 1
    got = lead(office)
    assert got.status == LeadStatus.ENGAGED and got.last_inbound_at is not None
    with session_scope() as session:
        assert session.execute(select(Enrollment.stopped_reason)).scalar_one() == "replied"


def test_a_silent_lead_that_answers_a_recovery_text_is_recovered(office, client) -> None:
    with session_scope() as session:
        row = session.get(Lead, office.lead_id)
        row.status, row.status_changed_at = LeadStatus.SILENT, datetime(2026, 10, 1, tzinfo=UTC)
    recovery = office.queue(body="Still looking?")
    assert office.dispatcher.drain().sent == 1
    inbound(client, "Sorry, been busy. Yes!")
    assert lead(office).status == LeadStatus.RECOVERED
    with session_scope() as session:
        answered = session.get(Message, recovery)
        assert answered.status == MessageStatus.REPLIED and answered.replied_at is not None


@pytest.mark.parametrize("word", ["STOP", "stop", "Unsubscribe", "QUIT.", "optout"])
def test_stop_keywords_opt_out_with_an_audit_entry_and_no_reply_of_ours(
    office, client, word
) -> None:
    inbound(client, word)
    got = lead(office)
    assert got.opted_out_sms and got.opted_out_sms_reason.startswith("Replied")
    assert count(AuditLog, AuditLog.action == "lead.opted_out") == 1
    assert count(Message, Message.direction == "outbound") == 0  # Twilio answers STOP itself


def test_start_opts_back_in(office, client) -> None:
    inbound(client, "STOP", sid="SM" + "1" * 32)
    inbound(client, "START", sid="SM" + "2" * 32)
    assert not lead(office).opted_out_sms
    assert count(AuditLog, AuditLog.action == "lead.opted_in") == 1


def test_help_is_recorded_without_changing_anything(office, client) -> None:
    inbound(client, "HELP")
    got = lead(office)
    assert not got.opted_out_sms and got.status == "contacted"
    assert count(Message, Message.direction == "outbound") == 0


@pytest.mark.parametrize(
    "text",
    [
        "Please stop texting me",
        "remove me from your list",
        "No más por favor",
        "don't text me again",
    ],
)
def test_free_text_opt_outs_get_exactly_one_confirmation(office, client, providers, text) -> None:
    inbound(client, text)
    inbound(client, text)  # Twilio retried the webhook
    got = lead(office)
    assert got.opted_out_sms
    confirmations = count(
        Message, Message.direction == "outbound", Message.category == "compliance"
    )
    assert confirmations == 1
    # The webhook queued it at the real time; the confirmation ignores quiet hours, so any hour works.
    office.clock.now = datetime.now(UTC)
    assert office.dispatcher.drain().sent == 1  # the confirmation passes the opt-out it confirms
    [confirmation] = providers.twilio.bodies_to(LEAD_PHONE)
    assert confirmation.startswith("Harbor Office: you're unsubscribed")


def test_an_unknown_sender_becomes_a_new_lead(office, client) -> None:
    inbound(client, "Is the house on Elm still for sale?", sender="+13125550199")
    with session_scope() as session:
        new = session.execute(select(Lead).where(Lead.phone == "+13125550199")).scalar_one()
        assert new.source == "sms" and new.status == LeadStatus.ENGAGED and not new.consent_sms


def test_signatures_are_required_and_checked(office, client) -> None:
    params = {"MessageSid": "SM" + "b" * 32, "From": LEAD_PHONE, "To": SENDER, "Body": "hi"}
    assert (
        twilio_post(client, "/api/v1/webhooks/twilio/sms", params, signature="").status_code == 401
    )
    forged = twilio_post(client, "/api/v1/webhooks/twilio/sms", params, token="wrong-token")
    assert forged.status_code == 403 and forged.json()["error"]["code"] == "forbidden"
    assert count(WebhookEvent) == 0


def test_malformed_and_oversized_bodies(office, client) -> None:
    missing = twilio_post(client, "/api/v1/webhooks/twilio/sms", {"Body": "hi"})
    assert missing.status_code == 422 and "MessageSid" in missing.json()["error"]["fields"]
    huge = twilio_post(
        client,
        "/api/v1/webhooks/twilio/sms",
        {"MessageSid": "SM" + "c" * 32, "From": LEAD_PHONE, "To": SENDER, "Body": "x" * 300_000},
    )
    assert huge.status_code == 413
    assert count(WebhookEvent) == 0


# ------------------------------------------------------------------ Twilio status callbacks
def status(client, sid: str, value: str, code: str | None = None):
    params = {"MessageSid": sid, "MessageStatus": value} | ({"ErrorCode": code} if code else {})
    return twilio_post(client, "/api/v1/webhooks/twilio/status", params)


def sent_sms(office) -> Message:
    message_id = office.queue()
    office.dispatcher.drain()
    with session_scope() as session:
        row = session.get(Message, message_id)
        session.expunge(row)
        return row


def test_statuses_move_forward_only(office, client) -> None:
    message = sent_sms(office)
    assert status(client, message.provider_id, "delivered").status_code == 204
    assert status(client, message.provider_id, "sent").status_code == 204  # late, out of order
    with session_scope() as session:
        row = session.get(Message, message.id)
        assert row.status == MessageStatus.DELIVERED and row.delivered_at is not None


def test_undelivered_with_21610_opts_out(office, client) -> None:
    message = sent_sms(office)
    status(client, message.provider_id, "undelivered", "21610")
    with session_scope() as session:
        row = session.get(Message, message.id)
        assert row.status == MessageStatus.UNDELIVERED and row.error_code == "21610"
    assert lead(office).opted_out_sms


def test_an_undelivered_text_and_a_bounce_are_notified(office, client, signing_key) -> None:
    from recovery_app.models import Notification, Role, Tenant
    from tests.factories import make_user

    with session_scope() as session:
        make_user(session, session.get(Tenant, office.tenant_id), role=Role.MANAGER)
    status(client, sent_sms(office).provider_id, "undelivered", "30003")
    sendgrid_post(client, [event(sent_email(office), "bounce", 1)], signing_key)
    with session_scope() as session:
        titles = session.execute(
            select(Notification.title).where(Notification.kind == "failure")
        ).scalars()
        assert sorted(t.split(" to ")[0] for t in titles) == ["Email", "Text"]


def test_unknown_message_sid_is_stored_unmatched_and_answered(office, client) -> None:
    assert status(client, "SM" + "f" * 32, "delivered").status_code == 204
    with session_scope() as session:
        event = session.execute(select(WebhookEvent)).scalar_one()
        assert (
            event.error.startswith("unmatched") and event.handled_at is None and event.attempts == 1
        )


# ------------------------------------------------------------------ SendGrid events
@pytest.fixture
def signing_key(monkeypatch):
    private = ec.generate_private_key(ec.SECP256R1())
    public = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    monkeypatch.setenv("SENDGRID_WEBHOOK_PUBLIC_KEY", base64.b64encode(public).decode())
    reload_settings()
    return private


def sendgrid_post(client, events, private=None, *, tamper=False):
    body = json.dumps(events)
    headers = {"Content-Type": "application/json"}
    if private is not None:
        timestamp = str(int(time.time()))
        signature = private.sign((timestamp + body).encode(), ec.ECDSA(hashes.SHA256()))
        headers["X-Twilio-Email-Event-Webhook-Signature"] = base64.b64encode(signature).decode()
        headers["X-Twilio-Email-Event-Webhook-Timestamp"] = timestamp
    if tamper:
        body = body.replace("delivered", "dropped")
    return client.post("/api/v1/webhooks/sendgrid/events", content=body, headers=headers)


def sent_email(office) -> int:
    message_id = office.queue(Channel.EMAIL, body="Hello Ana")
    office.dispatcher.drain()
    return message_id


def event(message_id: int, kind: str, n: int, **extra) -> dict:
    return {
        "email": "ana@example.com",
        "event": kind,
        "sg_event_id": f"evt-{kind}-{n}",
        "timestamp": int(time.time()),
        "message_id": str(message_id),
        "sg_message_id": "abc.filter",
        **extra,
    }


def test_email_events_update_the_message_and_lead(office, client, signing_key) -> None:
    message_id = sent_email(office)
    events = [
        event(message_id, "delivered", 1),
        event(message_id, "open", 2),
        event(message_id, "click", 3, url="https://x.example"),
    ]
    response = sendgrid_post(client, events, signing_key)
    assert response.status_code == 200 and response.json() == {"received": 3, "new": 3}
    again = sendgrid_post(client, events, signing_key)
    assert again.json() == {"received": 3, "new": 0}
    with session_scope() as session:
        row = session.get(Message, message_id)
        assert (
            row.status == MessageStatus.CLICKED
            and row.opened_at
            and row.clicked_at
            and row.delivered_at
        )
    kinds = {"email_open", "email_click"}
    from recovery_app.models import Activity

    assert count(Activity, Activity.kind.in_(kinds)) == 2


@pytest.mark.parametrize(
    "kind", ["bounce", "dropped", "spamreport", "unsubscribe", "group_unsubscribe"]
)
def test_email_opt_out_events(office, client, signing_key, kind) -> None:
    message_id = sent_email(office)
    sendgrid_post(client, [event(message_id, kind, 1)], signing_key)
    got = lead(office)
    assert got.opted_out_email and kind in got.opted_out_email_reason
    assert count(AuditLog, AuditLog.action == "lead.opted_out") == 1


def test_sendgrid_signatures_and_bad_bodies(office, client, signing_key) -> None:
    message_id = sent_email(office)
    events = [event(message_id, "delivered", 9)]
    assert sendgrid_post(client, events).status_code == 401
    assert sendgrid_post(client, events, signing_key, tamper=True).status_code == 403
    assert count(WebhookEvent) == 0
    bad_json = client.post(
        "/api/v1/webhooks/sendgrid/events",
        content="{not json",
        headers={"Content-Type": "application/json"},
    )
    assert bad_json.status_code in (400, 401)


def test_sendgrid_without_a_key_accepts_and_validates_shape(office, client) -> None:
    bad_json = client.post("/api/v1/webhooks/sendgrid/events", content="{not json")
    assert bad_json.status_code == 400 and bad_json.json()["error"]["code"] == "bad_request"
    not_list = client.post("/api/v1/webhooks/sendgrid/events", content='{"event": "open"}')
    assert not_list.status_code == 422
    unknown = client.post(
        "/api/v1/webhooks/sendgrid/events",
        content=json.dumps([{"event": "open", "sg_event_id": "x1", "message_id": "999999"}]),
    )
    assert unknown.status_code == 200
    with session_scope() as session:
        stored = session.execute(select(WebhookEvent)).scalar_one()
        assert stored.error.startswith("unmatched") and stored.handled_at is not None


def test_the_inbox_job_retries_events_that_could_not_be_matched_yet(office, client) -> None:
    from datetime import timedelta

    from recovery_app.jobs.registry import JOBS

    sid = "SM" + "e" * 32
    message_id = office.queue()
    status(client, sid, "delivered")  # the callback beat us to knowing the SID (a reconcile)
    with session_scope() as session:
        row = session.get(Message, message_id)
        row.status, row.provider, row.provider_id = MessageStatus.SENT, "twilio", sid
    with session_scope() as session:
        assert JOBS["process_webhook_inbox"].run(
            session, datetime.now(UTC) + timedelta(minutes=1)
        ) == {"events_retried": 1}
    with session_scope() as session:
        assert session.get(Message, message_id).status == MessageStatus.DELIVERED
        event = session.execute(select(WebhookEvent)).scalar_one()
        assert event.handled_at is not None and event.error is None


# ------------------------------------------------------------------ hostile and odd input
def test_odd_twilio_input_is_stored_not_lost(office, client) -> None:
    """A NUL in the text (PostgreSQL refuses it) and a MessageSid longer than Twilio's: both
    were acknowledged and then failed in the inbox. The text is kept, NUL dropped."""
    long_sid = "SM" + "b" * 80
    inbound(client, "Call me\x00 after 5", sid=long_sid)
    inbound(client, "Call me\x00 after 5", sid=long_sid)  # Twilio's retry: nothing more
    with session_scope() as session:
        [message] = session.execute(select(Message).where(Message.direction == "inbound")).scalars()
        assert message.body == "Call me after 5" and len(message.provider_id) <= 64
        assert session.execute(select(WebhookEvent.error)).scalar_one() is None


def test_sendgrid_refuses_old_signatures(office, client, signing_key) -> None:
    """A signature is good for minutes: one from 2001, replayed, is refused (it was taken)."""
    body = json.dumps([event(sent_email(office), "delivered", 1)])
    for stamp in ("1000000000", str(int(time.time()) + 3600), "²", "9" * 5000):
        signature = signing_key.sign((stamp + body).encode(), ec.ECDSA(hashes.SHA256()))
        answer = client.post(
            "/api/v1/webhooks/sendgrid/events",
            content=body,
            headers={
                "Content-Type": "application/json",
                "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
                "X-Twilio-Email-Event-Webhook-Timestamp": stamp.encode(),
            },
        )
        assert answer.status_code == 401, stamp
    assert count(WebhookEvent) == 0


def test_odd_sendgrid_events_do_not_fail_the_batch(office, client) -> None:
    """A tenant_id custom argument of "²", "999" or 30 digits used to fail the whole batch
    (the events after it were never stored). Every event is stored; the good one acts."""
    message_id = sent_email(office)
    events = [
        event(message_id, "open", n, tenant_id=odd)
        for n, odd in enumerate(("²", "999", "1" * 30, "-1"))
    ] + [
        {**event(message_id, "click", 9), "message_id": "9" * 30},
        event(message_id, "delivered", 10),
    ]
    answer = sendgrid_post(client, events)
    assert answer.status_code == 200 and answer.json() == {"received": 6, "new": 6}
    assert count(WebhookEvent) == 6
    with session_scope() as session:
        assert session.get(Message, message_id).status == MessageStatus.OPENED


def test_deeply_nested_sendgrid_bodies_are_a_clean_400(office, client) -> None:
    deep = "[" * 2000 + "]" * 2000
    answer = client.post(
        "/api/v1/webhooks/sendgrid/events",
        content=deep,
        headers={"Content-Type": "application/json"},
    )
    assert answer.status_code == 400
