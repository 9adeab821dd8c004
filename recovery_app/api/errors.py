"""Every error answers `{"error": {"code", "message", "fields"?}}`."""

import asyncio
import logging
from datetime import UTC, datetime

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from recovery_app.db import session_scope
from recovery_app.domain.accounts.integrations import provider_of_path, record_signature_failure
from recovery_app.errors import RateLimited, RecoveryError

logger = logging.getLogger(__name__)

HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    503: "unavailable",
}


def error_body(code: str, message: str, fields: dict[str, str] | None = None) -> dict:
    body: dict = {"code": code, "message": message}
    if fields:
        body["fields"] = fields
    return {"error": body}


def _count_signature_failure(provider: str) -> None:
    try:
        with session_scope() as session:
            record_signature_failure(session, provider=provider, now=datetime.now(UTC))
    except Exception:  # the refusal is answered either way; the counter is best effort
        logger.warning("could not count a %s signature failure", provider, exc_info=True)


async def _recovery_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RecoveryError)
    if getattr(exc, "signature_failure", False):
        provider = provider_of_path(request.url.path)
        if provider:
            await asyncio.to_thread(_count_signature_failure, provider)
    headers = {}
    if isinstance(exc, RateLimited):
        headers["Retry-After"] = str(exc.retry_after_seconds)
    return JSONResponse(exc.to_dict(), status_code=exc.status, headers=headers)


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = HTTP_CODES.get(exc.status_code, "error")
    return JSONResponse(
        error_body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers
    )


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    fields = {
        ".".join(str(p) for p in err["loc"] if p not in ("body", "query", "path")) or "body": err[
            "msg"
        ]
        for err in exc.errors()
    }
    return JSONResponse(
        error_body("validation_error", "Some fields are invalid.", fields), status_code=422
    )


async def _data_error(_request: Request, exc: Exception) -> JSONResponse:
    """The database refused a value as sent (a number past BIGINT, a NUL character): the
    request's fault, answered 400 - the routes bound and clean what they know of, this is
    the net under the rest."""
    logger.info("refused a value the database cannot hold: %s", type(exc).__name__)
    return JSONResponse(
        error_body(
            "bad_request",
            "A value in the request cannot be stored as sent (a number too large, or a NUL "
            "character).",
        ),
        status_code=400,
    )


def install_error_handlers(api: FastAPI) -> None:
    api.add_exception_handler(DataError, _data_error)
    api.add_exception_handler(RecoveryError, _recovery_error)
    api.add_exception_handler(StarletteHTTPException, _http_error)
    api.add_exception_handler(RequestValidationError, _validation_error)
