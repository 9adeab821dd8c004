"""Lead intake webhooks: POST /api/v1/webhooks/leads (web forms, any system with an API key or
the shared HMAC secret) and POST /api/v1/webhooks/ghl (GoHighLevel)."""

import base64
import binascii
import hashlib
import hmac
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa
from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.responses import JSONResponse
from sqlalchemy import delete, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import col
from starlette.concurrency import run_in_threadpool

from recovery_app import jsonbody
from recovery_app.api.deps import client_ip
from recovery_app.api.ratelimit import limiter
from recovery_app.api.webhooks import BadRequest, SignatureInvalid, SignatureRequired, read_body
from recovery_app.db import session_scope
from recovery_app.domain.accounts import api_keys
from recovery_app.domain.accounts.repository import tenant_by_location
from recovery_app.domain.enrichment import service as enrichment
from recovery_app.domain.leads.intake import (
    IntakePayload,
    intake,
    normalize,
    parse_payload,
    run_intake,
)
from recovery_app.errors import (
    Conflict,
    Forbidden,
    RecoveryError,
    StorageUnavailable,
    ValidationFailed,
)
from recovery_app.messaging import inbox
from recovery_app.messaging.events import HANDLERS
from recovery_app.models import Lead, Tenant, WebhookEvent, pk
from recovery_app.observability import metrics
from recovery_app.settings import get_settings

router = APIRouter(prefix="/webhooks", tags=["intake"])


class UnsupportedMediaType(RecoveryError):
    code = "unsupported_media_type"
    status = 415


def _json(raw: bytes, content_type: str | None) -> Any:
    if content_type and "json" not in content_type.lower():
        raise UnsupportedMediaType(
            f"Send JSON (Content-Type: application/json), not {content_type}."
        )
    try:
        return jsonbody.loads(raw)
    except ValueError:  # includes JSONDecodeError and UnicodeDecodeError
        raise BadRequest("The body is not valid JSON.") from None


def _lead_caller(headers: Any, raw: bytes) -> tuple[int | None, str]:
    """(tenant id from the API key, or None for the shared secret; the rate-limit key)."""
    authorization = headers.get("authorization")
    if authorization:
        scheme, _, key = authorization.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise SignatureRequired("Use Authorization: Bearer <api key>.")
        with session_scope() as session:
            viewer = api_keys.authenticate(session, key=key.strip(), now=datetime.now(UTC))
        return viewer.tenant_id, f"key:{viewer.api_key_prefix}"
    signature = headers.get("x-signature-256")
    if not signature:
        raise SignatureRequired("Sign the body (X-Signature-256: sha256=<hex>) or send an API key.")
    secret = get_settings().lead_webhook_secret
    if not secret:
        raise SignatureRequired(
            "LEAD_WEBHOOK_SECRET is not set on this server; send an API key instead."
        )
    expected = "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(signature.strip().lower(), expected):
        raise SignatureRequired("X-Signature-256 does not match the body.")
    return None, "secret"


def _tenant_for(session: Any, tenant_id: int | None, data: dict[str, Any]) -> Tenant:
    location = data.get("location_id")
    if tenant_id is not None:
        tenant = session.get(Tenant, tenant_id)
        assert tenant is not None
        if (
            isinstance(location, str)
            and location.strip()
            and location.strip() != tenant.location_id
        ):
            raise Forbidden(
                "This API key belongs to another location; send leads for it with its own key."
            )
        return tenant
    if isinstance(location, str) and location.strip():
        tenant = tenant_by_location(session, location.strip())
        if tenant is None:
            raise ValidationFailed(
                "Unknown location.",
                fields={"location_id": f"no tenant has location id {location!r}"},
            )
        return tenant
    tenants = (
        session.execute(select(Tenant).where(col(Tenant.demo_expires_at).is_(None)).limit(2))
        .scalars()
        .all()
    )
    if len(tenants) == 1:
        return tenants[0]
    raise ValidationFailed(
        "Which office is this lead for?",
        fields={"location_id": "required when there are several tenants"},
    )


class KeyReused(Conflict):
    code = "idempotency_key_reused"


def _event_id(headers: Any, data: dict[str, Any], raw: bytes, credential: str) -> str:
    """The post's key - Idempotency-Key, else external_id, else a hash of the body - scoped
    to the credential that sent it (one API key, or the shared secret), as Stripe scopes its
    idempotency keys to the account's key: two senders may use the same ids."""
    key = headers.get("idempotency-key") or data.get("external_id")
    if isinstance(key, str | int) and not isinstance(key, bool) and str(key).strip():
        key = str(key).strip()
    else:
        key = hashlib.sha256(raw).hexdigest()
    scoped = f"{credential}:{key}"
    # Long keys are kept whole in effect: the stored id is their hash.
    return scoped if len(scoped) <= 200 else "sha256:" + hashlib.sha256(scoped.encode()).hexdigest()


def _same_body(event: WebhookEvent, data: dict[str, Any]) -> bool:
    """A replay is the same key with the same JSON (key order and spacing aside)."""
    try:
        return jsonbody.loads(event.raw_body.encode("utf-8")) == data
    except ValueError:
        return False


def handle_lead(headers: Any, raw: bytes, ip: str | None, received_at: datetime) -> JSONResponse:
    tenant_id, rate_key = _lead_caller(headers, raw)
    data = _json(raw, headers.get("content-type"))
    if not isinstance(data, dict):
        raise ValidationFailed("Expected a JSON object.", fields={"body": "a JSON object"})
    # One transaction finds the tenant, counts the post against its limit and stores the event
    # (a refused post rolls back: nothing is stored).
    try:
        with session_scope() as session:
            tenant = _tenant_for(session, tenant_id, data)
            tenant_pk, region = pk(tenant), tenant.default_region
            limiter().hit(
                rate_key if rate_key != "secret" else f"tenant:{tenant_pk}",
                limit=get_settings().intake_rate_per_minute,
            )
            event, created = inbox.store(
                session,
                provider="leads",
                event_id=f"{tenant_pk}:{_event_id(headers, data, raw, rate_key)}",
                raw_body=raw.decode("utf-8"),
                tenant_id=tenant_pk,
                now=received_at,
            )
            if not created and not _same_body(event, data):
                # Stores nothing (the transaction rolls back): the first post's lead stands.
                raise KeyReused(
                    "This Idempotency-Key (or external_id) was already used with a different "
                    "body. Send the same body to repeat a post, or a new key for a new lead.",
                    fields={"idempotency_key": "already used with another body"},
                )
            event_pk, stored = pk(event), (event.response if event.handled_at else None)
    except SQLAlchemyError as exc:
        raise StorageUnavailable("Cannot store the lead right now; retry shortly.") from exc
    if stored:  # a replay: the same answer as the first time
        metrics.INTAKE.labels("webhook", "unknown", "replay").inc()
        return JSONResponse(stored.get("body", {}), status_code=int(stored.get("status", 200)))
    try:
        person = normalize(parse_payload(data), region=region)
    except ValidationFailed:
        # A refusal caused by the body is not the answer for its key: corrected and sent
        # again under the same key, the post is taken.
        _forget(event_pk)
        raise

    def work():  # type: ignore[no-untyped-def]
        with session_scope() as session:
            result = intake(
                session,
                # The row read a moment ago, attached without reading it again.
                tenant=session.merge(tenant, load=False),
                person=person,  # type: ignore[arg-type]
                received_at=received_at,
                via="webhook",
                ip=ip,
            )
            status = 201 if result.created else 200
            session.execute(
                update(WebhookEvent)
                .where(col(WebhookEvent.id) == event_pk)
                .values(
                    handled_at=received_at,
                    error=None,
                    response={"status": status, "body": result.body()},
                    attempts=col(WebhookEvent.attempts) + 1,
                )
                .execution_options(synchronize_session=False)
            )
            return result

    try:
        result = run_intake(work)
    except SQLAlchemyError as exc:
        raise StorageUnavailable("Cannot store the lead right now; retry shortly.") from exc
    body = result.body()
    if result.enrichment_pending:
        # The lead is stored and its first response queued; now give Apollo at most 2 s, so
        # the answer usually carries the enriched score. Slower, down or refused: the
        # enrich_leads job finishes it and rescores the lead.
        enrichment.enrich_now(result.lead_id, now=datetime.now(UTC))
        body = _fresh_score(event_pk, body)
    return JSONResponse(body, status_code=201 if result.created else 200)


def _fresh_score(event_pk: int, body: dict[str, Any]) -> dict[str, Any]:
    """The lead's score after enrichment, also kept as the answer a replay gets."""
    try:
        with session_scope() as session:
            lead = session.get(Lead, body["lead_id"])
            if lead is None or lead.score == body["score"]:
                return body
            body = body | {"score": lead.score, "temperature": str(lead.temperature)}
            event = session.get(WebhookEvent, event_pk)
            if event is not None and event.response:
                event.response = dict(event.response) | {"body": body}
            return body
    except SQLAlchemyError:
        return body  # the lead is stored; only the score in this answer is older


def _forget(event_pk: int) -> None:
    with session_scope() as session:
        session.execute(delete(WebhookEvent).where(col(WebhookEvent.id) == event_pk))


LEAD_BODY = {
    "content": {
        "application/json": {
            "schema": {
                **IntakePayload.model_json_schema(),
                "additionalProperties": True,
                "example": {
                    "location_id": "harborview-austin",
                    "first_name": "Maria",
                    "last_name": "Lopez",
                    "email": "maria@example.com",
                    "phone": "+15125550123",
                    "source": "web_form",
                    "message": "Pre-approved, looking at 3-bed homes in Mueller",
                    "timezone": "America/Chicago",
                    "consent": {"sms": True, "email": True},
                    "external_id": "form-8812",
                    "value": 550000,
                },
            }
        }
    },
    "required": True,
}


@router.post(
    "/leads",
    status_code=201,
    summary="Lead intake (HMAC X-Signature-256 or Bearer API key)",
    openapi_extra={"requestBody": LEAD_BODY},
    responses={
        200: {"description": "Same person: merged"},
        400: {"description": "Not JSON"},
        401: {"description": "Bad or missing signature/key"},
        413: {"description": "Over 256 KiB"},
        415: {"description": "Not JSON content"},
        409: {"description": "The key was used before with another body; nothing stored"},
        422: {"description": "Field errors (not kept as the key's answer)"},
        429: {"description": "Rate limited"},
        503: {"description": "Cannot store now; retry"},
    },
)
async def lead_webhook(request: Request) -> JSONResponse:
    received_at = datetime.now(UTC)
    try:
        raw = await read_body(request)
        return await run_in_threadpool(
            handle_lead, request.headers, raw, client_ip(request), received_at
        )
    except RecoveryError as exc:
        # Accepted leads are counted by intake() once committed; refusals leave no lead.
        metrics.INTAKE.labels("webhook", "unknown", REFUSALS.get(exc.status, "rejected")).inc()
        raise


# The intake metric's result for a refused post, by the status it was answered with.
REFUSALS = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    413: "too_large",
    409: "conflict",
    415: "bad_request",
    422: "rejected",
    429: "rate_limited",
    503: "unavailable",
}


# ---------------------------------------------------------------------------- GoHighLevel
def _public_key(text: str) -> Any:
    """A PEM or bare base64 SPKI public key."""
    body = "".join(line for line in text.strip().splitlines() if "-----" not in line)
    return serialization.load_der_public_key(base64.b64decode(body))


def verify_ghl(headers: Any, raw: bytes) -> None:
    settings = get_settings()
    signature = headers.get("x-ghl-signature")
    legacy = headers.get("x-wh-signature")
    try:
        if signature and settings.ghl_webhook_public_key:
            key = _public_key(settings.ghl_webhook_public_key)
            if not isinstance(key, ed25519.Ed25519PublicKey):
                raise SignatureInvalid("GHL_WEBHOOK_PUBLIC_KEY is not an Ed25519 key.")
            key.verify(base64.b64decode(signature), raw)
            return
        if legacy and settings.ghl_webhook_rsa_public_key:
            key = _public_key(settings.ghl_webhook_rsa_public_key)
            if not isinstance(key, rsa.RSAPublicKey):
                raise SignatureInvalid("GHL_WEBHOOK_RSA_PUBLIC_KEY is not an RSA key.")
            key.verify(base64.b64decode(legacy), raw, padding.PKCS1v15(), hashes.SHA256())
            return
    except (InvalidSignature, binascii.Error, ValueError):
        raise SignatureInvalid("The GoHighLevel signature does not match.") from None
    raise SignatureRequired(
        "Missing X-GHL-Signature (or X-WH-Signature with the legacy RSA key configured)."
    )


class GhlBusy(RecoveryError):
    # GoHighLevel retries a webhook only when it gets 429.
    code = "rate_limited"
    status = 429


@router.post("/ghl", summary="GoHighLevel webhooks (contacts, inbound messages)")
async def ghl_webhook(request: Request, background: BackgroundTasks) -> JSONResponse:
    raw = await read_body(request)
    verify_ghl(request.headers, raw)
    data = _json(raw, request.headers.get("content-type"))
    if not isinstance(data, dict):
        raise ValidationFailed("Expected a JSON object.", fields={"body": "a JSON object"})
    event_id = str(data.get("webhookId") or hashlib.sha256(raw).hexdigest())

    def store() -> tuple[int, bool]:
        with session_scope() as session:
            event, _ = inbox.store(
                session,
                provider="ghl",
                event_id=event_id,
                raw_body=raw.decode("utf-8"),
                now=datetime.now(UTC),
            )
            return pk(event), event.handled_at is not None

    try:
        event_pk, handled = await run_in_threadpool(store)
    except SQLAlchemyError:
        error = GhlBusy("Cannot store the event right now; retry later.")
        return JSONResponse(error.to_dict(), status_code=429, headers={"Retry-After": "30"})
    if not handled:
        background.add_task(inbox.process, event_pk, HANDLERS)  # type: ignore[arg-type]
    return JSONResponse({"received": True})
