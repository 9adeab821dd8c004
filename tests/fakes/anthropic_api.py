"""A local HTTP server that speaks enough of Anthropic's Messages API (`POST /v1/messages`) for
the real `anthropic` SDK: it checks the key and version headers, records requests, and answers
with a scripted text, an error shaped like Anthropic's (429 with retry-after, 529 overloaded,
500, 400) or a stall."""

from __future__ import annotations

import contextlib
import json
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.providers import _Server

GOOD_SMS = json.dumps(
    {
        "subject": None,
        "body": "Hi {{first_name}}, it's {{agent_first_name}}. Still thinking about "
        "{{property_interest}}? Happy to help. Reply STOP to opt out.",
    }
)
GOOD_EMAIL = json.dumps(
    {
        "subject": "Still looking, {{first_name}}?",
        "body": "Hi {{first_name}},\n\nA couple of new options match {{property_interest}}. "
        "Want me to send them over?\n\n{{agent_name}}",
    }
)
USAGE = {"input_tokens": 420, "output_tokens": 80}


@dataclass
class AiReply:
    """One scripted answer: `status` 200 answers `text` (None: the server's default text)."""

    status: int = 200
    text: str | None = None
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    error_type: str = "api_error"

    @classmethod
    def rate_limited(cls, retry_after: float | None = None) -> AiReply:
        headers = {} if retry_after is None else {"retry-after": f"{retry_after:g}"}
        return cls(status=429, headers=headers, error_type="rate_limit_error")

    @classmethod
    def overloaded(cls) -> AiReply:
        return cls(status=529, error_type="overloaded_error")

    @classmethod
    def server_error(cls) -> AiReply:
        return cls(status=500, error_type="api_error")

    @classmethod
    def stall(cls, seconds: float) -> AiReply:
        return cls(delay=seconds)

    @classmethod
    def garbage(cls, text: str = "Sure! Here is a lovely message for you.") -> AiReply:
        return cls(text=text)


def _error(kind: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}}


class FakeAnthropic(_Server):
    API_KEY = "sk-ant-test"

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []  # the JSON bodies received
        self.headers: list[dict[str, str]] = []  # their headers (lower-case names)
        self.paths: list[str] = []
        self.default_text = GOOD_SMS
        super().__init__()

    def handle_post(self, handler: Any, body: bytes) -> None:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # a client that gave up
            self._answer(handler, body)

    def _answer(self, handler: Any, body: bytes) -> None:
        if handler.path.split("?")[0] != "/v1/messages":
            handler._send(404, _error("not_found_error", f"no route {handler.path}"))
            return
        # The API takes `x-api-key`; SDK versions that send `Authorization: Bearer` work too.
        key = handler.headers.get("x-api-key") or handler.headers.get(
            "Authorization", ""
        ).removeprefix("Bearer ")
        if key != self.API_KEY:
            handler._send(401, _error("authentication_error", "invalid x-api-key"))
            return
        if not handler.headers.get("anthropic-version"):
            handler._send(400, _error("invalid_request_error", "anthropic-version required"))
            return
        payload = json.loads(body or b"{}")
        with self.lock:
            self.requests.append(payload)
            self.headers.append({k.lower(): v for k, v in handler.headers.items()})
            self.paths.append(handler.path)
        reply = self.next_reply(AiReply())  # type: ignore[arg-type]
        if reply.delay:
            time.sleep(reply.delay)
        request_id = {"request-id": "req_" + secrets.token_hex(8)}
        if reply.status != 200:
            handler._send(
                reply.status, _error(reply.error_type, "scripted"), request_id | reply.headers
            )
            return
        handler._send(
            200,
            {
                "id": "msg_" + secrets.token_hex(8),
                "type": "message",
                "role": "assistant",
                "model": payload.get("model", ""),
                "content": [{"type": "text", "text": reply.text or self.default_text}],
                "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": USAGE,
            },
            request_id,
        )

    def close(self) -> None:
        # serve_forever notices a shutdown only between polls (0.5 s); a connection wakes it at
        # once, which keeps a test file with a server per test fast.
        stopper = threading.Thread(target=self.httpd.shutdown)
        stopper.start()
        while stopper.is_alive():
            with contextlib.suppress(OSError):
                socket.create_connection(self.httpd.server_address[:2], timeout=0.1).close()
            stopper.join(0.01)
        self.httpd.server_close()
