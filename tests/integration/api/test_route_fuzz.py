"""Every REST route and webhook, fuzzed (SQLite and PostgreSQL): whatever an authenticated or
validly signed caller sends - odd ids, odd text, odd JSON, odd forms - the answer is never a
5xx, and nothing is acknowledged and then lost: after a 2xx every stored webhook event was
handled or is waiting for what it names (no handler failed on it).

The routes come from the OpenAPI schema plus the few it leaves out (sign-in forms, the
unsubscribe link), so a new route is fuzzed without anyone adding it here. The lead intake
route has a deeper fuzz of its own (test_intake_fuzz.py).
"""

import base64
import hashlib
import hmac
import json
import os
import re
import time
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from recovery_app.api.app import create_api
from recovery_app.api.hardening import edge
from recovery_app.db import session_scope
from recovery_app.domain.accounts.api_keys import issue_key
from recovery_app.models import Role, WebhookEvent
from recovery_app.settings import reload_settings
from tests.factories import make_lead, make_tenant, make_user

BASE = "https://leads.example.com"
TWILIO_TOKEN = "fuzz-twilio-token"
LEAD_SECRET = "fuzz-lead-secret"
CALENDLY_KEY = "fuzz-calendly-key"
GHL_KEY = ed25519.Ed25519PrivateKey.generate()
SCALE = int(os.environ.get("FUZZ_EXAMPLES", "0")) or None
FUZZ = settings(
    max_examples=SCALE or 25,
    deadline=None,
    derandomize=not os.environ.get("FUZZ_RANDOM"),
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# ------------------------------------------------------------------------------ strategies
ODD_TEXT = st.sampled_from(
    ["", " ", "\x00", "a\x00b", "²", "٣", "9" * 25, "-1", "0", "1e3", "true", "null", "%00",
     "../../etc/passwd", "<script>", "'; DROP TABLE leads;--", "Zoë", "👩‍👩‍👧", "\u202e",
     "2026-13-45", "0001-01-01", "9999-12-31", "x" * 3000]
)  # fmt: skip
TEXT = st.one_of(ODD_TEXT, st.text(st.characters(codec="utf-8"), max_size=30))
NUMBERS = st.one_of(st.integers(-(2**70), 2**70), st.floats(allow_nan=False, allow_infinity=False))
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, TEXT)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(TEXT, inner, max_size=5)),
    max_leaves=10,
)
PATH_VALUES = st.one_of(
    st.integers(-(2**70), 2**70).map(str), ODD_TEXT.filter(lambda t: t and "/" not in t)
)


def _shaped(names: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """An object with (some of) the schema's own keys, odd values: past the first checks."""
    return st.dictionaries(st.sampled_from(names), JSON, max_size=len(names)) if names else JSON


# ------------------------------------------------------------------------------ the world
@pytest.fixture
def world(app_database, monkeypatch):
    public = GHL_KEY.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    env = {
        "APP_BASE_URL": BASE,
        "TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
        "LEAD_WEBHOOK_SECRET": LEAD_SECRET,
        "CALENDLY_WEBHOOK_SIGNING_KEY": CALENDLY_KEY,
        "GHL_WEBHOOK_PUBLIC_KEY": base64.b64encode(public).decode(),
        "INTAKE_RATE_PER_MINUTE": "1000000",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    reload_settings()
    with session_scope() as s:
        tenant = make_tenant(s, location_id="fuzz", timezone="America/Chicago")
        make_user(s, tenant, role=Role.AGENT)
        make_lead(s, tenant, phone="+15125550111", email="fuzz@example.com")
        _, key = issue_key(s, tenant=tenant, role=Role.MANAGER)
    with TestClient(edge(create_api()), raise_server_exceptions=False) as client:
        client.headers["Authorization"] = f"Bearer {key}"
        yield client
    monkeypatch.undo()
    reload_settings()


def _routes() -> list[tuple[str, str, dict[str, Any]]]:
    spec = create_api().openapi()
    routes = []
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            if path.endswith(("/openapi.json", "/docs")):
                continue
            routes.append((method.upper(), path, op))
    # Outside the schema: the sign-in forms and the unsubscribe link.
    routes.extend(
        ("POST", path, {"form": ["email", "password", "next"]})
        for path in ("/api/v1/auth/login", "/api/v1/auth/logout", "/api/v1/auth/demo")
    )
    routes.append(("GET", "/unsubscribe/{token}", {}))
    routes.append(("POST", "/unsubscribe/{token}", {"form": ["List-Unsubscribe"]}))
    return routes


ROUTES = _routes()


def _body_names(op: dict[str, Any], spec: dict[str, Any]) -> list[str]:
    schema = (
        op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
    )
    ref = schema.get("$ref", "")
    if ref:
        schema = spec["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    return sorted(schema.get("properties", {}))


SPEC = create_api().openapi()


# ------------------------------------------------------------------------------ signing
def _twilio(client, path: str, params: dict[str, str]):
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(f"{BASE}{path}", params)
    return client.post(
        path,
        content=urlencode(params),
        headers={"Content-Type": "application/x-www-form-urlencoded",
                 "X-Twilio-Signature": signature},
    )  # fmt: skip


def _signed_json(client, path: str, raw: bytes):
    headers = {"Content-Type": "application/json"}
    if path.endswith("/webhooks/leads"):
        digest = hmac.new(LEAD_SECRET.encode(), raw, hashlib.sha256).hexdigest()
        headers["X-Signature-256"] = f"sha256={digest}"
        headers.pop("Authorization", None)
    elif path.endswith("/webhooks/ghl"):
        headers["X-GHL-Signature"] = base64.b64encode(GHL_KEY.sign(raw)).decode()
    elif path.endswith("/webhooks/calendly"):
        stamp = int(time.time())
        digest = hmac.new(CALENDLY_KEY.encode(), f"{stamp}.".encode() + raw, hashlib.sha256)
        headers["Calendly-Webhook-Signature"] = f"t={stamp},v1={digest.hexdigest()}"
    # SendGrid: no verification key configured here, so unsigned posts are taken.
    return client.post(path, content=raw, headers=headers)


def _request(client, data, method: str, path: str, op: dict[str, Any]):
    concrete = re.sub(
        r"\{[^}]+\}", lambda _: quote(data.draw(PATH_VALUES, label="path"), safe=""), path
    )
    query = {
        p["name"]: data.draw(TEXT, label=p["name"])
        for p in op.get("parameters", [])
        if p.get("in") == "query" and data.draw(st.booleans(), label=f"send {p['name']}")
    }
    url = concrete + ("?" + urlencode(query) if query else "")
    if path.startswith("/api/v1/webhooks/twilio"):
        names = ["MessageSid", "From", "To", "Body", "MessageStatus", "ErrorCode", "AccountSid"]
        params = data.draw(st.dictionaries(st.sampled_from(names), TEXT, max_size=7))
        params = {k: v.replace("\x00", "") for k, v in params.items()}  # forms carry no NUL
        return _twilio(client, path, params)
    if "form" in op:
        form = data.draw(st.dictionaries(st.sampled_from(op["form"]), TEXT, max_size=3))
        origin = data.draw(st.sampled_from(["http://localhost:3000", "https://evil.example"]))
        return client.post(url, data=form, headers={"Origin": origin}, follow_redirects=False)
    if method in ("POST", "PATCH"):
        names = _body_names(op, SPEC)
        body = data.draw(st.one_of(_shaped(names), JSON), label="body")
        raw = json.dumps(body).encode()
        if path.startswith("/api/v1/webhooks/"):
            return _signed_json(client, path, raw)
        return client.request(
            method, url, content=raw, headers={"Content-Type": "application/json"}
        )
    return client.request(method, url)


def _lost_events() -> list[tuple[str, str]]:
    """Stored events a handler failed on (not: handled, or waiting for what they name)."""
    with session_scope() as s:
        rows = s.execute(
            select(WebhookEvent.provider, WebhookEvent.error).where(WebhookEvent.error.is_not(None))
        ).all()
    return [(p, e) for p, e in rows if not e.startswith("unmatched")]


@pytest.mark.parametrize(("method", "path", "op"), ROUTES, ids=[f"{m} {p}" for m, p, _ in ROUTES])
@FUZZ
@given(data=st.data())
def test_no_route_answers_5xx_or_loses_what_it_took(world, data, method, path, op) -> None:
    response = _request(world, data, method, path, op)
    assert response.status_code < 500, (method, path, response.status_code, response.text[:300])
    assert not _lost_events(), _lost_events()
