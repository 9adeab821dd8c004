"""One error hierarchy for the whole engine.

Services raise these; API routes map them to `{"error": {"code", "message", "fields"?}}` with
`status`, and the Reflex backend exception handler shows `message` in a toast. Messages say what
was wrong and what to do about it.
"""

from __future__ import annotations

from typing import Any, ClassVar


class RecoveryError(Exception):
    """Base error: a message for humans, a stable code for machines, an HTTP status."""

    code: ClassVar[str] = "error"
    status: ClassVar[int] = 500

    def __init__(self, message: str, *, fields: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or {}

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.fields:
            body["fields"] = self.fields
        return {"error": body}


class ConfigurationError(RecoveryError):
    """A setting is missing or malformed; the message names the variable."""

    code = "configuration_error"
    status = 500


class ValidationFailed(RecoveryError):
    """Input that cannot be accepted; `fields` maps each bad field to what is wrong."""

    code = "validation_error"
    status = 422


class NotFound(RecoveryError):
    """The thing does not exist, or is not visible to the caller (never says which)."""

    code = "not_found"
    status = 404


class Unauthenticated(RecoveryError):
    """No valid session or key. `reason` tells the sign-in page what to say ("expired", ...)."""

    code = "unauthenticated"
    status = 401

    def __init__(self, message: str = "Please sign in.", *, reason: str = "sign_in") -> None:
        super().__init__(message)
        self.reason = reason


class Forbidden(RecoveryError):
    code = "forbidden"
    status = 403


class Conflict(RecoveryError):
    code = "conflict"
    status = 409


class RateLimited(RecoveryError):
    code = "rate_limited"
    status = 429

    def __init__(self, message: str, *, retry_after_seconds: int) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class StorageUnavailable(RecoveryError):
    """The database cannot take the write now; callers should retry later."""

    code = "storage_unavailable"
    status = 503
