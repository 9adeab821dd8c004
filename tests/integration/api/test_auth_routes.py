"""The browser's sign-in, sign-out and demo entry: form posts answered with redirects."""

from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from recovery_app.api.app import create_api
from recovery_app.api.auth import SIGNIN_COOKIE
from recovery_app.db import session_scope
from recovery_app.domain.accounts import auth
from recovery_app.domain.accounts.passwords import hash_password
from recovery_app.errors import Unauthenticated
from recovery_app.settings import reload_settings
from tests.factories import make_tenant, make_user

ROOT = Path(__file__).resolve().parents[3]
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


@pytest.mark.parametrize(
    ("base", "headers"),
    [
        # The production server opened at an address other than APP_BASE_URL's.
        ("http://127.0.0.2:3000", {"Origin": "http://127.0.0.2:3000"}),
        ("http://10.0.0.7:8080", {"Origin": "http://10.0.0.7:8080"}),
        # Behind a TLS proxy on another port that passes the Host on (Caddy does).
        (
            "http://app:3000",
            {"Origin": "https://leads.example.com:8443", "Host": "leads.example.com:8443"},
        ),
        # ... or names it in X-Forwarded-Host.
        (
            "http://app:3000",
            {"Origin": "https://leads.example.com", "X-Forwarded-Host": "leads.example.com"},
        ),
    ],
)
def test_production_accepts_a_page_of_its_own_at_any_address(
    client, monkeypatch, base, headers
) -> None:
    monkeypatch.setenv("REFLEX_ENV_MODE", "prod")
    client.base_url = base
    response = client.post(
        "/api/v1/auth/login",
        data={"email": "ana@office.example", "password": PASSWORD, "next": "/leads"},
        headers=headers,
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"{headers['Origin']}/leads"
    assert auth.SESSION_COOKIE in response.cookies


def test_production_refuses_a_page_on_another_host(client, monkeypatch) -> None:
    """A page elsewhere - even on this machine, another port - is not ours."""
    monkeypatch.setenv("REFLEX_ENV_MODE", "prod")
    client.base_url = "http://127.0.0.2:3000"
    for origin in ("http://127.0.0.2:3001", "http://evil.example", "https://127.0.0.3:3000"):
        response = client.post(
            "/api/v1/auth/login",
            data={"email": "ana@office.example", "password": PASSWORD},
            headers={"Origin": origin},
        )
        assert "error=origin" in response.headers["location"], origin
        assert auth.SESSION_COOKIE not in response.cookies


def test_every_sign_in_and_sign_out_gives_the_browser_a_new_signin_mark(client) -> None:
    """assets/tab_session.js starts each tab on a new Reflex state when this changes, so the
    mark must change at every sign-in and sign-out, and page script must be able to read it."""
    marks = []
    for _ in range(2):
        signed_in = post(client, "login", {"email": "ana@office.example", "password": PASSWORD})
        client.cookies.set(auth.SESSION_COOKIE, signed_in.cookies[auth.SESSION_COOKIE])
        signed_out = post(client, "logout")
        for response in (signed_in, signed_out):
            marks.append(response.cookies[SIGNIN_COOKIE])
            (header,) = [
                h for h in response.headers.get_list("set-cookie") if h.startswith(SIGNIN_COOKIE)
            ]
            assert "HttpOnly" not in header and "Path=/" in header
    assert len(set(marks)) == 4 and all(marks)
    assert SIGNIN_COOKIE in (ROOT / "assets/tab_session.js").read_text()


def test_a_quick_submit_still_goes_back_where_it_came_from(client) -> None:
    """The form's hidden `next` arrives over the websocket; submitted before it did, the
    sign-in page's own address (the Referer) says where to go."""
    response = client.post(
        "/api/v1/auth/login",
        data={"email": "ana@office.example", "password": PASSWORD},
        headers={"Origin": SITE, "Referer": f"{SITE}/login/?error=sign_in&next=%2Fleads%2F42"},
    )
    assert response.headers["location"] == f"{SITE}/leads/42"
    # What a click before the page's state arrived sends: the field's value in the exported
    # page, or the `next` of this tab's earlier visit. The page's own address wins.
    for field in ("/dashboard", "/inbox"):
        early = client.post(
            "/api/v1/auth/login",
            data={"email": "ana@office.example", "password": PASSWORD, "next": field},
            headers={"Origin": SITE, "Referer": f"{SITE}/login/?next=%2Fleads%2F42"},
        )
        assert early.headers["location"] == f"{SITE}/leads/42", field
    # No Referer (a privacy setting strips it): the field says where.
    bare = client.post(
        "/api/v1/auth/login",
        data={"email": "ana@office.example", "password": PASSWORD, "next": "/inbox"},
        headers={"Origin": SITE},
    )
    assert bare.headers["location"] == f"{SITE}/inbox"
    evil = client.post(
        "/api/v1/auth/login",
        data={"email": "ana@office.example", "password": PASSWORD},
        headers={"Origin": SITE, "Referer": f"{SITE}/login?next=https%3A%2F%2Fevil.example"},
    )
    assert evil.headers["location"] == f"{SITE}/dashboard"
