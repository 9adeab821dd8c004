"""The request id at the HTTP edge: taken from `X-Request-ID` (or made), bound for the whole
request, answered in the response header, and one log line per API request when it ends.

Pure ASGI (no BaseHTTPMiddleware) so it wraps everything Reflex serves - pages, the API, the
upload endpoint - without buffering bodies or breaking the websocket.
"""

import logging
import time

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from recovery_app.observability import request_id
from recovery_app.routes import API_PREFIX

logger = logging.getLogger(__name__)

# Polled every few seconds by load balancers and Prometheus: logged only at DEBUG.
QUIET_PATHS = (f"{API_PREFIX}/health", f"{API_PREFIX}/metrics")
# The unsubscribe token in this path is a capability: whoever has it can unsubscribe the lead.
TOKEN_PATH = "/unsubscribe/"


def loggable_path(path: str) -> str:
    return TOKEN_PATH + "[token]" if path.startswith(TOKEN_PATH) else path


class RequestContext:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = request_id.accept(Headers(scope=scope).get(request_id.HEADER))
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [
                    (k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"
                ]
                headers.append((b"x-request-id", rid.encode()))
                message = {**message, "headers": headers}
            await send(message)

        with request_id.bound(rid):
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                path = scope.get("path", "")
                if path.startswith((API_PREFIX, TOKEN_PATH)):
                    logger.log(
                        logging.DEBUG if path in QUIET_PATHS else logging.INFO,
                        "%s %s %s",
                        scope.get("method"),
                        loggable_path(path),
                        status,
                        extra={
                            "method": scope.get("method"),
                            "path": loggable_path(path),
                            "status": status,
                            "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                        },
                    )
