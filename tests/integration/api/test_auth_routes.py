"""The browser's sign-in, sign-out and demo entry: form posts answered with redirects."""

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from recovery_app.api.app import create_api
from recovery_app.db import session_scope
from recovery_app.domain.accounts import auth
from recovery_app.domain.accounts.passwords import hash_password
from recovery_app.errors import Unauthenticated
from recovery_app.settings import reload_settings
from tests.factories import make_tenant, make_user

SITE = "http://localhost:3000"
PASSWORD = "correct horse battery"


@pytest.fixture
def client(app_database, monkeypatch):
    monkeypatch.setenv("APP_BASE_URL", SITE)
    reload_settings()
    with session_scope() as s:
        make_user(
            s, make_tenant(s), email="ana@office.example", password_hash=hash_password(PASSWORD)
        )
    with TestClient(
        create_api(), base_url="http://localhost:8000", follow_redirects=False
    ) as client:
        yield client
    monkeypatch.undo()
    reload_settings()


def post(client, path, data=None, origin=SITE):
    headers = {"Origin": origin} if origin else {}
    return client.post(f"/api/v1/auth/{path}", data=data or {}, headers=headers)


def resolve(token):
    with session_scope() as s:
        return auth.resolve_session(s, token=token, now=datetime.now(UTC))


def test_sign_in_sets_an_httponly_cookie_and_goes_back(client) -> None:
    response = post(
        client, "login", {"email": "ana@office.example", "password": PASSWORD, "next": "/leads/42"}
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"{SITE}/leads/42"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{auth.SESSION_COOKIE}=")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    assert resolve(response.cookies[auth.SESSION_COOKIE]).email == "ana@office.example"


@pytest.mark.parametrize(
    "evil", ["https://evil.example/x", "//evil.example", "/\\evil.example", "javascript:alert(1)"]
)
def test_next_cannot_leave_the_site(client, evil) -> None:
    response = post(
        client, "login", {"email": "ana@office.example", "password": PASSWORD, "next": evil}
    )
    assert response.headers["location"] == f"{SITE}/dashboard"


def test_wrong_password_goes_back_to_sign_in_with_a_reason(client) -> None:
    response = post(
        client, "login", {"email": "ana@office.example", "password": "nope", "next": "/leads"}
    )
    assert response.headers["location"] == f"{SITE}/login?error=invalid&next=%2Fleads"
    assert "set-cookie" not in response.headers
    for _ in range(5):
        response = post(client, "login", {"email": "ana@office.example", "password": "nope"})
    assert (
        "error=throttled" in response.headers["location"]
        and "wait=15" in response.headers["location"]
    )


def test_oversized_fields_are_refused_cleanly(client) -> None:
    response = post(client, "login", {"email": "ana@office.example", "password": "x" * 5000})
    assert response.status_code == 303 and "error=too_long" in response.headers["location"]


@pytest.mark.parametrize("origin", [None, "https://evil.example", "null"])
def test_posts_from_other_sites_are_refused(client, origin) -> None:
    response = post(
        client, "login", {"email": "ana@office.example", "password": PASSWORD}, origin=origin
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"{SITE}/login?error=origin"
    assert "set-cookie" not in response.headers


def test_sign_out_revokes_and_clears_the_cookie(client) -> None:
    signed_in = post(client, "login", {"email": "ana@office.example", "password": PASSWORD})
    token = signed_in.cookies[auth.SESSION_COOKIE]
    client.cookies.set(auth.SESSION_COOKIE, token)
    response = post(client, "logout")
    assert response.headers["location"] == f"{SITE}/login?error=signed_out"
    assert (
        f'{auth.SESSION_COOKIE}=""' in response.headers["set-cookie"]
        or "Max-Age=0" in response.headers["set-cookie"]
    )
    with pytest.raises(Unauthenticated):
        resolve(token)


def test_demo_entry(client, monkeypatch) -> None:
    assert "error=demo_disabled" in post(client, "demo").headers["location"]
    monkeypatch.setenv("DEMO_MODE", "1")
    reload_settings()
    response = post(client, "demo")
    assert response.headers["location"] == f"{SITE}/dashboard"
    viewer = resolve(response.cookies[auth.SESSION_COOKIE])
    assert viewer.is_demo and viewer.is_manager
