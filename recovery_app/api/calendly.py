"""POST /api/v1/webhooks/calendly: Calendly's invitee.created / invitee.canceled events.

Verified with CALENDLY_WEBHOOK_SIGNING_KEY (`Calendly-Webhook-Signature: t=<unix time>,
v1=<hex HMAC-SHA256(key, "<t>.<raw body>")>`, at most 3 minutes off our clock either way),
stored in the inbox under (office, event, invitee URI), answered, then processed
(`domain/leads/calendly.py`). The office is the `?location_id=` of the URL Settings -> Office
shows, which may be left out only while the deployment has a single office. Without a signing
key the endpoint answers 503: nothing is accepted, and Calendly retries once it is set.
"""

import hashlib
import hmac
import time
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from recovery_app import jsonbody
from recovery_app.api.webhooks import BadRequest, SignatureRequired, read_body
from recovery_app.db import session_scope
from recovery_app.domain.accounts.repository import sole_tenant, tenant_by_location
from recovery_app.domain.ids import ascii_int
from recovery_app.domain.leads.calendly import InviteeEvent, parse_event
from recovery_app.errors import RecoveryError, StorageUnavailable, ValidationFailed
from recovery_app.messaging import inbox
from recovery_app.messaging.events import HANDLERS
from recovery_app.models import pk
from recovery_app.settings import get_settings

router = APIRouter(prefix="/webhooks", tags=["webhooks"])

SIGNATURE_HEADER = "Calendly-Webhook-Signature"
# How far the signature's timestamp may be from our clock, either way (replay window).
TOLERANCE_SECONDS = 180


class NotConfigured(RecoveryError):
    code = "not_configured"
    status = 503


def verify_signature(header: str | None, raw: bytes, *, key: str, now: float) -> None:
    """SignatureRequired (401, counted as a refused signature) unless `header` carries a v1
    HMAC of `"<t>.<raw>"` under `key` and `t` is within 3 minutes of `now`."""
    if not header:
        raise SignatureRequired(f"Missing {SIGNATURE_HEADER}.")
    stamp, signatures = None, []
    for part in header.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep:
            stamp = None
            break
        if name == "t":
            stamp = value.strip()
        elif name == "v1":
            signatures.append(value.strip().lower().encode("utf-8", "replace"))
    stamp_value = ascii_int(stamp or "", maximum=10**12)
    if stamp_value is None or not signatures:
        raise SignatureRequired(
            f"Malformed {SIGNATURE_HEADER}: expected t=<unix time>,v1=<hex signature>."
        )
    expected = hmac.new(key.encode(), str(stamp).encode() + b"." + raw, hashlib.sha256).hexdigest()
    # compare_digest on every candidate: constant time whichever one matches.
    matches = [hmac.compare_digest(expected.encode(), s) for s in signatures]
    if not any(matches):
        raise SignatureRequired(f"{SIGNATURE_HEADER} does not match the body.")
    if abs(now - stamp_value) > TOLERANCE_SECONDS:
        raise SignatureRequired(
            f"{SIGNATURE_HEADER} is more than {TOLERANCE_SECONDS // 60} minutes old (or ahead "
            "of our clock): refused as a possible replay."
        )


def _store(location_id: str | None, event: InviteeEvent, raw: bytes) -> tuple[int, bool]:
    """Store the event for its office; (inbox row id, already handled)."""
    with session_scope() as session:
        tenant = tenant_by_location(session, location_id) if location_id else sole_tenant(session)
        if tenant is None:
            field = (
                f"no office has location id {location_id!r}"
                if location_id
                else "required when there are several offices (copy the URL from Settings -> Office)"
            )
            raise ValidationFailed("Which office is this for?", fields={"location_id": field})
        event_id = f"{pk(tenant)}:{event.event_id}"
        if len(event_id) > 255:
            event_id = (
                f"{pk(tenant)}:{event.kind}:sha256:{hashlib.sha256(event_id.encode()).hexdigest()}"
            )
        row, _ = inbox.store(
            session,
            provider="calendly",
            event_id=event_id,
            raw_body=raw.decode("utf-8"),
            tenant_id=pk(tenant),
            now=datetime.now(UTC),
        )
        return pk(row), row.handled_at is not None


EXAMPLE: dict[str, Any] = {
    "event": "invitee.created",
    "created_at": "2026-11-02T18:00:00.000000Z",
    "payload": {
        "email": "maria@example.com",
        "name": "Maria Lopez",
        "uri": "https://api.calendly.com/scheduled_events/EV1/invitees/INV1",
        "scheduled_event": {
            "uri": "https://api.calendly.com/scheduled_events/EV1",
            "name": "30 Minute Consultation",
            "start_time": "2026-11-04T16:00:00.000000Z",
            "end_time": "2026-11-04T16:30:00.000000Z",
        },
        "text_reminder_number": "+15125550123",
        "questions_and_answers": [{"question": "What are you looking for?", "answer": "3-bed"}],
        "cancel_url": "https://calendly.com/cancellations/INV1",
        "reschedule_url": "https://calendly.com/reschedulings/INV1",
    },
}


@router.post(
    "/calendly",
    summary="Calendly invitee.created / invitee.canceled (Calendly-Webhook-Signature)",
    openapi_extra={
        "parameters": [
            {
                "name": "location_id",
                "in": "query",
                "required": False,
                "schema": {"type": "string"},
                "description": "The office; required when there are several",
            }
        ],
        "requestBody": {
            "content": {"application/json": {"schema": {"type": "object", "example": EXAMPLE}}},
            "required": True,
        },
    },
    responses={
        200: {"description": "Stored (or a replay of a stored event); processed after"},
        400: {"description": "Not JSON"},
        401: {"description": "Bad, missing or stale signature"},
        413: {"description": "Over 256 KiB"},
        422: {"description": "Missing fields, or which office is unclear"},
        503: {"description": "CALENDLY_WEBHOOK_SIGNING_KEY is not set, or cannot store now"},
    },
)
async def calendly_webhook(request: Request, background: BackgroundTasks) -> JSONResponse:
    raw = await read_body(request)
    key = get_settings().calendly_webhook_signing_key
    if not key:
        raise NotConfigured(
            "Calendly is not configured here: set CALENDLY_WEBHOOK_SIGNING_KEY to the webhook "
            "subscription's signing key."
        )
    verify_signature(request.headers.get(SIGNATURE_HEADER), raw, key=key, now=time.time())
    try:
        data = jsonbody.loads(raw)
    except ValueError:
        raise BadRequest("The body is not valid JSON.") from None
    event = parse_event(data)
    if event is None:  # a subscription may carry event types we do not act on
        return JSONResponse({"received": True, "ignored": str(data.get("event"))[:64]})
    location = request.query_params.get("location_id", "").strip() or None
    try:
        event_pk, handled = await run_in_threadpool(_store, location, event, raw)
    except SQLAlchemyError as exc:
        raise StorageUnavailable("Cannot store the event right now; retry shortly.") from exc
    if not handled:
        background.add_task(inbox.process, event_pk, HANDLERS)  # type: ignore[arg-type]
    return JSONResponse({"received": True})
