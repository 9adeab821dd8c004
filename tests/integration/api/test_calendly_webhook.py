"""The Calendly webhook: Calendly's signature scheme, the inbox (store, answer, then process;
replays change nothing), and what a booking and a cancellation do to the lead, its nurture,
its score and its agent. Signatures are built here exactly as Calendly builds them."""

import hashlib
import hmac
import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from recovery_app.api.app import create_api
from recovery_app.db import session_scope
from recovery_app.domain.accounts import integrations
from recovery_app.domain.accounts.service import set_resume_nurture_on_cancel
from recovery_app.domain.campaigns import service
from recovery_app.domain.campaigns.schemas import CampaignIn, SendWindow, StepIn
from recovery_app.domain.campaigns.sweep import run_sweep
from recovery_app.models import (
    Activity,
    ActivityKind,
    CampaignGoal,
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
    Tenant,
    User,
    WebhookEvent,
    WebhookFailure,
)
from recovery_app.settings import reload_settings
from tests.factories import make_lead, make_tenant, make_user, manager_of
from tests.integration.conftest import LEAD_PHONE

KEY = "calendly-test-signing-key"
URL = "/api/v1/webhooks/calendly"
INVITEE = "https://api.calendly.com/scheduled_events/EV1/invitees/INV1"
ALWAYS = SendWindow(days=[0, 1, 2, 3, 4, 5, 6], start="00:00", end="23:59")


@pytest.fixture
def calendly(office, monkeypatch):
    monkeypatch.setenv("CALENDLY_WEBHOOK_SIGNING_KEY", KEY)
    reload_settings()
    with session_scope() as s:
        tenant = s.get(Tenant, office.tenant_id)
        agent = make_user(
            s, tenant, full_name="Dana Cole", timezone="America/Chicago", role=Role.AGENT
        )
        ana = s.get(Lead, office.lead_id)
        ana.last_name, ana.assigned_user_id = "Ruiz", agent.id
        office.agent_id = agent.id
    yield office
    monkeypatch.delenv("CALENDLY_WEBHOOK_SIGNING_KEY", raising=False)
    reload_settings()


@pytest.fixture
def client(calendly):
    with TestClient(create_api()) as client:
        yield client


def sign(body: bytes, *, key: str = KEY, at: int | None = None) -> str:
    """Calendly-Webhook-Signature as Calendly computes it."""
    stamp = int(time.time()) if at is None else at
    digest = hmac.new(key.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={digest}"


def event(
    kind: str = "invitee.created",
    *,
    uri: str = INVITEE,
    email: str | None = "Ana@Example.com",
    phone: str | None = None,
    start: datetime | None = None,
    **payload,
) -> dict:
    start = start or datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
    return {
        "event": kind,
        "created_at": datetime.now(UTC).isoformat(),
        "payload": {
            "email": email,
            "name": "Ana Ruiz",
            "uri": uri,
            "scheduled_event": {
                "uri": "https://api.calendly.com/scheduled_events/EV1",
                "name": "Home tour call",
                "start_time": start.isoformat().replace("+00:00", ".000000Z"),
                "end_time": (start + timedelta(minutes=30)).isoformat(),
            },
            "questions_and_answers": [
                {"question": "What are you looking for?", "answer": "3 beds near Mueller"}
            ],
            "text_reminder_number": phone,
            "cancel_url": "https://calendly.com/cancellations/INV1",
            "reschedule_url": "https://calendly.com/reschedulings/INV1",
            **payload,
        },
    }


def post(client, data=None, *, raw: bytes | None = None, signature: str | None = "sign", query=""):
    body = raw if raw is not None else json.dumps(data).encode()
    headers = {"Content-Type": "application/json"}
    if signature == "sign":
        headers["Calendly-Webhook-Signature"] = sign(body)
    elif signature is not None:
        headers["Calendly-Webhook-Signature"] = signature
    return client.post(URL + query, content=body, headers=headers)


def canceled(uri: str = INVITEE, **payload) -> dict:
    return event(
        "invitee.canceled",
        uri=uri,
        cancellation={"canceled_by": "Ana Ruiz", "reason": "Something came up"},
        **payload,
    )


def count(model, *where) -> int:
    with session_scope() as s:
        return s.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


def lead(office) -> Lead:
    with session_scope() as s:
        row = s.get(Lead, office.lead_id)
        s.expunge(row)
        return row


def activities(office, kind: ActivityKind) -> list[dict]:
    with session_scope() as s:
        return list(
            s.execute(
                select(Activity.data)
                .where(Activity.lead_id == office.lead_id, Activity.kind == kind)
                .order_by(Activity.id)
            ).scalars()
        )


def nurture(office, *, goal: CampaignGoal = CampaignGoal.APPOINTMENT) -> int:
    """Ana in a running two-step campaign: step 1 queued (not sent yet), step 2 planned for
    tomorrow. Returns the enrollment's id."""
    now = datetime.now(UTC)
    with session_scope() as s:
        tenant = s.get(Tenant, office.tenant_id)
        data = CampaignIn(
            name="Win back",
            goal=goal,
            audience={"status": ["silent"]},
            send_window=ALWAYS,
            steps=[
                StepIn(channel=Channel.SMS, body="Hi {{first_name}}! Reply STOP to opt out."),
                StepIn(
                    channel=Channel.SMS,
                    delay_minutes=24 * 60,
                    body="Book a time: {{booking_link}} Reply STOP to opt out.",
                ),
            ],
        )
        campaign = service.create_campaign(s, viewer=manager_of(tenant), data=data, now=now)
        service.launch(s, viewer=manager_of(tenant), campaign_id=campaign.id, now=now)
        row = s.get(Lead, office.lead_id)
        enrollment = service.enroll_lead(s, lead=row, campaign=campaign, now=now, reason="test")
        enrollment.current_step, enrollment.next_run_at = 1, now + timedelta(days=1)
        s.add(
            Message(
                tenant_id=office.tenant_id,
                lead_id=office.lead_id,
                channel=Channel.SMS,
                direction=Direction.OUTBOUND,
                category=MessageCategory.MARKETING,
                status=MessageStatus.QUEUED,
                to_address=LEAD_PHONE,
                body="Hi Ana! Reply STOP to opt out.",
                campaign_id=campaign.id,
                enrollment_id=enrollment.id,
                idempotency_key=f"step:{enrollment.id}:0",
                next_attempt_at=now + timedelta(hours=1),
            )
        )
        return enrollment.id


def enrollment(enrollment_id: int) -> Enrollment:
    with session_scope() as s:
        row = s.get(Enrollment, enrollment_id)
        s.expunge(row)
        return row


def step_message(enrollment_id: int) -> Message:
    with session_scope() as s:
        row = s.execute(
            select(Message).where(Message.idempotency_key == f"step:{enrollment_id}:0")
        ).scalar_one()
        s.expunge(row)
        return row


def notifications(office) -> list[str]:
    with session_scope() as s:
        return list(
            s.execute(
                select(Notification.title)
                .where(Notification.user_id == office.agent_id, Notification.kind == "appointment")
                .order_by(Notification.id)
            ).scalars()
        )


def factors(row: Lead) -> dict[str, int]:
    return {f["factor"]: f["points"] for f in row.score_factors}


# ------------------------------------------------------------------ invitee.created
def test_a_booking_marks_the_lead_stops_nurture_meets_the_goal_and_tells_the_agent(
    calendly, client
) -> None:
    office = calendly
    enrollment_id = nurture(office)
    before = lead(office)
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)

    answer = post(client, event(start=start))
    assert answer.status_code == 200 and answer.json() == {"received": True}

    got = lead(office)
    assert got.appointment_at == start
    assert got.status == LeadStatus.ENGAGED and got.status_reason == "Booked an appointment"
    assert factors(got)["appointment"] == 25 and got.score == sum(factors(got).values())
    changes = activities(office, ActivityKind.SCORE_CHANGED)
    assert changes[-1]["from"] == before.score and changes[-1]["to"] == got.score
    [booked] = activities(office, ActivityKind.APPOINTMENT_SET)
    assert booked["invitee_uri"] == INVITEE and booked["event_name"] == "Home tour call"
    assert datetime.fromisoformat(booked["starts_at"]) == start
    assert booked["answers"] == ["What are you looking for?: 3 beds near Mueller"]
    # The campaign's goal is an appointment: the enrollment completed, its goal met.
    stopped = enrollment(enrollment_id)
    assert stopped.status == EnrollmentStatus.COMPLETED
    assert stopped.stopped_reason == "appointment_set" and stopped.completed_at is not None
    assert step_message(enrollment_id).status == MessageStatus.CANCELED
    assert notifications(office) == ["Ana Ruiz booked Home tour call"]
    with session_scope() as s:
        stored = s.execute(select(WebhookEvent)).scalar_one()
        assert stored.provider == "calendly" and stored.tenant_id == office.tenant_id
        assert stored.handled_at is not None and stored.error is None

    # Calendly retries (the same signed event, or signed again later): the same answer and
    # no second effect.
    replay = post(client, event(start=start))
    assert replay.status_code == 200 and replay.json() == answer.json()
    assert count(WebhookEvent) == 1
    assert len(activities(office, ActivityKind.APPOINTMENT_SET)) == 1
    assert notifications(office) == ["Ana Ruiz booked Home tour call"]
    assert lead(office).score == got.score


def test_other_campaigns_are_stopped_not_counted_as_their_goal(calendly, client) -> None:
    enrollment_id = nurture(calendly, goal=CampaignGoal.REPLY)
    post(client, event())
    stopped = enrollment(enrollment_id)
    assert stopped.status == EnrollmentStatus.STOPPED and stopped.completed_at is None
    assert stopped.stopped_reason == "appointment_set"


def test_a_silent_lead_that_books_after_a_recovery_message_is_recovered(calendly, client) -> None:
    office = calendly
    went_silent = datetime.now(UTC) - timedelta(days=3)
    with session_scope() as s:
        row = s.get(Lead, office.lead_id)
        row.status, row.status_changed_at = LeadStatus.SILENT, went_silent
        row.last_outbound_at = went_silent + timedelta(days=1)
        s.add(
            Message(
                tenant_id=office.tenant_id,
                lead_id=office.lead_id,
                channel=Channel.SMS,
                direction=Direction.OUTBOUND,
                category=MessageCategory.MARKETING,
                status=MessageStatus.DELIVERED,
                to_address=LEAD_PHONE,
                body="Still looking? Book a time: https://calendly.com/dana. Reply STOP to opt out.",
                idempotency_key="recovery:1",
                sent_at=went_silent + timedelta(days=1),
            )
        )
    post(client, event())
    got = lead(office)
    assert got.status == LeadStatus.RECOVERED
    assert got.status_reason == "Booked an appointment after a recovery message"
    # The booking answers the recovery text: no silence penalty while the appointment stands.
    assert "silence" not in factors(got)


def test_the_invitee_is_matched_by_phone_when_the_email_is_unknown(calendly, client) -> None:
    post(client, event(email="someone.else@example.com", phone="(512) 555-0123"))
    assert lead(calendly).appointment_at is not None


def test_someone_who_is_not_a_lead_changes_nothing(calendly, client) -> None:
    office = calendly
    leads_before = count(Lead)
    answer = post(client, event(email="stranger@example.com", phone="+13035550199"))
    assert answer.status_code == 200
    assert count(Lead) == leads_before  # a booking never creates a lead
    assert count(Activity, Activity.lead_id == office.lead_id) == 0
    assert notifications(office) == []
    with session_scope() as s:
        stored = s.execute(select(WebhookEvent)).scalar_one()
        assert stored.handled_at is not None and stored.error.startswith("unmatched: no lead")


# ------------------------------------------------------------------ invitee.canceled
def test_a_cancellation_reverses_the_goal_and_resumes_the_nurture_where_it_stood(
    calendly, client
) -> None:
    office = calendly
    enrollment_id = nurture(office)
    planned = enrollment(enrollment_id).next_run_at
    post(client, event())
    booked_score = lead(office).score

    answer = post(client, canceled())
    assert answer.status_code == 200 and answer.json() == {"received": True}
    got = lead(office)
    assert got.appointment_at is None and "appointment" not in factors(got)
    assert got.score == booked_score - 25
    assert got.status == LeadStatus.ENGAGED  # they did engage; canceling does not undo that
    [cancel] = activities(office, ActivityKind.APPOINTMENT_CANCELED)
    assert cancel["invitee_uri"] == INVITEE and cancel["reason"] == "Something came up"
    assert cancel["nurture"] == "nurture resumed (Win back)"
    resumed = enrollment(enrollment_id)
    assert resumed.status == EnrollmentStatus.ACTIVE and resumed.stopped_reason is None
    assert resumed.completed_at is None and resumed.current_step == 1
    assert resumed.next_run_at == planned  # the step it stood on, when it was planned
    message = step_message(enrollment_id)  # the step the booking canceled goes out after all
    assert message.status == MessageStatus.QUEUED and message.hold_reason is None
    assert notifications(office) == [
        "Ana Ruiz booked Home tour call",
        "Ana Ruiz canceled Home tour call",
    ]

    # Replayed: nothing more.
    assert post(client, canceled()).json() == answer.json()
    assert len(activities(office, ActivityKind.APPOINTMENT_CANCELED)) == 1
    assert count(WebhookEvent) == 2

    # The nurture runs on: the sweep sends its next step, with the agent's link in it.
    with session_scope() as s:
        s.get(User, office.agent_id).booking_url = "https://calendly.com/dana-cole/30min"
    with session_scope() as s:
        run_sweep(s, planned + timedelta(minutes=1))
    with session_scope() as s:
        sent = s.execute(
            select(Message.body).where(Message.idempotency_key == f"step:{enrollment_id}:1")
        ).scalar_one()
    assert sent == "Book a time: https://calendly.com/dana-cole/30min Reply STOP to opt out."


def test_with_resume_off_the_nurture_stays_stopped_and_the_goal_is_taken_back(
    calendly, client
) -> None:
    office = calendly
    enrollment_id = nurture(office)
    with session_scope() as s:
        tenant = s.get(Tenant, office.tenant_id)
        set_resume_nurture_on_cancel(s, viewer=manager_of(tenant), resume=False)
    post(client, event())
    post(client, canceled())
    stopped = enrollment(enrollment_id)
    assert stopped.status == EnrollmentStatus.STOPPED and stopped.completed_at is None
    assert step_message(enrollment_id).status == MessageStatus.CANCELED
    [cancel] = activities(office, ActivityKind.APPOINTMENT_CANCELED)
    assert cancel["nurture"] == "nurture not resumed: off in Settings"


def test_a_reschedule_keeps_the_appointment_and_moves_it(calendly, client) -> None:
    office = calendly
    enrollment_id = nurture(office)
    post(client, event())
    post(client, canceled(rescheduled=True, new_invitee=INVITEE + "-2"))
    got = lead(office)
    assert got.appointment_at is not None and "appointment" in factors(got)
    assert enrollment(enrollment_id).status == EnrollmentStatus.COMPLETED  # still met
    later = datetime.now(UTC).replace(microsecond=0) + timedelta(days=5)
    post(client, event(uri=INVITEE + "-2", start=later))
    assert lead(office).appointment_at == later
    assert notifications(office)[-2:] == [
        "Ana Ruiz is rescheduling Home tour call",
        "Ana Ruiz booked Home tour call",
    ]


def test_a_second_appointment_keeps_the_effects_when_the_first_is_canceled(
    calendly, client
) -> None:
    office = calendly
    first = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    second = first + timedelta(days=3)
    post(client, event(start=first))
    post(client, event(uri=INVITEE + "-b", start=second))
    post(client, canceled())
    got = lead(office)
    assert got.appointment_at == second and "appointment" in factors(got)
    post(client, canceled(uri=INVITEE + "-b"))
    assert lead(office).appointment_at is None


# ------------------------------------------------------------------ signatures and bodies
def test_the_signature_scheme(calendly, client) -> None:
    body = json.dumps(event()).encode()
    now = int(time.time())

    def send(signature: str | None):
        return post(client, raw=body, signature=signature)

    refused = {
        "missing": send(None),
        "wrong key": send(sign(body, key="not-the-key")),
        "stale": send(sign(body, at=now - 200)),
        "future": send(sign(body, at=now + 200)),
        "garbage": send("garbage"),
        "no v1": send(f"t={now}"),
        "no t": send("v1=" + "0" * 64),
        "bad t": send(f"t=yesterday,v1={'0' * 64}"),
        "other body": send(sign(body + b" ")),
    }
    for why, answer in refused.items():
        assert answer.status_code == 401, why
        assert answer.json()["error"]["code"] == "unauthenticated", why
    assert count(WebhookEvent) == 0
    with session_scope() as s:
        failures = s.execute(
            select(WebhookFailure.count).where(WebhookFailure.provider == "calendly")
        ).scalar_one()
    assert failures == len(refused)

    # Within three minutes either way is fine; several v1 values (a key rotation) too.
    assert send(sign(body, at=now - 150)).status_code == 200
    rotated = sign(body).replace("v1=", "v1=" + "f" * 64 + ",v1=")
    assert send(rotated).status_code == 200
    assert count(WebhookEvent) == 1


def test_bad_bodies(calendly, client) -> None:
    assert post(client, raw=b"{not json").status_code == 400
    missing = post(client, {"event": "invitee.created", "payload": {"email": "a@b.co"}})
    assert missing.status_code == 422
    assert set(missing.json()["error"]["fields"]) == {
        "payload.uri",
        "payload.scheduled_event.start_time",
    }
    assert post(client, {"payload": {}}).status_code == 422
    assert post(client, [1, 2]).status_code == 422
    huge = event(questions_and_answers=[{"question": "q", "answer": "x" * 300_000}])
    assert post(client, huge).status_code == 413
    assert count(WebhookEvent) == 0
    # Event types the subscription may carry that we do not act on: answered, not stored.
    other = post(client, {"event": "invitee_no_show.created", "payload": {}})
    assert other.status_code == 200 and other.json()["ignored"] == "invitee_no_show.created"
    assert count(WebhookEvent) == 0


def test_without_a_signing_key_nothing_is_accepted(calendly, client, monkeypatch) -> None:
    monkeypatch.delenv("CALENDLY_WEBHOOK_SIGNING_KEY")
    reload_settings()
    answer = post(client, event())
    assert answer.status_code == 503 and answer.json()["error"]["code"] == "not_configured"
    assert count(WebhookEvent) == 0 and count(WebhookFailure) == 0


# ------------------------------------------------------------------ offices
def test_the_office_comes_from_the_url_when_there_are_several(calendly, client) -> None:
    office = calendly
    with session_scope() as s:
        other = make_tenant(s, name="Denver Office", location_id="denver")
        twin = make_lead(s, other, email="ana@example.com", phone=LEAD_PHONE)
        ours = s.get(Tenant, office.tenant_id).location_id
        twin_id = twin.id
    unnamed = post(client, event())
    assert unnamed.status_code == 422 and "location_id" in unnamed.json()["error"]["fields"]
    unknown = post(client, event(), query="?location_id=nowhere")
    assert unknown.status_code == 422
    assert count(WebhookEvent) == 0

    assert post(client, event(), query="?location_id=denver").status_code == 200
    with session_scope() as s:
        assert s.get(Lead, twin_id).appointment_at is not None
        assert s.get(Lead, office.lead_id).appointment_at is None  # the other office's Ana
    # The same booking posted to our URL is our office's event, not a replay of Denver's.
    assert post(client, event(), query=f"?location_id={ours}").status_code == 200
    assert lead(office).appointment_at is not None
    assert count(WebhookEvent) == 2


def test_settings_show_the_address_to_paste_and_what_came_in(calendly, client) -> None:
    office = calendly
    post(client, event())
    post(client, event(), signature="t=1,v1=00")
    with session_scope() as s:
        tenant = s.get(Tenant, office.tenant_id)
        found = {
            i.key: i
            for i in integrations.integration_status(
                s, viewer=manager_of(tenant), now=datetime.now(UTC)
            )
        }
        location = tenant.location_id
    item = found["calendly"]
    assert item.configured and item.signature_failures == 1
    assert item.last_received_at is not None
    [(_, url)] = item.urls
    assert url == f"https://leads.example.com/api/v1/webhooks/calendly?location_id={location}"


@pytest.mark.parametrize("stamp", ["²", "9" * 5000, "-5", "1.5", ""])
def test_odd_signature_times_are_refused_cleanly(client, stamp) -> None:
    body = json.dumps(event()).encode()
    digest = hmac.new(KEY.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/json",
        # As the bytes arrive: a "²" is not ASCII.
        "Calendly-Webhook-Signature": f"t={stamp},v1={digest}".encode(),
    }
    answer = client.post(URL, content=body, headers=headers)
    assert answer.status_code == 401
    assert count(WebhookEvent) == 0


@pytest.mark.parametrize("year", [1, 9999])
def test_an_appointment_in_year_1_or_9999_is_refused_up_front(client, year) -> None:
    """It was acknowledged, then failed in the inbox (date arithmetic overflowed)."""
    data = event()
    data["payload"]["scheduled_event"]["start_time"] = f"{year:04d}-01-01T10:00:00Z"
    answer = post(client, data)
    assert answer.status_code == 422
    assert "start_time" in json.dumps(answer.json()["error"]["fields"])
    assert count(WebhookEvent) == 0
