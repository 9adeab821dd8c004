"""Local HTTP servers that speak just enough of Twilio's Messages API and SendGrid's v3
mail/send for the real SDKs to talk to them. They record what they receive and can be scripted
to answer with errors or to stall (timeouts). Used by tests and by the benchmarks."""

from __future__ import annotations

import json
import secrets
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Reply:
    """One scripted answer: an HTTP status (with a Twilio error code), optionally after a stall.
    `record` says whether the request counts as received (a slow success still does)."""

    status: int = 201
    code: int | None = None
    message: str = ""
    delay: float = 0.0
    record: bool = True
    headers: dict[str, str] = field(default_factory=dict)


class _BusyServer(ThreadingHTTPServer):
    # The standard listen backlog of 5 refuses connections when a few dispatchers send at
    # once; the real APIs take thousands.
    request_queue_size = 1024

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that went away mid-request (a benchmark killing the server it measured)
        # is not the fake's error; anything else still prints its traceback.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Server:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.script: deque[Reply] = deque()
        self.httpd = _BusyServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def then(self, *replies: Reply) -> None:
        """Answer the next requests with these, in order; afterwards, success again."""
        with self.lock:
            self.script.extend(replies)

    def next_reply(self, default: Reply) -> Reply:
        with self.lock:
            return self.script.popleft() if self.script else default

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out as separate writes; with Nagle on, the client's delayed
            # ACK would stall every response by ~40 ms and the fake would dominate benchmarks.
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def _body(self) -> bytes:
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _send(
                self, status: int, payload: Any, headers: dict[str, str] | None = None
            ) -> None:
                data = json.dumps(payload).encode() if payload is not None else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                body = self._body()
                if len(body) < int(self.headers.get("Content-Length") or 0):
                    # The client went away mid-body (killed, timed out): a real API never
                    # sees such a request, so neither answer nor record it.
                    self.close_connection = True
                    return
                server.handle_post(self, body)

            def do_GET(self) -> None:
                server.handle_get(self)

            def do_PUT(self) -> None:
                server.handle_other(self, "PUT", self._body())

            def do_DELETE(self) -> None:
                server.handle_other(self, "DELETE", self._body())

        return Handler

    def handle_post(self, handler: Any, body: bytes) -> None:
        handler._send(404, {"message": "not found"})

    def handle_get(self, handler: Any) -> None:
        handler._send(404, {"message": "not found"})

    def handle_other(self, handler: Any, method: str, body: bytes) -> None:
        handler._send(405, {"message": f"{method} not allowed"})


class FakeTwilio(_Server):
    """POST/GET /2010-04-01/Accounts/{sid}/Messages.json."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.attempts = 0
        super().__init__()

    def _resource(self, params: dict[str, str], sid: str, account: str) -> dict[str, Any]:
        now = format_datetime(datetime.now(UTC), usegmt=True)
        return {
            "sid": sid,
            "account_sid": account,
            "to": params.get("To"),
            "from": params.get("From"),
            "messaging_service_sid": params.get("MessagingServiceSid"),
            "body": params.get("Body"),
            "status": "queued",
            "num_segments": "1",
            "date_created": now,
            "date_updated": now,
            "date_sent": now,
            "direction": "outbound-api",
            "api_version": "2010-04-01",
            "uri": f"/2010-04-01/Accounts/{account}/Messages/{sid}.json",
        }

    def handle_post(self, handler: Any, body: bytes) -> None:
        account = urlsplit(handler.path).path.split("/")[3]
        params = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        reply = self.next_reply(Reply())
        with self.lock:
            self.attempts += 1
        sid = "SM" + secrets.token_hex(16)
        if reply.record and reply.status < 400:
            with self.lock:
                self.messages.append({**params, "sid": sid, "received_at": time.time()})
        if reply.delay:
            time.sleep(reply.delay)
        if reply.status >= 400:
            handler._send(
                reply.status,
                {
                    "code": reply.code,
                    "message": reply.message or "error",
                    "more_info": "",
                    "status": reply.status,
                },
                reply.headers,
            )
            return
        handler._send(201, self._resource(params, sid, account))

    def handle_get(self, handler: Any) -> None:
        parts = urlsplit(handler.path)
        account = parts.path.split("/")[3]
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        with self.lock:
            found = [m for m in self.messages if not query.get("To") or m.get("To") == query["To"]]
        items = [self._resource(m, m["sid"], account) for m in reversed(found)]
        handler._send(
            200,
            {
                "messages": items,
                "next_page_uri": None,
                "page": 0,
                "page_size": 50,
                "uri": parts.path,
                "first_page_uri": parts.path,
                "previous_page_uri": None,
                "start": 0,
                "end": len(items),
            },
        )

    def bodies_to(self, number: str) -> list[str]:
        with self.lock:
            return [m["Body"] for m in self.messages if m.get("To") == number]


class FakeSendGrid(_Server):
    """POST /v3/mail/send."""

    def __init__(self) -> None:
        self.mails: list[dict[str, Any]] = []
        self.attempts = 0
        super().__init__()

    def handle_post(self, handler: Any, body: bytes) -> None:
        reply = self.next_reply(Reply(status=202))
        with self.lock:
            self.attempts += 1
        if reply.record and reply.status < 400:
            with self.lock:
                self.mails.append(json.loads(body))
        if reply.delay:
            time.sleep(reply.delay)
        if reply.status >= 400:
            handler._send(
                reply.status, {"errors": [{"message": reply.message or "error"}]}, reply.headers
            )
            return
        handler._send(202, None, {"X-Message-Id": secrets.token_urlsafe(16)})


class FakeSlack(_Server):
    """Slack incoming webhooks: POST /services/T.../B.../... with a JSON body. Answers
    `200 ok` in plain text like Slack, or a scripted status with Slack's error code as the
    body (`Reply(404, message="no_service")`, `Reply(429, headers={"Retry-After": "1"})`)."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self.attempts = 0
        self.attempt_times: list[float] = []
        super().__init__()

    def webhook(self, name: str = "office") -> str:
        return f"{self.url}/services/T0000/B0000/{name}"

    def handle_post(self, handler: Any, body: bytes) -> None:
        reply = self.next_reply(Reply(status=200))
        with self.lock:
            self.attempts += 1
            self.attempt_times.append(time.monotonic())
        if reply.delay:
            time.sleep(reply.delay)
        if reply.record and reply.status < 400:
            with self.lock:
                self.posts.append({"path": urlsplit(handler.path).path, "json": json.loads(body)})
        text = (reply.message or ("ok" if reply.status < 400 else "error")).encode()
        handler.send_response(reply.status)
        handler.send_header("Content-Type", "text/plain; charset=utf-8")
        handler.send_header("Content-Length", str(len(text)))
        for name, value in reply.headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(text)

    def posts_to(self, name: str) -> list[dict[str, Any]]:
        with self.lock:
            return [p["json"] for p in self.posts if p["path"].endswith(f"/{name}")]


class FakeApollo(_Server):
    """Apollo.io: `POST /api/v1/people/match` (JSON body or query) and `GET
    /api/v1/auth/health`, with the key in `X-Api-Key`. People are registered by email
    (`add_person`); an unknown email, or no email, answers `{"person": null}`. A key other
    than `key` answers 401 `{"error": "Invalid access credentials."}` like Apollo; scripted
    replies (`Reply(429, headers={"Retry-After": "30"})`, `Reply(delay=5)`) come first."""

    def __init__(self, key: str = "apollo-test-key") -> None:
        self.key = key
        self.people: dict[str, dict[str, Any]] = {}
        self.matches: list[dict[str, Any]] = []  # every match request's parameters
        self.attempt_times: list[float] = []
        super().__init__()

    def add_person(self, email: str, **fields: Any) -> None:
        self.people[email.lower()] = {
            "id": secrets.token_hex(12),
            "first_name": fields.get("first_name", "Pat"),
            "last_name": fields.get("last_name", "Lee"),
            "name": f"{fields.get('first_name', 'Pat')} {fields.get('last_name', 'Lee')}",
            "linkedin_url": fields.get("linkedin_url", "http://www.linkedin.com/in/pat-lee"),
            "title": fields.get("title", "VP of Sales"),
            "seniority": fields.get("seniority", "vp"),
            "city": fields.get("city", "Denver"),
            "state": fields.get("state", "Colorado"),
            "country": fields.get("country", "United States"),
            "time_zone": fields.get("time_zone", "America/Denver"),
            "organization": {
                "name": fields.get("company", "Acme Realty"),
                "website_url": "http://www.acme.example",
                "industry": "real estate",
                "estimated_num_employees": 120,
            },
        }

    @property
    def calls(self) -> int:
        with self.lock:
            return len(self.matches)

    def _refuse_key(self, handler: Any) -> bool:
        if handler.headers.get("X-Api-Key") == self.key:
            return False
        handler._send(401, {"error": "Invalid access credentials."})
        return True

    def _scripted(self, handler: Any) -> bool:
        reply = self.next_reply(Reply(status=200, record=False))
        if reply.delay:
            time.sleep(reply.delay)
        if reply.status == 200 and not reply.record:
            return False
        payload: dict[str, Any] = {"error": reply.message or "error"}
        if reply.status == 429:
            payload = {
                "message": reply.message
                or "The maximum number of api calls allowed "
                "for api/v1/people/match is 600 times per hour."
            }
        handler._send(reply.status, payload, reply.headers)
        return True

    def handle_post(self, handler: Any, body: bytes) -> None:
        parts = urlsplit(handler.path)
        if parts.path != "/api/v1/people/match":
            handler._send(404, {"error": "not found"})
            return
        params: dict[str, Any] = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if body:
            params |= json.loads(body)
        with self.lock:
            self.attempt_times.append(time.monotonic())
            self.matches.append(params)
        if self._scripted(handler) or self._refuse_key(handler):
            return
        if not (params.get("email") or params.get("first_name") or params.get("phone")):
            handler._send(422, {"error": "Please provide more information to match a person."})
            return
        person = self.people.get(str(params.get("email") or "").lower())
        handler._send(200, {"person": person})

    def handle_get(self, handler: Any) -> None:
        if urlsplit(handler.path).path != "/api/v1/auth/health":
            handler._send(404, {"error": "not found"})
            return
        if self._scripted(handler):
            return
        logged_in = handler.headers.get("X-Api-Key") == self.key
        if not logged_in:
            handler._send(401, {"error": "Invalid access credentials."})
            return
        handler._send(200, {"healthy": True, "is_logged_in": True})
