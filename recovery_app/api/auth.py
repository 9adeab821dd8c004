"""Browser sign-in, sign-out and demo entry: plain HTML form posts that answer with a redirect.

They live on the backend because only an HTTP response can set an HttpOnly cookie; the
Reflex websocket then carries that cookie to the server, which resolves the session on every
event, while page JavaScript never sees the token. Each post must come from one of our own
pages (Origin check), so another site cannot sign a visitor in or out.
"""

import os
import secrets
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import parse_qs, quote, urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse

from recovery_app import routes
from recovery_app.api.deps import client_ip
from recovery_app.api.hardening import is_own_origin
from recovery_app.db import session_scope
from recovery_app.demo.sandbox import start_demo
from recovery_app.domain.accounts import auth
from recovery_app.errors import Forbidden, RateLimited, ValidationFailed
from recovery_app.routes import safe_next
from recovery_app.settings import get_settings

router = APIRouter(prefix="/auth", include_in_schema=False)

COOKIE_MAX_AGE = 30 * 24 * 3600  # the server's idle expiry decides; the cookie just persists
# Read by assets/tab_session.js (the name is written there too).
SIGNIN_COOKIE = "recovery_signin"


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def page_origin(request: Request) -> str | None:
    """The origin of the page that posted, if it is one of ours (`is_own_origin`); None
    otherwise. The answer redirects back to that origin, whichever address it was."""
    origin = request.headers.get("origin") or _origin_of(request.headers.get("referer", ""))
    own = is_own_origin(
        origin,
        host=request.headers.get("host"),
        forwarded_host=request.headers.get("x-forwarded-host"),
        frontend_port=os.environ.get("REFLEX_FRONTEND_PORT"),
    )
    return origin if own else None


def _next_of_referer(request: Request) -> str:
    """The sign-in page's own `?next=` (the browser sends the page's address as Referer): the
    form's hidden field is filled from it over the websocket, and a quick submit can beat
    that."""
    referer = urlsplit(request.headers.get("referer", ""))
    if referer.path.rstrip("/") != routes.LOGIN:
        return ""
    return parse_qs(referer.query).get("next", [""])[0]


def _to_login(origin: str, error: str, next_path: str = "", **extra: object) -> RedirectResponse:
    query = f"error={error}"
    if next_path:
        query += f"&next={quote(next_path, safe='')}"
    for key, value in extra.items():
        query += f"&{key}={quote(str(value), safe='')}"
    return RedirectResponse(f"{origin}{routes.LOGIN}?{query}", status_code=303)


def _with_session(response: RedirectResponse, token: str, origin: str) -> RedirectResponse:
    response.set_cookie(
        auth.SESSION_COOKIE,
        token,
        max_age=COOKIE_MAX_AGE,
        path="/",
        httponly=True,
        samesite="lax",
        secure=origin.startswith("https://"),
    )
    return _new_signin(response, origin)


def _new_signin(response: RedirectResponse, origin: str) -> RedirectResponse:
    """Every sign-in and sign-out gives the browser a new SIGNIN_COOKIE, which page script
    may read (it is no secret: a random value, not the session): each tab that loads a page
    afterwards starts on a new Reflex state (assets/tab_session.js), so the next person in
    that tab is never sent what the previous one's pages held."""
    response.set_cookie(
        SIGNIN_COOKIE,
        secrets.token_urlsafe(12),
        max_age=COOKIE_MAX_AGE,
        path="/",
        httponly=False,
        samesite="lax",
        secure=origin.startswith("https://"),
    )
    return response


def _foreign_origin() -> RedirectResponse:
    return _to_login(_origin_of(get_settings().app_base_url), "origin")


@router.post("/login")
def login(
    request: Request,
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
) -> RedirectResponse:
    origin = page_origin(request)
    if origin is None:
        return _foreign_origin()
    # The page's own address first: the hidden field is filled once the page has loaded its
    # state, and a click before that sent the field's default (the dashboard), or the `next`
    # of this tab's previous visit to the sign-in page. Only a same-origin post carries the
    # query in its Referer; for the cross-origin one (development: the backend on its own
    # port) assets/sign_in_next.js fills an empty field from the page's ?next= at submit.
    next_path = safe_next(_next_of_referer(request) or next)
    try:
        with session_scope() as session:
            outcome = auth.sign_in(
                session,
                email=email,
                password=password,
                now=datetime.now(UTC),
                ip=client_ip(request),
                user_agent=request.headers.get("user-agent"),
            )
    except ValidationFailed:
        return _to_login(origin, "too_long", next_path)
    if outcome.status != auth.SignInStatus.OK or outcome.token is None:
        extra = (
            {"wait": -(-outcome.retry_after_seconds // 60)} if outcome.retry_after_seconds else {}
        )
        return _to_login(origin, outcome.status, next_path, **extra)
    return _with_session(
        RedirectResponse(f"{origin}{next_path}", status_code=303), outcome.token, origin
    )


@router.post("/logout")
def logout(request: Request) -> RedirectResponse:
    origin = page_origin(request)
    if origin is None:
        return _foreign_origin()
    with session_scope() as session:
        auth.sign_out(
            session, token=request.cookies.get(auth.SESSION_COOKIE), now=datetime.now(UTC)
        )
    response = _to_login(origin, "signed_out")
    response.delete_cookie(auth.SESSION_COOKIE, path="/")
    return _new_signin(response, origin)


@router.post("/demo")
def demo(request: Request) -> RedirectResponse:
    origin = page_origin(request)
    if origin is None:
        return _foreign_origin()
    try:
        with session_scope() as session:
            token = start_demo(
                session,
                now=datetime.now(UTC),
                ip=client_ip(request),
                user_agent=request.headers.get("user-agent"),
            )
    except Forbidden:
        return _to_login(origin, "demo_disabled")
    except RateLimited:
        return _to_login(origin, "demo_throttled")
    return _with_session(
        RedirectResponse(f"{origin}{routes.DASHBOARD}", status_code=303), token, origin
    )
