"""Fault (e): at-least-once senders. Every webhook we take - lead forms, GoHighLevel, Twilio
replies and status callbacks, Calendly bookings - delivered three times, and SendGrid's event
batches up to forty times, re-cut and shuffled: the database afterwards is the database after
one delivery each, row for row in every table, and no provider hears from us again.

In-process (the API app under Starlette's test client, the real dispatcher and fake providers
over HTTP), on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlmodel import SQLModel
from twilio.request_validator import RequestValidator

from recovery_app.api.app import create_api
from recovery_app.db import session_scope
from recovery_app.models import (
    Activity,
    ActivityKind,
    Channel,
    Lead,
    Message,
    Tenant,
)
from recovery_app.settings import reload_settings
from tests.integration.conftest import (  # noqa: F401 (fixtures used by name)
    LEAD_PHONE,
    SENDER,
    office,
    providers,
)

pytestmark = pytest.mark.timeout(240)

BASE = "https://leads.example.com"  # APP_BASE_URL in the providers fixture: Twilio signs it
LEAD_SECRET = "redelivery-lead-secret"
CALENDLY_KEY = "redelivery-calendly-key"
REPEATS = 3
SENDGRID_REPEATS = 40


@pytest.fixture
def keys(office, monkeypatch):  # noqa: F811
    sendgrid = ec.generate_private_key(ec.SECP256R1())
    ghl = ed25519.Ed25519PrivateKey.generate()

    def spki(key) -> str:
        return base64.b64encode(
            key.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        ).decode()

    monkeypatch.setenv("LEAD_WEBHOOK_SECRET", LEAD_SECRET)
    monkeypatch.setenv("CALENDLY_WEBHOOK_SIGNING_KEY", CALENDLY_KEY)
    monkeypatch.setenv("SENDGRID_WEBHOOK_PUBLIC_KEY", spki(sendgrid))
    monkeypatch.setenv("GHL_WEBHOOK_PUBLIC_KEY", spki(ghl))
    reload_settings()
    with session_scope() as session:
        session.get(Tenant, office.tenant_id).location_id = "austin"
    yield {"sendgrid": sendgrid, "ghl": ghl}
    monkeypatch.undo()
    reload_settings()


class Webhooks:
    """Each of our webhook routes, signed the way its sender signs."""

    def __init__(self, client: TestClient, keys: dict[str, Any]) -> None:
        self.client, self.keys = client, keys

    def lead_form(self, body: dict) -> int:
        data = json.dumps(body).encode()
        signature = "sha256=" + hmac.new(LEAD_SECRET.encode(), data, hashlib.sha256).hexdigest()
        headers = {"Content-Type": "application/json", "X-Signature-256": signature}
        return self.client.post("/api/v1/webhooks/leads", content=data, headers=headers).status_code

    def ghl(self, body: dict) -> int:
        data = json.dumps(body).encode()
        headers = {
            "Content-Type": "application/json",
            "X-GHL-Signature": base64.b64encode(self.keys["ghl"].sign(data)).decode(),
        }
        return self.client.post("/api/v1/webhooks/ghl", content=data, headers=headers).status_code

    def twilio(self, path: str, params: dict[str, str]) -> int:
        signature = RequestValidator("test-auth-token").compute_signature(f"{BASE}{path}", params)
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature,
        }
        return self.client.post(path, content=urlencode(params), headers=headers).status_code

    def sendgrid(self, events: list[dict]) -> int:
        body = json.dumps(events)
        stamp = str(int(time.time()))
        signature = self.keys["sendgrid"].sign((stamp + body).encode(), ec.ECDSA(hashes.SHA256()))
        headers = {
            "Content-Type": "application/json",
            "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
            "X-Twilio-Email-Event-Webhook-Timestamp": stamp,
        }
        return self.client.post(
            "/api/v1/webhooks/sendgrid/events", content=body, headers=headers
        ).status_code

    def calendly(self, body: dict) -> int:
        data = json.dumps(body).encode()
        stamp = int(time.time())
        digest = hmac.new(
            CALENDLY_KEY.encode(), f"{stamp}.".encode() + data, hashlib.sha256
        ).hexdigest()
        headers = {
            "Content-Type": "application/json",
            "Calendly-Webhook-Signature": f"t={stamp},v1={digest}",
        }
        return self.client.post(
            "/api/v1/webhooks/calendly", content=data, headers=headers
        ).status_code


def snapshot() -> dict[str, list[tuple]]:
    """Every row of every table, in key order."""
    tables: dict[str, list[tuple]] = {}
    with session_scope() as session:
        for table in SQLModel.metadata.sorted_tables:
            order = list(table.primary_key.columns) or list(table.columns)
            rows = session.execute(select(table).order_by(*order)).all()
            tables[table.name] = [tuple(row) for row in rows]
    return tables


def differences(before: dict[str, list[tuple]], after: dict[str, list[tuple]]) -> list[str]:
    found = []
    for name, rows in before.items():
        if rows != after[name]:
            added = [row for row in after[name] if row not in rows]
            changed = [row for row in rows if row not in after[name]]
            found.append(f"{name}: {len(added)} rows new or changed, was {changed[:2]}")
    return found


def test_redelivered_webhooks_change_nothing(office, providers, keys) -> None:  # noqa: F811
    rng = random.Random(5)
    soon = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
    with TestClient(create_api()) as client:
        hooks = Webhooks(client, keys)
        # A form lead that is new and one that is Ana again (merged), a GoHighLevel contact.
        form_new = {
            "location_id": "austin",
            "first_name": "Maria",
            "email": "maria.lopez@example.com",
            "phone": "(512) 555-0199",
            "source": "web_form",
            "consent": {"sms": True, "email": True},
            "external_id": "form-1",
        }
        form_again = {
            "location_id": "austin",
            "first_name": "Ana",
            "phone": LEAD_PHONE,
            "source": "open_house",
            "message": "Back from vacation, still looking",
            "external_id": "form-2",
        }
        contact = {
            "type": "ContactCreate",
            "locationId": "austin",
            "id": "c-100",
            "firstName": "Lena",
            "email": "lena@example.com",
            "phone": "+13035550142",
            "webhookId": "wh-1",
        }
        # Ana has had a text and an email from us: their callbacks and events come next.
        sms_id = office.queue(Channel.SMS, body="Hi Ana, a 3-bed just listed")
        email_id = office.queue(Channel.EMAIL, body="Hi Ana, the listing you asked about")
        office.dispatcher.drain()
        with session_scope() as session:
            sms_sid = session.get(Message, sms_id).provider_id
        reply = {
            "MessageSid": "SM" + "a" * 32,
            "From": LEAD_PHONE,
            "To": SENDER,
            "Body": "Yes! Can we see it Saturday?",
            "AccountSid": "AC" + "0" * 32,
        }
        delivered = {"MessageSid": sms_sid, "MessageStatus": "delivered"}
        events = [
            {
                "email": "ana@example.com",
                "event": kind,
                "sg_event_id": f"evt-{kind}",
                "timestamp": int(time.time()) + n,
                "message_id": str(email_id),
                "sg_message_id": "abc.filter",
            }
            for n, kind in enumerate(["processed", "delivered", "open", "click"])
        ]
        booking = {
            "event": "invitee.created",
            "created_at": datetime.now(UTC).isoformat(),
            "payload": {
                "email": "ana@example.com",
                "name": "Ana",
                "uri": "https://api.calendly.com/scheduled_events/EV1/invitees/INV1",
                "scheduled_event": {
                    "uri": "https://api.calendly.com/scheduled_events/EV1",
                    "name": "Home tour call",
                    "start_time": soon.isoformat(),
                    "end_time": (soon + timedelta(minutes=30)).isoformat(),
                },
            },
        }
        deliveries = [
            lambda: hooks.lead_form(form_new),
            lambda: hooks.lead_form(form_again),
            lambda: hooks.ghl(contact),
            lambda: hooks.twilio("/api/v1/webhooks/twilio/status", delivered),
            lambda: hooks.twilio("/api/v1/webhooks/twilio/sms", reply),
            lambda: hooks.sendgrid(events),
            lambda: hooks.calendly(booking),
        ]

        first = [deliver() for deliver in deliveries]
        assert all(200 <= code < 300 for code in first), first
        office.dispatcher.drain()
        once = snapshot()
        heard = len(providers.twilio.messages), len(providers.sendgrid.mails)
        # The first deliveries did something (replays of nothing would prove nothing).
        with session_scope() as session:
            assert {lead.email for lead in session.execute(select(Lead)).scalars()} == {
                "ana@example.com",
                "maria.lopez@example.com",
                "lena@example.com",
            }
            assert session.get(Message, sms_id).delivered_at is not None
            assert session.get(Message, email_id).clicked_at is not None
            kinds = set(session.execute(select(Activity.kind)).scalars())
            assert {ActivityKind.APPOINTMENT_SET, ActivityKind.SMS_IN} <= kinds

        # Each again, twice more, in a shuffled order; SendGrid's events re-cut into batches
        # of any size and order until each has come 40 times.
        again = (deliveries[:5] + deliveries[6:]) * (REPEATS - 1)
        batches = []
        for _ in range(SENDGRID_REPEATS - 1):
            copy = events[:]
            rng.shuffle(copy)
            cut = rng.randint(1, len(copy))
            batches += [copy[:cut], copy[cut:]] if cut < len(copy) else [copy]
        again += [lambda batch=batch: hooks.sendgrid(batch) for batch in batches]
        rng.shuffle(again)
        answers = [deliver() for deliver in again]
        assert all(200 <= code < 300 for code in answers), sorted(set(answers))
        office.dispatcher.drain()

    assert differences(once, snapshot()) == []
    assert (len(providers.twilio.messages), len(providers.sendgrid.mails)) == heard
