"""Provider webhooks under /api/v1/webhooks. Each one verifies the provider's signature over the
raw body, stores the event in the inbox under its unique id, answers at once, and processes
afterwards (in the background; the inbox job retries what failed). A replay of a stored event
answers like the first time and changes nothing."""

import binascii
import hashlib
import json
import time
from datetime import UTC, datetime
from urllib.parse import parse_qs

from fastapi import APIRouter, BackgroundTasks, Request, Response
from fastapi.responses import JSONResponse
from sendgrid.helpers.eventwebhook import EventWebhook
from starlette.concurrency import run_in_threadpool
from twilio.request_validator import RequestValidator

from recovery_app import jsonbody
from recovery_app.db import session_scope
from recovery_app.domain.ids import ascii_int
from recovery_app.errors import RecoveryError, ValidationFailed
from recovery_app.messaging import inbox
from recovery_app.messaging.events import HANDLERS
from recovery_app.models import pk
from recovery_app.settings import get_settings

router = APIRouter(prefix="/webhooks", tags=["webhooks"])

MAX_BODY = 256 * 1024
TWIML_EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
SENDGRID_SIGNATURE = "X-Twilio-Email-Event-Webhook-Signature"
SENDGRID_TIMESTAMP = "X-Twilio-Email-Event-Webhook-Timestamp"
SENDGRID_TOLERANCE_SECONDS = 180


class PayloadTooLarge(RecoveryError):
    code = "payload_too_large"
    status = 413


class BadRequest(RecoveryError):
    code = "bad_request"
    status = 400


class SignatureRequired(RecoveryError):
    code = "unauthenticated"
    status = 401
    signature_failure = True  # counted for Settings -> Integrations (api.errors)


class SignatureInvalid(RecoveryError):
    code = "forbidden"
    status = 403
    signature_failure = True


async def read_body(request: Request) -> bytes:
    """The raw body, refused past 256 KiB whatever Content-Length claims."""
    declared = request.headers.get("content-length", "")
    if declared and (ascii_int(declared, maximum=2**62) or 0) > MAX_BODY:
        raise PayloadTooLarge(f"Body larger than {MAX_BODY // 1024} KiB.")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise PayloadTooLarge(f"Body larger than {MAX_BODY // 1024} KiB.")
    return bytes(body)


def _twilio_params(request: Request, raw: bytes) -> dict[str, str]:
    """Form fields of a Twilio callback after its X-Twilio-Signature checks out."""
    settings = get_settings()
    if not settings.twilio_auth_token:
        raise SignatureInvalid("Twilio is not configured here (TWILIO_AUTH_TOKEN is unset).")
    signature = request.headers.get("x-twilio-signature")
    if not signature:
        raise SignatureRequired("Missing X-Twilio-Signature.")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("The body is not UTF-8 form data.") from None
    params = {k: v[0] for k, v in parse_qs(text, keep_blank_values=True).items()}
    # Twilio signs the URL it was configured with: our public address plus the path.
    url = f"{settings.app_base_url}{request.url.path}"
    if request.url.query:
        url += f"?{request.url.query}"
    if not RequestValidator(settings.twilio_auth_token).validate(url, params, signature):
        raise SignatureInvalid("X-Twilio-Signature does not match.")
    return params


def _store_all(provider: str, events: list[tuple[str, str]]) -> tuple[int, list[int]]:
    """Store (event id, raw body) pairs in one transaction: (how many were new, the ids of
    those still to handle). Runs on a worker thread, off the event loop: a signed post of
    4,000 SendGrid events held up the worker's other requests and pages for seconds."""
    created, pending = 0, []
    with session_scope() as session:
        now = datetime.now(UTC)
        for event_id, raw in events:
            event, new = inbox.store(
                session, provider=provider, event_id=event_id, raw_body=raw, now=now
            )
            created += new
            if event.handled_at is None:
                pending.append(pk(event))
    return created, pending


async def _store_and_schedule(
    provider: str, events: list[tuple[str, str]], background: BackgroundTasks
) -> int:
    """Store the events, answer, then handle each one (stored first: never lost)."""
    created, pending = await run_in_threadpool(_store_all, provider, events)
    for event_pk in pending:
        background.add_task(inbox.process, event_pk, HANDLERS)  # type: ignore[arg-type]
    return created


def _require(params: dict[str, str], *names: str) -> None:
    missing = {name: "required" for name in names if not params.get(name)}
    if missing:
        raise ValidationFailed("The callback is missing Twilio parameters.", fields=missing)


@router.post("/twilio/sms", summary="Inbound SMS from Twilio (answers TwiML)")
async def twilio_sms(request: Request, background: BackgroundTasks) -> Response:
    raw = await read_body(request)
    params = _twilio_params(request, raw)
    _require(params, "MessageSid", "From", "To")
    await _store_and_schedule("twilio_sms", [(params["MessageSid"], raw.decode())], background)
    return Response(TWIML_EMPTY, media_type="text/xml")


@router.post("/twilio/status", status_code=204, summary="Twilio delivery status callbacks")
async def twilio_status(request: Request, background: BackgroundTasks) -> Response:
    raw = await read_body(request)
    params = _twilio_params(request, raw)
    _require(params, "MessageSid", "MessageStatus")
    # One message gets several callbacks (sent, delivered...): each status is its own event.
    event_id = f"{params['MessageSid']}:{params['MessageStatus']}"
    await _store_and_schedule("twilio_status", [(event_id, raw.decode())], background)
    return Response(status_code=204)


def _verify_sendgrid(request: Request, raw: bytes) -> None:
    key = get_settings().sendgrid_webhook_public_key
    if not key:
        return
    signature = request.headers.get(SENDGRID_SIGNATURE)
    timestamp = request.headers.get(SENDGRID_TIMESTAMP)
    if not signature or not timestamp:
        raise SignatureRequired(f"Missing {SENDGRID_SIGNATURE} / {SENDGRID_TIMESTAMP}.")
    stamp = ascii_int(timestamp, maximum=10**12)
    # A signature is good for a few minutes, not for ever: an old signed post replayed is
    # refused (Calendly's tolerance, which SendGrid's docs leave to the receiver).
    if stamp is None or abs(time.time() - stamp) > SENDGRID_TOLERANCE_SECONDS:
        raise SignatureRequired(
            f"{SENDGRID_TIMESTAMP} is not a Unix time within "
            f"{SENDGRID_TOLERANCE_SECONDS // 60} minutes of ours: refused as a possible replay."
        )
    try:
        valid = EventWebhook(key).verify_signature(raw.decode("utf-8"), signature, timestamp)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        valid = False
    if not valid:
        raise SignatureInvalid("The SendGrid event signature does not match.")


@router.post("/sendgrid/events", summary="SendGrid event webhook (JSON array)")
async def sendgrid_events(request: Request, background: BackgroundTasks) -> JSONResponse:
    raw = await read_body(request)
    _verify_sendgrid(request, raw)
    try:
        events = jsonbody.loads(raw)
    except ValueError:  # not JSON, not UTF-8, or nested deeper than any event is
        raise BadRequest("The body is not JSON.") from None
    if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
        raise ValidationFailed(
            "Expected a JSON array of event objects.", fields={"body": "array of objects"}
        )
    stored = []
    for item in events:
        text = json.dumps(item, sort_keys=True, separators=(",", ":"))
        event_id = str(item.get("sg_event_id") or hashlib.sha256(text.encode()).hexdigest())
        # The office is the matched message's (messaging/events.sendgrid_event), never a
        # custom argument: one odd event cannot fail the batch, or land in another office.
        stored.append((event_id, text))
    created = await _store_and_schedule("sendgrid", stored, background)
    return JSONResponse({"received": len(events), "new": created})
