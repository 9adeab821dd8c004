"""Provider webhooks under /api/v1/webhooks. Each one verifies the provider's signature over the
raw body, stores the event in the inbox under its unique id, answers at once, and processes
afterwards (in the background; the inbox job retries what failed). A replay of a stored event
answers like the first time and changes nothing."""

import binascii
import hashlib
import json
from datetime import UTC, datetime
from urllib.parse import parse_qs

from fastapi import APIRouter, BackgroundTasks, Request, Response
from fastapi.responses import JSONResponse
from sendgrid.helpers.eventwebhook import EventWebhook
from twilio.request_validator import RequestValidator

from recovery_app.db import session_scope
from recovery_app.errors import RecoveryError, ValidationFailed
from recovery_app.messaging import inbox
from recovery_app.messaging.events import HANDLERS
from recovery_app.settings import get_settings

router = APIRouter(prefix="/webhooks", tags=["webhooks"])

MAX_BODY = 256 * 1024
TWIML_EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
SENDGRID_SIGNATURE = "X-Twilio-Email-Event-Webhook-Signature"
SENDGRID_TIMESTAMP = "X-Twilio-Email-Event-Webhook-Timestamp"


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
    if declared.isdigit() and int(declared) > MAX_BODY:
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


def _store_and_schedule(
    provider: str,
    event_id: str,
    raw: str,
    background: BackgroundTasks,
    headers: dict[str, str] | None = None,
    tenant_id: int | None = None,
) -> bool:
    with session_scope() as session:
        event, created = inbox.store(
            session,
            provider=provider,
            event_id=event_id,
            raw_body=raw,
            headers=headers,
            tenant_id=tenant_id,
            now=datetime.now(UTC),
        )
        event_pk, handled = event.id, event.handled_at is not None
    if not handled:
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
    _store_and_schedule("twilio_sms", params["MessageSid"], raw.decode(), background)
    return Response(TWIML_EMPTY, media_type="text/xml")


@router.post("/twilio/status", status_code=204, summary="Twilio delivery status callbacks")
async def twilio_status(request: Request, background: BackgroundTasks) -> Response:
    raw = await read_body(request)
    params = _twilio_params(request, raw)
    _require(params, "MessageSid", "MessageStatus")
    # One message gets several callbacks (sent, delivered...): each status is its own event.
    event_id = f"{params['MessageSid']}:{params['MessageStatus']}"
    _store_and_schedule("twilio_status", event_id, raw.decode(), background)
    return Response(status_code=204)


def _verify_sendgrid(request: Request, raw: bytes) -> None:
    key = get_settings().sendgrid_webhook_public_key
    if not key:
        return
    signature = request.headers.get(SENDGRID_SIGNATURE)
    timestamp = request.headers.get(SENDGRID_TIMESTAMP)
    if not signature or not timestamp:
        raise SignatureRequired(f"Missing {SENDGRID_SIGNATURE} / {SENDGRID_TIMESTAMP}.")
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
        events = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise BadRequest("The body is not JSON.") from None
    if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
        raise ValidationFailed(
            "Expected a JSON array of event objects.", fields={"body": "array of objects"}
        )
    created = 0
    for item in events:
        text = json.dumps(item, sort_keys=True, separators=(",", ":"))
        event_id = str(item.get("sg_event_id") or hashlib.sha256(text.encode()).hexdigest())
        tenant = str(item.get("tenant_id", ""))
        created += _store_and_schedule(
            "sendgrid",
            event_id,
            text,
            background,
            tenant_id=int(tenant) if tenant.isdigit() else None,
        )
    return JSONResponse({"received": len(events), "new": created})
