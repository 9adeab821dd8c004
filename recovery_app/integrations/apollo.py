"""Apollo.io people match: the wire format and what Apollo's answers mean.

`POST {base}/api/v1/people/match` with the key in `X-Api-Key` answers `{"person": {...}}` or
`{"person": null}` (no match). 401/403 mean the key is refused (the integration needs a
person: no more calls with that key), 422 that this one query was refused, 429/5xx that Apollo
is busy or down (try later, honouring Retry-After). The key is a secret: masked when shown,
never logged.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from recovery_app.integrations.http import Outbound, OutboundError

MATCH_PATH = "/api/v1/people/match"
HEALTH_PATH = "/api/v1/auth/health"
REFUSED_KEY_STATUSES = {401, 403}
MAX_KEY = 200


class Verdict(StrEnum):
    MATCH = "match"
    NO_MATCH = "no_match"
    ATTENTION = "needs_attention"  # the key was refused: stop calling until it changes
    REJECTED = "rejected"  # this query was refused (422 ...): do not retry it
    RETRY = "retry"  # rate limited, down or unreachable: try again later


@dataclass(frozen=True, slots=True)
class Person:
    """What we keep of Apollo's person: the fields the lead shows and scoring reads."""

    apollo_id: str | None = None
    name: str | None = None
    job_title: str | None = None
    seniority: str | None = None
    company: str | None = None
    company_website: str | None = None
    industry: str | None = None
    linkedin_url: str | None = None
    location: str | None = None
    time_zone: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Person:
        return cls(**{k: data.get(k) for k in cls.__dataclass_fields__})


@dataclass(frozen=True, slots=True)
class Answer:
    verdict: Verdict
    status: int | None
    detail: str  # what a person reads: Apollo's own words first
    person: Person | None = None
    retry_after: float | None = None
    raw: dict[str, Any] = field(default_factory=dict)


def _text(value: Any, limit: int) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text[:limit] or None


def parse_person(data: dict[str, Any]) -> Person:
    organization = data.get("organization") or {}
    if not isinstance(organization, dict):
        organization = {}
    place = ", ".join(
        str(part) for part in (data.get("city"), data.get("state"), data.get("country")) if part
    )
    linkedin = _text(data.get("linkedin_url"), 500)
    if linkedin and not linkedin.startswith(("https://", "http://")):
        linkedin = None  # rendered as a link: only web addresses, never `javascript:` or junk
    return Person(
        apollo_id=_text(data.get("id"), 64),
        name=_text(data.get("name"), 200),
        job_title=_text(data.get("title"), 200),
        seniority=_text(data.get("seniority"), 40),
        company=_text(organization.get("name") or data.get("organization_name"), 200),
        company_website=_text(organization.get("website_url"), 300),
        industry=_text(organization.get("industry"), 100),
        linkedin_url=linkedin,
        location=_text(place, 200),
        time_zone=_text(data.get("time_zone"), 64),
    )


def _error_text(body: str) -> str:
    """Apollo's error in its own words: `{"error": "..."}` or `{"message": "..."}`, else the
    body as it came."""
    try:
        data = json.loads(body)
    except ValueError:
        return body.strip()[:300]
    if isinstance(data, dict):
        for name in ("error", "message", "error_message"):
            if data.get(name):
                return str(data[name])[:300]
    return body.strip()[:300]


def _headers(key: str) -> dict[str, str]:
    return {
        "X-Api-Key": key,
        "Content-Type": "application/json",
        "Cache-Control": "no-cache",
        "Accept": "application/json",
    }


def _failure(exc: OutboundError) -> Answer:
    if exc.status is None:
        return Answer(Verdict.RETRY, None, f"Apollo: {exc.reason}", retry_after=exc.retry_after)
    said = _error_text(exc.body)
    return Answer(
        Verdict.RETRY,
        exc.status,
        f"Apollo answered {exc.status}" + (f": {said}" if said else ""),
        retry_after=exc.retry_after,
    )


def _refusal(status: int, body: str) -> Answer:
    said = _error_text(body)
    detail = f"Apollo answered {status}" + (f": {said}" if said else "")
    if status in REFUSED_KEY_STATUSES:
        return Answer(Verdict.ATTENTION, status, detail + " (check the API key)")
    return Answer(Verdict.REJECTED, status, detail)


async def match(outbound: Outbound, base_url: str, key: str, query: dict[str, Any]) -> Answer:
    """One people-match call; never raises for Apollo's or the network's failures."""
    try:
        response = await outbound.request(
            "POST", f"{base_url}{MATCH_PATH}", json=query, headers=_headers(key)
        )
    except OutboundError as exc:
        return _failure(exc)
    status = response.status_code
    if status >= 300:
        return _refusal(status, response.text)
    try:
        data = response.json()
    except ValueError:
        return Answer(Verdict.RETRY, status, f"Apollo answered {status} with a body not JSON")
    person = data.get("person") if isinstance(data, dict) else None
    if not isinstance(person, dict):
        return Answer(Verdict.NO_MATCH, status, f"Apollo answered {status}: no matching person")
    found = parse_person(person)
    return Answer(
        Verdict.MATCH,
        status,
        f"Apollo answered {status}: {found.name or 'a person'}"
        + (f", {found.job_title}" if found.job_title else ""),
        person=found,
    )


async def health(outbound: Outbound, base_url: str, key: str) -> Answer:
    """Settings' "Test connection": `GET /api/v1/auth/health` with the key; the answer word for
    word. A 200 saying `is_logged_in: false` means the key was not accepted."""
    try:
        response = await outbound.request("GET", f"{base_url}{HEALTH_PATH}", headers=_headers(key))
    except OutboundError as exc:
        return _failure(exc)
    status, body = response.status_code, response.text.strip()[:300]
    if status >= 300:
        return _refusal(status, body)
    try:
        data = response.json()
    except ValueError:
        data = None
    if isinstance(data, dict) and data.get("is_logged_in") is False:
        return Answer(
            Verdict.ATTENTION, status, f"Apollo answered {status} {body} (the key was not accepted)"
        )
    return Answer(Verdict.MATCH, status, f"Apollo answered {status} {body}".strip())


def match_query(
    *, email: str | None, phone: str | None, first_name: str, last_name: str
) -> dict[str, Any]:
    """What we send: the email when there is one (Apollo matches on it), else the name and the
    phone (no phone-only match in the basic call, so Apollo often answers null). Personal
    emails are never revealed (they cost extra credits and we have the lead's own)."""
    query: dict[str, Any] = {"reveal_personal_emails": False}
    if email:
        query["email"] = email
    if first_name:
        query["first_name"] = first_name
    if last_name:
        query["last_name"] = last_name
    if phone and not email:
        query["phone"] = phone
    return query


def check_key(value: str) -> str | None:
    """An API key as stored (None for empty); ValueError saying what is wrong."""
    key = value.strip()
    if not key:
        return None
    if len(key) > MAX_KEY or any(ch.isspace() or ord(ch) < 32 for ch in key):
        raise ValueError("the API key from Apollo -> Settings -> API keys (no spaces)")
    return key


def mask(key: str | None) -> str:
    """Enough of a key to recognise it, not enough to use it."""
    if not key:
        return ""
    return f"…{key[-4:]}" if len(key) > 8 else "…"
