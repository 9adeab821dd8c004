"""POST /api/v1/webhooks/leads exactly as DESIGN.md section 4."""

import hashlib
import hmac
import json
from datetime import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from recovery_app.api.app import create_api
from recovery_app.db import session_scope
from recovery_app.domain.compliance.suppression import suppress
from recovery_app.models import (
    Activity,
    AuditLog,
    Channel,
    Lead,
    Message,
    MessageCategory,
    Notification,
    Role,
    Tenant,
    WebhookEvent,
)
from recovery_app.settings import reload_settings
from tests.factories import make_tenant, make_user

SECRET = "lead-hook-secret"


@pytest.fixture
def office(app_database, monkeypatch):
    monkeypatch.setenv("LEAD_WEBHOOK_SECRET", SECRET)
    reload_settings()
    with session_scope() as s:
        tenant = make_tenant(
            s,
            name="Harbor Office - Austin",
            location_id="austin",
            timezone="America/Chicago",
            sender_name="Harbor Office",
            quiet_hours_start=time(21),
            quiet_hours_end=time(8),
        )
        agent = make_user(
            s, tenant, role=Role.AGENT, full_name="Marcus Reyes", specialties=["buyers"]
        )
        ids = {"tenant": tenant.id, "agent": agent.id}
    yield ids
    monkeypatch.undo()
    reload_settings()


@pytest.fixture
def client(office):
    with TestClient(create_api()) as client:
        yield client


def post(client, body, *, secret=SECRET, headers=None, raw: bytes | None = None):
    data = raw if raw is not None else json.dumps(body).encode()
    sent = {"Content-Type": "application/json"}
    if secret:
        sent["X-Signature-256"] = (
            "sha256=" + hmac.new(secret.encode(), data, hashlib.sha256).hexdigest()
        )
    sent.update(headers or {})
    return client.post("/api/v1/webhooks/leads", content=data, headers=sent)


MARIA = {
    "location_id": "austin",
    "first_name": "maria",
    "last_name": "lopez",
    "email": "Maria.Lopez@Example.com",
    "phone": "(512) 555-0199",
    "source": "web_form",
    "message": "Pre-approved, want a showing this weekend",
    "timezone": "America/Chicago",
    "consent": {"sms": True, "email": True},
    "external_id": "form-1",
    "value": 650000,
    "property_interest": "4410 Cedar Ln",
    "utm_campaign": "spring",
}


def count(model, *where) -> int:
    with session_scope() as s:
        return s.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


def the_lead() -> Lead:
    with session_scope() as s:
        lead = s.execute(select(Lead)).scalar_one()
        s.expunge(lead)
        return lead


def test_a_new_lead_is_created_scored_routed_and_answered(office, client) -> None:
    response = post(client, MARIA)
    assert response.status_code == 201
    body = response.json()
    assert body["created"] is True and set(body) == {"lead_id", "created", "score", "temperature"}
    lead = the_lead()
    assert (lead.id, lead.score, lead.temperature) == (
        body["lead_id"],
        body["score"],
        body["temperature"],
    )
    assert (lead.first_name, lead.last_name) == ("Maria", "Lopez")
    assert lead.email == "maria.lopez@example.com" and lead.phone == "+15125550199"
    assert lead.est_value_cents == 65_000_000 and lead.external_id == "form-1"
    assert lead.attributes == {"property_interest": "4410 Cedar Ln", "utm_campaign": "spring"}
    assert lead.consent_sms and lead.consent_evidence["source"] == "webhook"
    assert {f["factor"] for f in lead.score_factors} >= {
        "source",
        "contact",
        "intent",
        "timeline",
        "consent",
    }
    assert lead.assigned_user_id == office["agent"]
    assert (
        count(
            Notification, Notification.user_id == office["agent"], Notification.kind == "assigned"
        )
        == 1
    )
    assert count(AuditLog, AuditLog.action == "lead.consent_recorded") == 1
    with session_scope() as s:
        messages = s.execute(select(Message).order_by(Message.channel)).scalars().all()
        assert [(m.channel, m.category) for m in messages] == [
            (Channel.EMAIL, MessageCategory.AUTOMATED),
            (Channel.SMS, MessageCategory.AUTOMATED),
        ]
        sms = messages[1]
        assert sms.body.startswith("Hi Maria, this is Marcus with Harbor Office.")
        assert "4410 Cedar Ln" in sms.body and "{{" not in sms.body


def test_the_same_person_is_merged_never_doubled(office, client) -> None:
    post(client, MARIA)
    again = post(
        client,
        {
            **MARIA,
            "external_id": "form-2",
            "email": None,
            "last_name": "",
            "message": "Also interested in condos",
            "second_key": "kept",
        },
    )
    assert again.status_code == 200 and again.json()["created"] is False
    assert count(Lead) == 1
    lead = the_lead()
    assert lead.submissions == 2 and lead.message == "Also interested in condos"
    assert lead.last_name == "Lopez" and lead.email == "maria.lopez@example.com"  # nothing erased
    assert lead.attributes["second_key"] == "kept" and lead.attributes["utm_campaign"] == "spring"
    assert count(Message) == 2  # the first response went out once
    by_email = post(
        client,
        {"location_id": "austin", "email": "MARIA.LOPEZ@example.com", "external_id": "form-3"},
    )
    assert by_email.json() == {**by_email.json(), "created": False, "lead_id": lead.id}


def test_a_replay_answers_the_same_and_changes_nothing(office, client) -> None:
    first = post(client, MARIA, headers={"Idempotency-Key": "abc-123"})
    activities = count(Activity)
    # The same key and the same body (its keys in another order): a replay.
    reordered = dict(reversed(list(MARIA.items())))
    replay = post(client, reordered, headers={"Idempotency-Key": "abc-123"})
    assert (replay.status_code, replay.json()) == (first.status_code, first.json())
    assert count(Activity) == activities and count(WebhookEvent) == 1
    # The same key with another body is not a replay: 409, and nothing is stored.
    changed = post(client, {**MARIA, "message": "changed"}, headers={"Idempotency-Key": "abc-123"})
    assert changed.status_code == 409
    assert changed.json()["error"]["code"] == "idempotency_key_reused"
    assert count(Activity) == activities and count(WebhookEvent) == 1
    assert the_lead().message != "changed"
    # Without the header, external_id is the event id: a new event (a merge), then its replay.
    by_external_id = post(client, MARIA)
    assert by_external_id.json()["created"] is False
    assert post(client, MARIA).json() == by_external_id.json()
    assert count(WebhookEvent) == 2


def test_a_reused_id_never_swallows_another_person(office, client) -> None:
    """Alice, then Bob with Alice's external_id: Bob used to get 201 with Alice's lead id
    and was never stored."""
    alice = {"location_id": "austin", "first_name": "Alice", "email": "alice@example.com",
             "external_id": "42"}  # fmt: skip
    bob = {"location_id": "austin", "first_name": "Bob", "email": "bob@example.com",
           "external_id": "42"}  # fmt: skip
    assert post(client, alice).status_code == 201
    answer = post(client, bob)
    assert answer.status_code == 409 and "already used" in answer.json()["error"]["message"]
    with session_scope() as s:
        assert [lead.first_name for lead in s.execute(select(Lead)).scalars()] == ["Alice"]
    # Bob with an id of his own is taken.
    assert post(client, {**bob, "external_id": "43"}).status_code == 201


def test_a_refused_post_can_be_corrected_under_the_same_key(office, client) -> None:
    """A 422 is not kept as the key's answer: corrected, the post is taken."""
    bad = {"location_id": "austin", "first_name": "Dee", "phone": "911", "external_id": "form-77"}
    assert post(client, bad).status_code == 422
    assert post(client, bad).status_code == 422  # still refused, as it should be
    fixed = post(client, {**bad, "phone": "+15125550144"})
    assert fixed.status_code == 201 and fixed.json()["created"] is True
    assert count(WebhookEvent) == 1


def test_a_key_belongs_to_the_credential_that_sent_it(office, client) -> None:
    """Two API keys of one office (two form tools) may both use id "1"; the shared secret too."""
    from recovery_app.domain.accounts.api_keys import issue_key

    with session_scope() as s:
        tenant = s.get(Tenant, office["tenant"])
        keys = [issue_key(s, tenant=tenant, role=Role.MANAGER, name=f"form {n}")[1] for n in (1, 2)]
    people = [
        {"first_name": name, "email": f"{name}@example.com", "external_id": "1"}
        for name in ("ann", "ben", "cal")
    ]
    answers = [
        post(client, people[0], secret=None, headers={"Authorization": f"Bearer {keys[0]}"}),
        post(client, people[1], secret=None, headers={"Authorization": f"Bearer {keys[1]}"}),
        post(client, {**people[2], "location_id": "austin"}),
    ]
    assert [a.status_code for a in answers] == [201, 201, 201]
    assert len({a.json()["lead_id"] for a in answers}) == 3


def test_opt_outs_and_consent_history_survive_a_merge(office, client) -> None:
    post(client, {**MARIA, "consent": {"sms": False, "email": False}})
    with session_scope() as s:
        lead = s.execute(select(Lead)).scalar_one()
        lead.opted_out_sms = True
    post(client, {**MARIA, "external_id": "form-9"})
    lead = the_lead()
    assert lead.opted_out_sms and lead.consent_sms
    assert len(lead.consent_evidence["history"]) == 1
    assert count(AuditLog, AuditLog.action == "lead.consent_changed") == 1


def test_a_suppressed_person_stays_unreachable(office, client) -> None:
    with session_scope() as s:
        suppress(
            s,
            tenant_id=office["tenant"],
            channel=Channel.SMS,
            address="+15125550199",
            reason="erased",
        )
    post(client, MARIA)
    lead = the_lead()
    assert lead.opted_out_sms and not lead.opted_out_email


def test_tenant_comes_from_location_id_when_several_exist(office, client) -> None:
    with session_scope() as s:
        make_tenant(s, location_id="denver")
    assert post(client, {**MARIA, "location_id": None}).status_code == 422
    unknown = post(client, {**MARIA, "location_id": "paris"})
    assert unknown.status_code == 422 and "location_id" in unknown.json()["error"]["fields"]
    assert post(client, MARIA).status_code == 201


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"first_name": "No Contact"}, 422, "phone"),
        ({"phone": "12"}, 422, "phone"),
        ({"email": "not-an-email"}, 422, "email"),
        ({"email": "a@example.com", "first_name": "x" * 101}, 422, "first_name"),
        ({"email": "a@example.com", "timezone": "Mars/Base"}, 422, "timezone"),
        ({"email": "a@example.com", "nested": {"a": {"b": 1}}}, 422, "nested"),
        ({"email": "a@example.com", "value": -5}, 422, "value"),
        ({"email": "a@example.com", "consent": "yes"}, 422, "consent"),
        ([{"email": "a@example.com"}], 422, "body"),
    ],
)
def test_field_errors_are_precise_and_store_only_a_rejected_event(
    office, client, body, status, field
) -> None:
    response = post(client, body)
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == "validation_error" and field in error["fields"]
    assert count(Lead) == 0
    with session_scope() as s:
        events = s.execute(select(WebhookEvent)).scalars().all()
        assert all(e.error and e.error.startswith("rejected") for e in events)


def test_transport_errors(office, client) -> None:
    assert post(client, None, raw=b"{not json").status_code == 400
    assert post(client, None, raw=b"[" * 50_000 + b"]" * 50_000).status_code in (400, 422)
    wrong_type = post(
        client,
        None,
        raw=b"email=a@example.com",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert wrong_type.status_code == 415
    unicode = post(
        client, {"email": "zoë@example.com", "first_name": "Zoë\u200b", "message": "\x00héllo 🏡"}
    )
    assert unicode.status_code == 201 and the_lead().first_name == "Zoë"
    huge = client.post(
        "/api/v1/webhooks/leads",
        content=b"x" * 10,
        headers={"Content-Length": str(10 * 1024 * 1024)},
    )
    assert huge.status_code == 413
    assert count(Lead) == 1


def test_authentication(office, client, monkeypatch) -> None:
    assert post(client, MARIA, secret="").status_code == 401
    assert post(client, MARIA, secret="wrong").status_code == 401
    bad_key = post(
        client, MARIA, secret="", headers={"Authorization": "Bearer rk_00000000_" + "a" * 40}
    )
    assert bad_key.status_code == 401
    monkeypatch.delenv("LEAD_WEBHOOK_SECRET")
    reload_settings()
    assert post(client, MARIA).status_code == 401
    assert count(Lead) == 0 and count(WebhookEvent) == 0


def test_rate_limit_answers_429_with_retry_after(office, client, monkeypatch) -> None:
    monkeypatch.setenv("INTAKE_RATE_PER_MINUTE", "2")
    reload_settings()
    statuses = [post(client, {"email": f"p{n}@example.com"}).status_code for n in range(3)]
    assert statuses[:2] == [201, 201] and statuses[2] == 429
    limited = post(client, {"email": "p9@example.com"})
    assert 1 <= int(limited.headers["Retry-After"]) <= 60


def test_storage_outage_answers_503(office, client, monkeypatch) -> None:
    from recovery_app import db

    monkeypatch.setenv(
        "DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1"
    )
    reload_settings()
    db.reset_engine()
    try:
        response = post(client, MARIA)
        assert (
            response.status_code == 503
            and response.json()["error"]["code"] == "storage_unavailable"
        )
    finally:
        monkeypatch.undo()
        monkeypatch.setenv("LEAD_WEBHOOK_SECRET", SECRET)


def test_tenant_row_unchanged_by_intake(office, client) -> None:
    post(client, MARIA)
    with session_scope() as s:
        assert s.get(Tenant, office["tenant"]).location_id == "austin"
