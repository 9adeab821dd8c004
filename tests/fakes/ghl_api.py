"""A local HTTP server that answers like GoHighLevel's LeadConnector v2 API, for the CRM
sync's tests: `Authorization: Bearer` and `Version: 2021-07-28` checked on every call, the
location's contacts (upsert by email or phone, tags, notes, custom fields, pagination with
`startAfter`/`startAfterId` and `meta.total`/`nextPageUrl`), custom field definitions,
pipelines and opportunities; the rate-limit headers on every answer and 429 past the burst
(100 requests per 10 s per location unless told otherwise); 401 for another token, 403 for
another location. Scripted answers (`arrange`) fail, stall, or carry a request out and then
stall (the answer is lost, the write happened)."""

from __future__ import annotations

import json
import secrets
import time
from collections import deque
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from tests.fakes.providers import Reply, _Server

VERSION = "2021-07-28"


@dataclass
class Scripted:
    method: str
    path: str  # a part of the path the request must contain
    reply: Reply
    carry_out: bool = False  # do the work, then answer with `reply` (after its delay)


@dataclass(frozen=True)
class Seen:
    at: float  # time.monotonic()
    method: str
    path: str
    body: dict[str, Any]
    status: int


class FakeGhl(_Server):
    def __init__(
        self,
        token: str = "pit-test-token",
        location_id: str = "loc-test",
        *,
        burst: int = 100,
        window: float = 10.0,
    ) -> None:
        self.token, self.location_id = token, location_id
        self.burst, self.window = burst, window
        self.daily_limit = 200_000
        self.contacts: dict[str, dict[str, Any]] = {}
        self.notes: dict[str, list[dict[str, Any]]] = {}
        self.fields: list[dict[str, Any]] = []
        self.pipelines: list[dict[str, Any]] = [
            {
                "id": "pipe-sales",
                "name": "Sales",
                "locationId": location_id,
                "stages": [
                    {"id": "stage-new", "name": "New lead", "position": 0},
                    {"id": "stage-won", "name": "Closed won", "position": 1},
                ],
            }
        ]
        self.opportunities: dict[str, dict[str, Any]] = {}
        self.seen: list[Seen] = []
        self.scripted: deque[Scripted] = deque()
        self._clock = 0
        self._hits: deque[float] = deque()
        super().__init__()

    # --- what tests arrange and read -----------------------------------------------------

    def add_contact(self, **fields: Any) -> dict[str, Any]:
        with self.lock:
            return self._new_contact(fields)

    def arrange(
        self, method: str, path: str, reply: Reply, *, carry_out: bool = False, times: int = 1
    ) -> None:
        with self.lock:
            self.scripted.extend(Scripted(method, path, reply, carry_out) for _ in range(times))

    def requests(self, method: str | None = None, path: str = "") -> list[Seen]:
        with self.lock:
            return [
                s for s in self.seen if (method is None or s.method == method) and path in s.path
            ]

    def max_in_window(self, window: float | None = None) -> int:
        """The most requests that arrived within any `window` seconds."""
        span = self.window if window is None else window
        times = sorted(s.at for s in self.requests())
        best, start = 0, 0
        for end, at in enumerate(times):
            while at - times[start] >= span:
                start += 1
            best = max(best, end - start + 1)
        return best

    def contact_by_email(self, email: str) -> dict[str, Any] | None:
        with self.lock:
            return next(
                (c for c in self.contacts.values() if c.get("email") == email.lower()), None
            )

    # --- the wire -------------------------------------------------------------------------

    def _new_contact(self, fields: dict[str, Any]) -> dict[str, Any]:
        self._clock += 1
        contact = {
            "id": fields.pop("id", None) or secrets.token_hex(10),
            "locationId": self.location_id,
            "firstName": fields.pop("firstName", "Pat"),
            "lastName": fields.pop("lastName", "Lee"),
            "email": (fields.pop("email", None) or "").lower() or None,
            "phone": fields.pop("phone", None),
            "tags": list(fields.pop("tags", [])),
            "customFields": list(fields.pop("customFields", [])),
            "source": fields.pop("source", None),
            # Epoch milliseconds order the listing, as GoHighLevel's `startAfter` does.
            "dateAddedMs": 1_700_000_000_000 + self._clock,
            **fields,
        }
        self.contacts[contact["id"]] = contact
        return contact

    def _limits(self, now: float) -> tuple[dict[str, str], bool]:
        while self._hits and now - self._hits[0] >= self.window:
            self._hits.popleft()
        over = len(self._hits) >= self.burst
        if not over:
            self._hits.append(now)
        headers = {
            "X-RateLimit-Limit-Daily": str(self.daily_limit),
            "X-RateLimit-Daily-Remaining": str(self.daily_limit - len(self.seen)),
            "X-RateLimit-Interval-Milliseconds": str(int(self.window * 1000)),
            "X-RateLimit-Max": str(self.burst),
            "X-RateLimit-Remaining": str(max(0, self.burst - len(self._hits))),
        }
        if over:
            wait = self.window - (now - self._hits[0])
            headers["Retry-After"] = str(max(1, round(wait)))
        return headers, over

    def _scripted_for(self, method: str, path: str) -> Scripted | None:
        for item in list(self.scripted):
            if item.method == method and item.path in path:
                self.scripted.remove(item)
                return item
        return None

    def _serve(self, handler: Any, method: str, body: bytes) -> None:
        parts = urlsplit(handler.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        try:
            data = json.loads(body) if body else {}
        except ValueError:
            data = {"_raw": body.decode(errors="replace")}
        now = time.monotonic()
        with self.lock:
            headers, over = self._limits(now)
            item = self._scripted_for(method, parts.path)
        status, payload = self._answer(handler, method, parts.path, query, data, over, item)
        with self.lock:
            self.seen.append(Seen(now, method, parts.path, data, status))
        if item is not None and item.reply.delay:
            time.sleep(item.reply.delay)
        if status == 429:
            payload = {"statusCode": 429, "message": "Too Many Requests"}
        handler._send(status, payload, headers | (item.reply.headers if item else {}))

    def _answer(
        self,
        handler: Any,
        method: str,
        path: str,
        query: dict[str, str],
        data: dict[str, Any],
        over: bool,
        item: Scripted | None,
    ) -> tuple[int, Any]:
        if item is not None and not item.carry_out:
            reply = item.reply
            return reply.status, {"statusCode": reply.status, "message": reply.message or "error"}
        auth = handler.headers.get("Authorization", "")
        if auth != f"Bearer {self.token}":
            return 401, {
                "statusCode": 401,
                "message": "Invalid token: access token is invalid",
                "error": "Unauthorized",
            }
        if handler.headers.get("Version") != VERSION:
            return 400, {"statusCode": 400, "message": "Version header was not found"}
        if over:
            return 429, None
        location = query.get("locationId") or query.get("location_id") or data.get("locationId")
        if location is not None and location != self.location_id:
            return 403, {
                "statusCode": 403,
                "message": "The token does not have access to this location.",
            }
        with self.lock:
            status, payload = self._route(method, path, query, data)
        if item is not None:  # carried out; the scripted status (often a stall) answers
            return (item.reply.status if item.reply.status != 201 else status), payload
        return status, payload

    def _route(
        self, method: str, path: str, query: dict[str, str], data: dict[str, Any]
    ) -> tuple[int, Any]:
        segments = [p for p in path.split("/") if p]
        if method == "POST" and path == "/contacts/upsert":
            return self._upsert(data)
        if method == "GET" and path.rstrip("/") == "/contacts":
            return self._list(query)
        if segments[:1] == ["contacts"] and len(segments) >= 2:
            contact = self.contacts.get(segments[1])
            if contact is None:
                return 404, {"statusCode": 404, "message": "Contact not found"}
            return self._contact(method, segments[2:], contact, data)
        if segments[:1] == ["locations"] and segments[2:] == ["customFields"]:
            if method == "GET":
                return 200, {"customFields": self.fields}
            if not data.get("name") or data.get("dataType") not in ("TEXT", "NUMERICAL"):
                return 422, {"statusCode": 422, "message": ["name and dataType are required"]}
            key = "contact." + str(data["name"]).lower().replace(" ", "_")
            made = {"id": secrets.token_hex(8), "name": data["name"], "fieldKey": key}
            self.fields.append(made | {"dataType": data["dataType"], "model": "contact"})
            return 201, {"customField": made}
        if path == "/opportunities/pipelines" and method == "GET":
            return 200, {"pipelines": self.pipelines}
        if path == "/opportunities/search" and method == "GET":
            found = [
                o
                for o in self.opportunities.values()
                if o["contactId"] == query.get("contact_id")
                and (not query.get("pipeline_id") or o["pipelineId"] == query["pipeline_id"])
            ]
            return 200, {"opportunities": found, "meta": {"total": len(found)}}
        if segments[:1] == ["opportunities"]:
            return self._opportunity(method, segments[1:], data)
        return 404, {"statusCode": 404, "message": f"Cannot {method} {path}"}

    def _upsert(self, data: dict[str, Any]) -> tuple[int, Any]:
        email = (data.get("email") or "").lower() or None
        phone = data.get("phone") or None
        if not email and not phone:
            return 422, {"statusCode": 422, "message": ["email or phone is required"]}
        for contact in self.contacts.values():
            if (email and contact.get("email") == email) or (
                phone and contact.get("phone") == phone
            ):
                for key in ("firstName", "lastName", "source", "timezone"):
                    if data.get(key):
                        contact[key] = data[key]
                contact["email"] = contact.get("email") or email
                contact["phone"] = contact.get("phone") or phone
                return 200, {"new": False, "contact": contact, "traceId": secrets.token_hex(6)}
        fields = {k: v for k, v in data.items() if k not in ("locationId",)}
        fields["email"], fields["phone"] = email, phone
        contact = self._new_contact(fields)
        return 201, {"new": True, "contact": contact, "traceId": secrets.token_hex(6)}

    def _list(self, query: dict[str, str]) -> tuple[int, Any]:
        limit = min(100, int(query.get("limit") or 20))
        ordered = sorted(self.contacts.values(), key=lambda c: (c["dateAddedMs"], c["id"]))
        after = (
            (int(query["startAfter"]), query.get("startAfterId", ""))
            if query.get("startAfter")
            else None
        )
        rest = [c for c in ordered if after is None or (c["dateAddedMs"], c["id"]) > after]
        page, more = rest[:limit], len(rest) > limit
        meta: dict[str, Any] = {"total": len(ordered), "nextPageUrl": None}
        if page and more:
            last = page[-1]
            meta |= {
                "startAfter": last["dateAddedMs"],
                "startAfterId": last["id"],
                "nextPageUrl": f"{self.url}/contacts/?"
                + urlencode(
                    {
                        "locationId": self.location_id,
                        "limit": limit,
                        "startAfter": last["dateAddedMs"],
                        "startAfterId": last["id"],
                    }
                ),
            }
        return 200, {"contacts": page, "count": len(page), "meta": meta}

    def _contact(
        self, method: str, rest: list[str], contact: dict[str, Any], data: dict[str, Any]
    ) -> tuple[int, Any]:
        if rest == ["tags"] and method in ("POST", "DELETE"):
            tags = data.get("tags")
            if not isinstance(tags, list):
                return 422, {"statusCode": 422, "message": ["tags must be an array"]}
            if method == "POST":
                contact["tags"] += [t for t in tags if t not in contact["tags"]]
                return 201, {"tags": contact["tags"]}
            contact["tags"] = [t for t in contact["tags"] if t not in tags]
            return 200, {"tags": contact["tags"]}
        if rest == ["notes"]:
            notes = self.notes.setdefault(contact["id"], [])
            if method == "GET":
                return 200, {"notes": notes}
            if method == "POST":
                if not data.get("body"):
                    return 422, {"statusCode": 422, "message": ["body should not be empty"]}
                note = {
                    "id": secrets.token_hex(8),
                    "body": data["body"],
                    "contactId": contact["id"],
                }
                notes.append(note)
                return 201, {"note": note}
        if not rest and method == "PUT":
            known = {f["id"] for f in self.fields}
            for value in data.get("customFields") or []:
                if value.get("id") not in known:
                    return 422, {"statusCode": 422, "message": [f"unknown field {value.get('id')}"]}
                current = [v for v in contact["customFields"] if v["id"] != value["id"]]
                contact["customFields"] = [
                    *current,
                    {"id": value["id"], "value": value["field_value"]},
                ]
            return 200, {"succeded": True, "contact": contact}
        if not rest and method == "GET":
            return 200, {"contact": contact}
        return 404, {"statusCode": 404, "message": "not found"}

    def _opportunity(self, method: str, rest: list[str], data: dict[str, Any]) -> tuple[int, Any]:
        if not rest and method == "POST":
            missing = [k for k in ("pipelineId", "name", "status", "contactId") if not data.get(k)]
            if missing:
                return 422, {"statusCode": 422, "message": [f"{k} is required" for k in missing]}
            opportunity = {
                "id": secrets.token_hex(8),
                **{k: v for k, v in data.items() if k != "locationId"},
            }
            self.opportunities[opportunity["id"]] = opportunity
            return 201, {"opportunity": opportunity}
        if len(rest) == 1 and method == "PUT":
            opportunity = self.opportunities.get(rest[0])
            if opportunity is None:
                return 404, {"statusCode": 404, "message": "Opportunity not found"}
            opportunity.update(data)
            return 200, {"opportunity": opportunity}
        return 404, {"statusCode": 404, "message": "not found"}

    def handle_post(self, handler: Any, body: bytes) -> None:
        self._serve(handler, "POST", body)

    def handle_get(self, handler: Any) -> None:
        self._serve(handler, "GET", b"")

    def handle_other(self, handler: Any, method: str, body: bytes) -> None:
        self._serve(handler, method, body)


__all__ = ["FakeGhl", "Reply"]
