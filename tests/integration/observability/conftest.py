"""An office behind the real edge (request ids, headers, limits) and API, with the providers
faked as local servers: a lead posted to the intake webhook goes out through the dispatcher."""

import hashlib
import hmac
import io
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from recovery_app.api.app import create_api
from recovery_app.api.hardening import edge
from recovery_app.db import session_scope
from recovery_app.messaging.dispatcher import Dispatcher
from recovery_app.messaging.pacing import Pacer
from recovery_app.models import Message
from recovery_app.observability.logs import configure_logging
from recovery_app.settings import get_settings, reload_settings
from tests.factories import make_tenant
from tests.integration.conftest import SENDER, Providers

SECRET = "obs-lead-hook-secret"
MARIA = {
    "first_name": "Maria",
    "last_name": "Lopez",
    "email": "maria.lopez@example.com",
    "phone": "(512) 555-0199",
    "source": "web_form",
    "message": "Pre-approved, want a showing of 4410 Cedar Ln this weekend",
    "timezone": "America/Chicago",
    "consent": {"sms": True, "email": True},
}


@dataclass
class Office:
    tenant_id: int
    client: TestClient
    providers: Providers

    def post_lead(self, body: dict, *, secret: str = SECRET, headers: dict | None = None):
        raw = json.dumps(body).encode()
        sent = {"Content-Type": "application/json"}
        if secret:
            digest = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
            sent["X-Signature-256"] = f"sha256={digest}"
        return self.client.post(
            "/api/v1/webhooks/leads", content=raw, headers=sent | (headers or {})
        )

    def dispatcher(self, at: datetime) -> Dispatcher:
        return Dispatcher("obs-test", clock=lambda: at, pacer=Pacer())


def chicago_noon_tomorrow() -> datetime:
    """A moment inside every sending window and after anything queued now."""
    return (datetime.now(UTC) + timedelta(days=1)).replace(hour=18, minute=0, second=0)


def chicago_night_tomorrow() -> datetime:
    return (datetime.now(UTC) + timedelta(days=1)).replace(hour=3, minute=40, second=0)


def messages_of(lead_id: int) -> list[Message]:
    with session_scope() as session:
        rows = list(session.execute(select(Message).where(Message.lead_id == lead_id)).scalars())
        session.expunge_all()
        return rows


@pytest.fixture
def office(app_database, providers, monkeypatch) -> Iterator[Office]:
    monkeypatch.setenv("LEAD_WEBHOOK_SECRET", SECRET)
    reload_settings()
    with session_scope() as session:
        tenant = make_tenant(
            session,
            name="Harbor Office",
            location_id="austin",
            timezone="America/Chicago",
            sender_phone=SENDER,
            sender_email="austin@office.example",
            postal_address="1 Main St, Austin, TX 78701",
            quiet_hours_start=time(21),
            quiet_hours_end=time(8),
        )
        tenant_id = tenant.id
    with TestClient(edge(create_api())) as client:
        yield Office(tenant_id, client, providers)


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """What our JSON log handler writes (production's format), for the length of the test."""
    stream = io.StringIO()
    root = logging.getLogger()
    level = root.level
    configure_logging(get_settings().model_copy(update={"log_format": "json"}), stream=stream)
    yield stream
    for handler in [h for h in root.handlers if getattr(h, "_recovery", False)]:
        root.removeHandler(handler)
    root.setLevel(level)


def parse_lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def scrape(client: TestClient) -> dict[tuple[str, frozenset], float]:
    """GET /api/v1/metrics, parsed by prometheus-client's own parser."""
    response = client.get("/api/v1/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)
