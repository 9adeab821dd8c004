"""The edge around every route: security headers, CORS origins, request body limits (413)."""

import pytest
from fastapi.testclient import TestClient

from recovery_app.api.app import create_api
from recovery_app.api.hardening import (
    BodyLimit,
    allowed_origins,
    body_limit,
    edge,
    is_own_origin,
    websocket_origin_check,
)
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


@pytest.mark.parametrize(
    ("origin", "host", "forwarded", "expected"),
    [
        ("http://localhost:3000", "anything:1", None, True),  # APP_BASE_URL's origin
        ("http://127.0.0.2:3000", "127.0.0.2:3000", None, True),  # the address it was sent to
        ("https://leads.example.com", "app:3000", "leads.example.com", True),  # via a proxy
        ("https://leads.example.com:8443", "leads.example.com:8443", None, True),
        ("http://127.0.0.2:3001", "127.0.0.2:3000", None, False),  # another port
        ("http://evil.example", "127.0.0.2:3000", None, False),
        ("null", "127.0.0.2:3000", None, False),
        (None, "127.0.0.2:3000", None, False),
        ("file://127.0.0.2:3000", "127.0.0.2:3000", None, False),
    ],
)
def test_own_origin_in_production(monkeypatch, origin, host, forwarded, expected) -> None:
    monkeypatch.setenv("REFLEX_ENV_MODE", "prod")
    assert (
        is_own_origin(origin, host=host, forwarded_host=forwarded, frontend_port="3000") is expected
    )


def test_own_origin_in_development_includes_the_dev_servers_port(monkeypatch) -> None:
    """`make run`: pages on :3000, the backend on :8000, at any host name the browser used."""
    monkeypatch.setenv("REFLEX_ENV_MODE", "dev")
    own = {"host": "127.0.0.2:8000", "frontend_port": "3000"}
    assert is_own_origin("http://127.0.0.2:3000", **own)
    assert not is_own_origin("http://127.0.0.3:3000", **own)
    assert not is_own_origin("http://127.0.0.2:3001", **own)


def test_the_websocket_handshake_takes_the_same_rule(monkeypatch) -> None:
    monkeypatch.setenv("REFLEX_ENV_MODE", "prod")
    environ = {"HTTP_HOST": "10.1.2.3:3000"}
    assert websocket_origin_check("http://10.1.2.3:3000", environ)
    assert not websocket_origin_check("http://attacker.example", environ)
    proxied = {"HTTP_HOST": "app:3000", "HTTP_X_FORWARDED_HOST": "leads.example.com"}
    assert websocket_origin_check("https://leads.example.com", proxied)


def test_redirects_to_this_server_say_only_the_path() -> None:
    """Starlette's own redirects (`/login` -> `/login/`) named the address the request reached
    the process at; behind a TLS proxy that sent the browser to http://."""
    from starlette.applications import Starlette
    from starlette.responses import RedirectResponse
    from starlette.routing import Route

    def to_slash(request):
        return RedirectResponse(str(request.url.replace(path="/login/")), status_code=307)

    def elsewhere(request):
        return RedirectResponse("https://calendly.com/x", status_code=302)

    app = Starlette(routes=[Route("/login", to_slash), Route("/away", elsewhere)])
    with TestClient(edge(app), base_url="http://leads.example.com:8443") as client:
        response = client.get("/login?next=/x", follow_redirects=False)
        assert response.headers["location"] == "/login/?next=/x"
        assert client.get("/away", follow_redirects=False).headers["location"] == (
            "https://calendly.com/x"
        )
