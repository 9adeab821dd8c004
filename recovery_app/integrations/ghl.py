"""GoHighLevel's REST API (LeadConnector v2): the wire format and what its answers mean.

Every call carries `Authorization: Bearer <token>` (a Private Integration token or an OAuth
access token of the sub-account) and `Version: 2021-07-28`. 401/403 mean the token is refused
(expired, revoked, or without the scope or the location): the integration needs a person and
nothing more is called with that token. 400/422 refuse this one request; 404 means the contact
or opportunity is gone; 429 and 5xx mean try later (honouring Retry-After). Answers carry the
rate-limit headers (`X-RateLimit-Remaining` of the 10 s burst, `X-RateLimit-Daily-Remaining`).

A POST that creates something (a note, an opportunity, a custom field) has no idempotency key
at GoHighLevel, so it is made once per try (`once`): an answer lost to a timeout or a 5xx is
`ambiguous`, and the caller looks for what it made before it tries again.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from recovery_app.integrations.http import CircuitOpen, Outbound, OutboundError

API_VERSION = "2021-07-28"
REFUSED_TOKEN_STATUSES = {401, 403}
MAX_TOKEN = 2000
PAGE_SIZE = 100  # the most GET /contacts/ gives per page
# When the burst budget reads 0 we hold at most this long (the pacer normally keeps us under;
# another app on the same location can still spend it).
MAX_HOLD_SECONDS = 10.0


class Verdict(StrEnum):
    OK = "ok"
    NOT_FOUND = "not_found"
    ATTENTION = "needs_attention"  # the token was refused: stop calling until it changes
    REJECTED = "rejected"  # this request was refused (400/422): do not retry it
    RETRY = "retry"  # rate limited, down or unreachable: try again later


@dataclass(frozen=True, slots=True)
class Answer:
    verdict: Verdict
    status: int | None
    detail: str  # what a person reads: GoHighLevel's own words first
    data: dict[str, Any] = field(default_factory=dict)
    retry_after: float | None = None
    # The request may have been carried out although we got no answer (timeout, 5xx).
    ambiguous: bool = False

    @property
    def ok(self) -> bool:
        return self.verdict == Verdict.OK


def error_text(body: str) -> str:
    """GoHighLevel's error in its words: `{"message": "..." | [...], "error": "..."}`."""
    try:
        data = json.loads(body)
    except ValueError:
        return body.strip()[:300]
    if isinstance(data, dict):
        message = data.get("message") or data.get("msg") or data.get("error")
        if isinstance(message, list):
            message = "; ".join(str(m) for m in message)
        if message:
            return str(message)[:300]
    return body.strip()[:300]


@dataclass
class Connection:
    """One office's way to GoHighLevel: its token and location over a shared HTTP client."""

    outbound: Outbound
    base_url: str
    token: str
    location_id: str
    # What the last answer's rate-limit headers said (Settings shows the daily budget).
    limits: dict[str, int] = field(default_factory=dict)
    calls: int = 0
    _hold: float = 0.0

    def _headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self.token}",
            "Version": API_VERSION,
            "Accept": "application/json",
        }

    def _read_limits(self, headers: Any) -> None:
        for header, name in (
            ("x-ratelimit-remaining", "burst_remaining"),
            ("x-ratelimit-daily-remaining", "daily_remaining"),
            ("x-ratelimit-limit-daily", "daily_limit"),
            ("x-ratelimit-max", "burst_max"),
            ("x-ratelimit-interval-milliseconds", "interval_ms"),
        ):
            value = headers.get(header)
            if value is not None and str(value).strip().lstrip("-").isdigit():
                self.limits[name] = int(value)
        if self.limits.get("burst_remaining") == 0:
            self._hold = min(MAX_HOLD_SECONDS, self.limits.get("interval_ms", 10_000) / 1000)

    async def call(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        once: bool = False,
    ) -> Answer:
        """One API call; never raises for GoHighLevel's or the network's failures."""
        if self._hold:
            hold, self._hold = self._hold, 0.0
            await asyncio.sleep(hold)
        self.calls += 1
        try:
            response = await self.outbound.request(
                method,
                f"{self.base_url}{path}",
                json=body,
                params={k: v for k, v in (params or {}).items() if v not in (None, "")},
                headers=self._headers(),
                attempts=1 if once else None,
            )
        except CircuitOpen as exc:
            return Answer(Verdict.RETRY, None, f"GoHighLevel: {exc.reason}")
        except OutboundError as exc:
            said = error_text(exc.body) if exc.body else ""
            detail = (
                f"GoHighLevel: {exc.reason}"
                if exc.status is None
                else f"GoHighLevel answered {exc.status}" + (f": {said}" if said else "")
            )
            return Answer(
                Verdict.RETRY,
                exc.status,
                detail,
                retry_after=exc.retry_after,
                ambiguous=exc.status != 429,
            )
        self._read_limits(response.headers)
        status = response.status_code
        if status >= 300:
            said = error_text(response.text)
            detail = f"GoHighLevel answered {status}" + (f": {said}" if said else "")
            if status in REFUSED_TOKEN_STATUSES:
                return Answer(Verdict.ATTENTION, status, detail + " (check the token)")
            if status == 404:
                return Answer(Verdict.NOT_FOUND, status, detail)
            return Answer(Verdict.REJECTED, status, detail)
        try:
            data = response.json() if response.content else {}
        except ValueError:
            return Answer(Verdict.RETRY, status, f"GoHighLevel answered {status}, not JSON")
        return Answer(
            Verdict.OK,
            status,
            f"GoHighLevel answered {status}",
            data=data if isinstance(data, dict) else {"items": data},
        )


# --- contacts ----------------------------------------------------------------------------


async def upsert_contact(conn: Connection, contact: dict[str, Any]) -> Answer:
    """`POST /contacts/upsert`: finds the location's contact by email or phone (its duplicate
    rule) or creates it; idempotent by nature. `data["contact"]["id"]` is its id."""
    return await conn.call(
        "POST", "/contacts/upsert", body={"locationId": conn.location_id, **contact}
    )


def contact_id_of(answer: Answer) -> str | None:
    contact = answer.data.get("contact")
    if isinstance(contact, dict) and contact.get("id"):
        return str(contact["id"])[:64]
    return None


async def add_tags(conn: Connection, contact_id: str, tags: list[str]) -> Answer:
    return await conn.call("POST", f"/contacts/{contact_id}/tags", body={"tags": tags})


async def remove_tags(conn: Connection, contact_id: str, tags: list[str]) -> Answer:
    return await conn.call("DELETE", f"/contacts/{contact_id}/tags", body={"tags": tags})


async def set_custom_fields(
    conn: Connection, contact_id: str, values: list[dict[str, Any]]
) -> Answer:
    """`PUT /contacts/{id}` with `customFields: [{"id", "field_value"}]` (a PUT: idempotent)."""
    return await conn.call("PUT", f"/contacts/{contact_id}", body={"customFields": values})


async def notes(conn: Connection, contact_id: str) -> Answer:
    return await conn.call("GET", f"/contacts/{contact_id}/notes")


async def create_note(conn: Connection, contact_id: str, body: str) -> Answer:
    return await conn.call("POST", f"/contacts/{contact_id}/notes", body={"body": body}, once=True)


def note_with(answer: Answer, marker: str) -> str | None:
    """The id of the note whose body carries `marker`, in a `GET .../notes` answer."""
    for note in answer.data.get("notes") or []:
        if isinstance(note, dict) and marker in str(note.get("body") or ""):
            return str(note.get("id") or "")[:64] or None
    return None


async def contacts_page(
    conn: Connection,
    *,
    start_after: Any = None,
    start_after_id: str | None = None,
    limit: int = PAGE_SIZE,
) -> Answer:
    """One page of the location's contacts (`GET /contacts/`, oldest first); the next page
    starts after `meta.startAfter` / `meta.startAfterId`, `meta.total` counts them all."""
    return await conn.call(
        "GET",
        "/contacts/",
        params={
            "locationId": conn.location_id,
            "limit": limit,
            "startAfter": start_after,
            "startAfterId": start_after_id,
        },
    )


# --- custom fields, pipelines, opportunities -----------------------------------------------


async def custom_fields(conn: Connection) -> Answer:
    return await conn.call(
        "GET", f"/locations/{conn.location_id}/customFields", params={"model": "contact"}
    )


async def create_custom_field(conn: Connection, name: str, data_type: str) -> Answer:
    return await conn.call(
        "POST",
        f"/locations/{conn.location_id}/customFields",
        body={"name": name, "dataType": data_type, "model": "contact"},
        once=True,
    )


def field_id(answer: Answer, key: str, name: str) -> str | None:
    """The id of the custom field with `fieldKey` `key` (or, failing that, named `name`)."""
    fields = [f for f in answer.data.get("customFields") or [] if isinstance(f, dict)]
    for wanted in (
        lambda f: f.get("fieldKey") == key,
        lambda f: str(f.get("name") or "").strip().lower() == name.lower(),
    ):
        for found in fields:
            if wanted(found) and found.get("id"):
                return str(found["id"])
    return None


async def pipelines(conn: Connection) -> Answer:
    return await conn.call(
        "GET", "/opportunities/pipelines", params={"locationId": conn.location_id}
    )


def stages_of(answer: Answer) -> list[dict[str, str]]:
    """Every (pipeline, stage) of a `GET /opportunities/pipelines` answer, in order."""
    found: list[dict[str, str]] = []
    for pipeline in answer.data.get("pipelines") or []:
        if not isinstance(pipeline, dict) or not pipeline.get("id"):
            continue
        found.extend(
            {
                "pipeline_id": str(pipeline["id"]),
                "pipeline": str(pipeline.get("name") or "")[:100],
                "stage_id": str(stage["id"]),
                "stage": str(stage.get("name") or "")[:100],
            }
            for stage in pipeline.get("stages") or []
            if isinstance(stage, dict) and stage.get("id")
        )
    return found


async def opportunities_of(conn: Connection, contact_id: str, pipeline_id: str) -> Answer:
    return await conn.call(
        "GET",
        "/opportunities/search",
        params={
            "location_id": conn.location_id,
            "contact_id": contact_id,
            "pipeline_id": pipeline_id,
        },
    )


async def create_opportunity(conn: Connection, body: dict[str, Any]) -> Answer:
    return await conn.call(
        "POST", "/opportunities/", body={"locationId": conn.location_id, **body}, once=True
    )


async def update_opportunity(conn: Connection, opportunity_id: str, body: dict[str, Any]) -> Answer:
    return await conn.call("PUT", f"/opportunities/{opportunity_id}", body=body)


# --- what Settings stores -------------------------------------------------------------------


def check_token(value: str) -> str | None:
    """A token as stored (None for empty); ValueError saying what is wrong."""
    token = value.strip()
    if token.lower().startswith("bearer "):
        token = token[7:].strip()
    if not token:
        return None
    if len(token) > MAX_TOKEN or any(ch.isspace() or ord(ch) < 32 for ch in token):
        raise ValueError(
            "a Private Integration token (pit-...) or an OAuth access token, without spaces"
        )
    return token


def mask(token: str | None) -> str:
    """Enough of a token to recognise it, not enough to use it."""
    if not token:
        return ""
    return f"…{token[-4:]}" if len(token) > 8 else "…"
