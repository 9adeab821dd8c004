"""The edge around every route: security headers, CORS origins, request body limits (413)."""

import pytest
from fastapi.testclient import TestClient

from recovery_app.api.app import create_api
from recovery_app.api.hardening import BodyLimit, allowed_origins, body_limit, edge
from recovery_app.domain.leads.csv_io import MAX_BYTES as CSV_LIMIT
from recovery_app.settings import get_settings, reload_settings


@pytest.fixture
def client(app_database):
    with TestClient(edge(create_api())) as client:
        yield client


def test_every_response_carries_the_security_headers(client) -> None:
    for response in (client.get("/api/v1/health"), client.get("/api/v1/nope")):
        headers = response.headers
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "strict-origin-when-cross-origin"
        assert headers["x-frame-options"] == "DENY"
        policy = headers["content-security-policy"]
        assert "frame-ancestors 'none'" in policy and "default-src 'self'" in policy
        assert "connect-src 'self' ws://localhost:3000" in policy
        assert "'unsafe-eval'" not in policy
        assert "strict-transport-security" not in headers  # APP_BASE_URL is plain http here
    docs = client.get("/api/v1/docs").headers["content-security-policy"]
    assert "https://cdn.jsdelivr.net" in docs  # Swagger UI's own assets


def test_hsts_only_behind_tls(client, monkeypatch) -> None:
    monkeypatch.setenv("APP_BASE_URL", "https://leads.example.com")
    reload_settings()
    headers = client.get("/api/v1/health").headers
    assert headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"
    assert "connect-src 'self' wss://leads.example.com" in headers["content-security-policy"]


def test_cors_origins_are_app_base_url_only_in_production(monkeypatch) -> None:
    monkeypatch.setenv("APP_BASE_URL", "https://leads.example.com/")
    settings = reload_settings()
    monkeypatch.setenv("REFLEX_ENV_MODE", "prod")
    assert allowed_origins(settings, "3000") == ["https://leads.example.com"]
    monkeypatch.setenv("REFLEX_ENV_MODE", "dev")
    assert allowed_origins(settings, "3123") == [
        "https://leads.example.com",
        "http://localhost:3123",
        "http://127.0.0.1:3123",
    ]
    monkeypatch.undo()
    reload_settings()  # the next test's settings are the environment's again


def test_oversized_bodies_get_413_before_the_route_reads_them(client) -> None:
    limit = get_settings().max_request_bytes
    form = client.post("/api/v1/auth/login", data={"email": "a@b.c", "password": "x" * limit})
    assert form.status_code == 413
    assert form.json()["error"]["code"] == "payload_too_large"
    assert form.headers["x-content-type-options"] == "nosniff" and form.headers["x-request-id"]

    def chunks():  # no Content-Length: counted as it streams
        for _ in range(limit // 65536 + 2):
            yield b"x" * 65536

    streamed = client.post(
        "/api/v1/recovery/campaigns",
        content=chunks(),
        headers={"Content-Type": "application/json", "Authorization": "Bearer rk_0_x"},
    )
    assert streamed.status_code == 413
    webhook = client.post("/api/v1/webhooks/ghl", content=b"{" + b" " * (256 * 1024) + b"}")
    assert webhook.status_code == 413  # the webhooks' own, smaller limit
    small = client.post("/api/v1/auth/login", data={"email": "a@b.c", "password": "x"})
    assert small.status_code != 413


def test_the_csv_upload_takes_its_file_limit(monkeypatch) -> None:
    """Reflex's /_upload endpoint (the leads import) is bounded by the CSV limit, not 1 MiB."""
    settings = get_settings()
    assert body_limit(settings, "/_upload") == CSV_LIMIT + 1024 * 1024
    assert body_limit(settings, "/api/v1/recovery/campaigns") == settings.max_request_bytes

    received: list[int] = []

    async def upload_endpoint(scope, receive, send):
        size = 0
        while True:
            message = await receive()
            size += len(message.get("body", b""))
            if not message.get("more_body"):
                break
        received.append(size)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    uploads = TestClient(BodyLimit(upload_endpoint))
    assert uploads.post("/_upload", content=b"x" * (2 * 1024 * 1024)).status_code == 200
    assert uploads.post("/_upload", content=b"x" * (CSV_LIMIT + 1024 * 1024 + 1)).status_code == 413
    assert received == [2 * 1024 * 1024]  # the refused one never reached the endpoint
