"""A local HTTP server that speaks enough of Anthropic's Messages API (`POST /v1/messages`) for
the real `anthropic` SDK: it checks the key and version headers, records requests, and answers
with a scripted text, an error (429 with retry-after, 529 overloaded, 500) or a stall."""

from __future__ import annotations

import json
import secrets
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


@dataclass
class AiReply:
    status: int = 200
    text: str | None = None  # None: GOOD_SMS
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    error_type: str = "api_error"


class FakeAnthropic(_Server):
    API_KEY = "sk-ant-test"

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.default_text = GOOD_SMS
        super().__init__()

    def handle_post(self, handler: Any, body: bytes) -> None:
        if handler.path.split("?")[0] != "/v1/messages":
            handler._send(
                404, {"type": "error", "error": {"type": "not_found_error", "message": "no"}}
            )
            return
        # Older SDKs send `x-api-key`, current ones `Authorization: Bearer`.
        key = handler.headers.get("x-api-key") or handler.headers.get(
            "Authorization", ""
        ).removeprefix("Bearer ")
        if key != self.API_KEY or not handler.headers.get("anthropic-version"):
            handler._send(
                401,
                {"type": "error", "error": {"type": "authentication_error", "message": "bad key"}},
            )
            return
        payload = json.loads(body or b"{}")
        with self.lock:
            self.requests.append(payload)
        reply = self.next_reply(AiReply())  # type: ignore[arg-type]
        if reply.delay:
            time.sleep(reply.delay)
        if reply.status != 200:
            handler._send(
                reply.status,
                {"type": "error", "error": {"type": reply.error_type, "message": "scripted"}},
                reply.headers,
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
                "usage": {"input_tokens": 420, "output_tokens": 80},
            },
        )
