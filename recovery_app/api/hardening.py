"""What every response and request goes through at the edge, whoever serves it (our API, Reflex's
pages and upload endpoint): the origins allowed to call us, security headers, body size limits.

Mounted as the outer `api_transformer` step (recovery_app.recovery_app), so in production - one
port, pages served as static files by the same Granian workers - the pages get the headers too.
"""

import functools
import os
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from recovery_app.domain.ids import ascii_int
from recovery_app.routes import API_PREFIX
from recovery_app.settings import Settings, get_settings, is_production

# The documented webhook limit (api.webhooks.read_body refuses the same past it); the CSV import
# takes its file limit plus the multipart framing around it.
WEBHOOK_LIMIT = 256 * 1024
UPLOAD_PATH = "/_upload"
UPLOAD_OVERHEAD = 1024 * 1024

# Reflex's compiled pages carry inline bootstrap scripts (React Router's context and stream,
# the colour-mode script) that differ per page and per build, and Emotion/Radix write inline
# styles: both need 'unsafe-inline' (hashes would change with every build). No 'unsafe-eval':
# checked in a browser by tests/e2e/test_production.py, which fails on any CSP violation. What
# keeps injected script out is that untrusted text is never rendered as HTML (DESIGN.md §5);
# the policy adds that nothing loads from elsewhere and nobody frames the app.
PAGE_POLICY = (
    "default-src 'self'",
    "script-src 'self' 'unsafe-inline'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "font-src 'self' data:",
    "connect-src 'self' {websocket}",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
)
# FastAPI's Swagger page loads its script and styles from jsDelivr.
DOCS_POLICY = (
    "default-src 'self'",
    "script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net",
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net",
    "img-src 'self' data: https://fastapi.tiangolo.com",
    "frame-ancestors 'none'",
)


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def allowed_origins(settings: Settings, frontend_port: str | None = None) -> list[str]:
    """Cross-origin callers of Reflex's own HTTP routes (CORS): APP_BASE_URL's origin; in
    development also the dev server's port on localhost and 127.0.0.1. Same-origin pages (all
    of production) need no CORS; in development the pages' CSV upload goes to the backend's
    port, so open them at one of these addresses (or set APP_BASE_URL to the one you use)."""
    origins = [origin_of(settings.app_base_url)]
    if not is_production() and frontend_port:
        origins += [f"http://localhost:{frontend_port}", f"http://127.0.0.1:{frontend_port}"]
    return list(dict.fromkeys(origins))


def is_own_origin(
    origin: str | None,
    *,
    host: str | None,
    forwarded_host: str | None = None,
    settings: Settings | None = None,
    frontend_port: str | None = None,
) -> bool:
    """Did a page of ours send this (a form post, the websocket handshake)? Browsers set
    Origin themselves, so a page elsewhere cannot claim ours. Ours: APP_BASE_URL's origin, or
    the very host (and port) the request was sent to - whatever address users open the
    server at, directly or through a proxy that passes Host or X-Forwarded-Host on. In
    development the pages come from the dev server's port on the same host name."""
    if not origin or origin == "null":
        return False
    settings = settings or get_settings()
    if origin == origin_of(settings.app_base_url):
        return True
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return False
    hosts = {h.split(",")[0].strip().lower() for h in (host, forwarded_host) if h}
    if parts.netloc.lower() in hosts:
        return True
    if is_production() or not frontend_port or not host:
        return False
    try:
        return parts.port == int(frontend_port) and parts.hostname == urlsplit(f"//{host}").hostname
    except ValueError:  # a port that is not a number
        return False


def websocket_origin_check(origin: str | None, environ: dict) -> bool:
    """python-engineio's `cors_allowed_origins` callable: the websocket handshake's Origin
    must be one of ours (`is_own_origin`), as a form post's must."""
    return is_own_origin(
        origin,
        host=environ.get("HTTP_HOST"),
        forwarded_host=environ.get("HTTP_X_FORWARDED_HOST"),
        frontend_port=os.environ.get("REFLEX_FRONTEND_PORT"),
    )


def security_headers(settings: Settings, path: str) -> list[tuple[bytes, bytes]]:
    return _headers_for(settings.app_base_url, docs=path == f"{API_PREFIX}/docs")


@functools.lru_cache(maxsize=8)  # per base URL and policy: built once, not per response
def _headers_for(app_base_url: str, *, docs: bool) -> list[tuple[bytes, bytes]]:
    base = urlsplit(app_base_url)
    websocket = f"{'wss' if base.scheme == 'https' else 'ws'}://{base.netloc}"
    policy = DOCS_POLICY if docs else PAGE_POLICY
    headers = {
        "content-security-policy": "; ".join(policy).format(websocket=websocket),
        "x-content-type-options": "nosniff",
        "x-frame-options": "DENY",  # frame-ancestors for browsers that predate it
        "referrer-policy": "strict-origin-when-cross-origin",
        "permissions-policy": "camera=(), microphone=(), geolocation=()",
    }
    if base.scheme == "https":
        # Only behind TLS: over plain HTTP the header is ignored, and on localhost it would
        # pin the developer's browser to HTTPS.
        headers["strict-transport-security"] = "max-age=31536000; includeSubDomains"
    return [(k.encode(), v.encode()) for k, v in headers.items()]


def relative_location(location: str, host: str) -> str:
    """A redirect to this same server says only the path. Starlette builds its own redirects
    (`/login` -> `/login/` for an exported page) from the address the request reached this
    process at: behind a TLS proxy that is `http://`, and the browser followed it off https.
    A path keeps the browser on whatever scheme, host and port it is using."""
    for prefix in (f"http://{host}", f"https://{host}") if host else ():
        if location == prefix or location.startswith(prefix + "/"):
            return location[len(prefix) :] or "/"
    return location


class SecurityHeaders:
    """Adds the headers to every HTTP response that does not set its own, and makes
    redirects to this server relative (`relative_location`)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = security_headers(get_settings(), scope.get("path", ""))
        host = Headers(scope=scope).get("host", "")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, relative_location(v.decode("latin-1"), host).encode("latin-1"))
                    if k.lower() == b"location"
                    else (k, v)
                    for k, v in message.get("headers", [])
                ]
                present = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in extra if k not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def body_limit(settings: Settings, path: str) -> int:
    if path.startswith(f"{API_PREFIX}/webhooks/"):
        return WEBHOOK_LIMIT
    if path.rstrip("/").endswith(UPLOAD_PATH):
        from recovery_app.domain.leads.csv_io import MAX_BYTES

        return MAX_BYTES + UPLOAD_OVERHEAD
    return settings.max_request_bytes


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int):
        super().__init__(413, f"The request body is larger than {limit // 1024} KiB.")


def _too_large(limit: int) -> JSONResponse:
    from recovery_app.api.errors import error_body

    return JSONResponse(
        error_body("payload_too_large", f"The request body is larger than {limit // 1024} KiB."),
        status_code=413,
    )


def _nul_in_address() -> JSONResponse:
    from recovery_app.api.errors import error_body

    return JSONResponse(
        error_body("bad_request", "The address holds a NUL character (%00)."), status_code=400
    )


class BodyLimit:
    """413 for a body over the route's limit: at once when Content-Length says so, else as
    soon as the streamed body passes it (the route never sees more than the limit). And 400
    for a NUL character in the address: never meaningful there, and PostgreSQL refuses it in
    any query it reaches (`?q=%00` was a 500)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if "\x00" in scope.get("path", "") or b"%00" in scope.get("query_string", b""):
            await _nul_in_address()(scope, receive, send)
            return
        limit = body_limit(get_settings(), scope.get("path", ""))
        declared = Headers(scope=scope).get("content-length", "")
        if declared and (ascii_int(declared, maximum=2**62) or 0) > limit:
            await _too_large(limit)(scope, receive, send)
            return
        received = 0
        started = False

        async def bounded_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, bounded_receive, tracking_send)
        except BodyTooLarge:
            # Raised inside an app that did not turn it into a response itself.
            if not started:
                await _too_large(limit)(scope, receive, send)


def edge(app: ASGIApp) -> ASGIApp:
    """The whole ASGI app behind the request id, the security headers and the body limits
    (outermost first, so a 413 carries the headers and the id too)."""
    from recovery_app.observability.http import RequestContext

    return RequestContext(SecurityHeaders(BodyLimit(app)))
