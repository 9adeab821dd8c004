import base64
import json

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from recovery_app.api.app import create_api
from recovery_app.db import session_scope
from recovery_app.models import Lead, LeadStatus, Message, Role, WebhookEvent
from recovery_app.settings import GHL_PUBLISHED_KEY, Settings, reload_settings
from tests.factories import make_tenant, make_user


def spki(key) -> str:
    return base64.b64encode(
        key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    ).decode()


@pytest.fixture
def keys(app_database, monkeypatch):
    ed, rs = (
        ed25519.Ed25519PrivateKey.generate(),
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
    )
    monkeypatch.setenv("GHL_WEBHOOK_PUBLIC_KEY", spki(ed))
    monkeypatch.setenv(
        "GHL_WEBHOOK_RSA_PUBLIC_KEY",
        "-----BEGIN PUBLIC KEY-----\n" + spki(rs) + "\n-----END PUBLIC KEY-----",
    )
    reload_settings()
    with session_scope() as s:
        tenant = make_tenant(s, location_id="ghl-loc-1", name="GHL Office")
        make_user(s, tenant, role=Role.AGENT)
    yield ed, rs
    monkeypatch.undo()
    reload_settings()


@pytest.fixture
def client(keys):
    with TestClient(create_api()) as client:
        yield client


def send(client, payload, *, ed=None, rs=None, raw=None):
    body = raw if raw is not None else json.dumps(payload).encode()
    headers = {"Content-Type": "application/json"}
    if ed is not None:
        headers["X-GHL-Signature"] = base64.b64encode(ed.sign(body)).decode()
    if rs is not None:
        headers["X-WH-Signature"] = base64.b64encode(
            rs.sign(body, padding.PKCS1v15(), hashes.SHA256())
        ).decode()
    return client.post("/api/v1/webhooks/ghl", content=body, headers=headers)


CONTACT = {
    "type": "ContactCreate",
    "locationId": "ghl-loc-1",
    "id": "c-100",
    "firstName": "Lena",
    "lastName": "Park",
    "email": "lena@example.com",
    "phone": "+13035550142",
    "tags": ["fb-ad"],
    "webhookId": "wh-1",
    "customFields": [{"id": "budget_range", "value": "500-600k"}],
}


def leads() -> list[Lead]:
    with session_scope() as s:
        rows = s.execute(select(Lead)).scalars().all()
        s.expunge_all()
        return list(rows)


def test_the_published_key_is_the_default() -> None:
    assert Settings().ghl_webhook_public_key == GHL_PUBLISHED_KEY


def test_a_contact_becomes_a_lead_once(keys, client) -> None:
    ed, _ = keys
    assert send(client, CONTACT, ed=ed).json() == {"received": True}
    assert send(client, CONTACT, ed=ed).status_code == 200  # GoHighLevel retried
    [lead] = leads()
    assert (lead.first_name, lead.crm_contact_id, lead.source, lead.phone) == (
        "Lena",
        "c-100",
        "ghl",
        "+13035550142",
    )
    assert (
        lead.attributes["ghl_tags"] == "fb-ad" and lead.attributes["ghl_budget_range"] == "500-600k"
    )
    assert lead.assigned_user_id is not None
    with session_scope() as s:
        assert s.execute(select(func.count()).select_from(WebhookEvent)).scalar_one() == 1
        # The first-response SMS and email.
        assert s.execute(select(func.count()).select_from(Message)).scalar_one() == 2


def test_updates_merge_and_inbound_messages_are_replies(keys, client) -> None:
    ed, rs = keys
    send(client, CONTACT, ed=ed)
    send(
        client,
        {
            **CONTACT,
            "type": "ContactUpdate",
            "webhookId": "wh-2",
            "email": None,
            "lastName": "Park-Lee",
        },
        rs=rs,
    )  # the legacy RSA header works too
    [lead] = leads()
    assert (
        lead.submissions == 2 and lead.last_name == "Park"
    )  # names a person set are not overwritten
    message = {
        "type": "InboundMessage",
        "locationId": "ghl-loc-1",
        "contactId": "c-100",
        "messageType": "SMS",
        "body": "Can we see it Saturday?",
        "messageId": "m-1",
        "webhookId": "wh-3",
    }
    send(client, message, ed=ed)
    [lead] = leads()
    assert lead.status == LeadStatus.ENGAGED and lead.inbound_count == 1


def test_signatures(keys, client) -> None:
    assert send(client, CONTACT).status_code == 401
    other = ed25519.Ed25519PrivateKey.generate()
    assert send(client, CONTACT, ed=other).status_code == 403
    assert leads() == []


def test_bad_bodies(keys, client) -> None:
    ed, _ = keys
    assert send(client, None, ed=ed, raw=b"nope").status_code == 400
    assert send(client, None, ed=ed, raw=b"[1, 2]").status_code == 422


def test_unknown_location_is_stored_and_answered(keys, client) -> None:
    ed, _ = keys
    assert (
        send(client, {**CONTACT, "locationId": "elsewhere", "webhookId": "wh-9"}, ed=ed).status_code
        == 200
    )
    with session_scope() as s:
        event = s.execute(select(WebhookEvent)).scalar_one()
        assert event.error.startswith("unmatched") and event.handled_at is not None
    assert leads() == []


def test_storage_outage_answers_429_so_ghl_retries(keys, client, monkeypatch) -> None:
    from recovery_app import db

    ed, _ = keys
    monkeypatch.setenv(
        "DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1"
    )
    reload_settings()
    db.reset_engine()
    response = send(client, CONTACT, ed=ed)
    assert response.status_code == 429 and response.headers["Retry-After"] == "30"


def test_message_ids_are_scoped_to_the_office(keys, client) -> None:
    """GoHighLevel's message ids are per location: the same id in another office is another
    message (it was dropped as a duplicate of the first office's)."""
    ed, _ = keys
    with session_scope() as s:
        other = make_tenant(s, location_id="ghl-loc-2", name="Other GHL Office")
        make_user(s, other, role=Role.AGENT)
    for location, contact in (("ghl-loc-1", "c-1"), ("ghl-loc-2", "c-2")):
        send(client, {**CONTACT, "locationId": location, "id": contact,
                      "webhookId": f"wh-{location}"}, ed=ed)  # fmt: skip
        send(
            client,
            {"type": "InboundMessage", "locationId": location, "contactId": contact,
             "messageId": "m-1", "body": "Still interested", "messageType": "SMS",
             "webhookId": f"wh-msg-{location}"},
            ed=ed,
        )  # fmt: skip
    with session_scope() as s:
        inbound = s.execute(select(Message).where(Message.direction == "inbound")).scalars().all()
        assert len(inbound) == 2 and len({m.tenant_id for m in inbound}) == 2


@pytest.mark.parametrize(
    ("kind", "body", "field"),
    [("SMS", "Please stop texting me", "opted_out_sms"), ("Email", "STOP", "opted_out_email")],
)
def test_an_opt_out_through_the_crm_inbox_is_honoured_at_once(keys, client, kind, body, field):
    """Revocation by any reasonable means (the FCC's 2025 rule): a STOP or an opt-out in words
    that reaches us through GoHighLevel counts like one to our number."""
    ed, _ = keys
    send(client, CONTACT, ed=ed)
    send(
        client,
        {"type": "InboundMessage", "locationId": "ghl-loc-1", "contactId": "c-100",
         "messageId": "m-stop", "body": body, "messageType": kind, "webhookId": "wh-stop"},
        ed=ed,
    )  # fmt: skip
    [lead] = leads()
    assert getattr(lead, field) is True
