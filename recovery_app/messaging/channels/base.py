"""The one small interface every channel implements. Adding an SMS provider means adding one
module with a class like these and naming it in `channels/__init__.py`."""

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol


class Outcome(StrEnum):
    SENT = "sent"  # the provider accepted it
    SIMULATED = "simulated"  # the sandbox recorded it; nothing left the building
    TRANSIENT = "transient"  # try again later (timeouts before sending, 429, 5xx)
    PERMANENT = "permanent"  # never retry (invalid number, unsubscribed, 4xx)
    UNKNOWN = "unknown"  # the request left and no answer came back: reconcile, don't resend


@dataclass(frozen=True, slots=True)
class Outgoing:
    """Everything a channel needs to send one message; no database objects cross this line."""

    message_id: int
    tenant_id: int
    to: str
    body: str
    subject: str | None = None
    sender: str | None = None  # E.164 number or email address of the tenant
    sender_name: str | None = None
    footer_address: str | None = None
    unsubscribe_url: str | None = None
    attempted_at: datetime | None = None
    custom: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SendResult:
    outcome: Outcome
    provider: str
    provider_id: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    retry_after_seconds: float | None = None
    # The number it went out from, when the provider chose it (a Messaging Service).
    sender: str | None = None


class Channel(Protocol):
    provider: str

    def send(self, message: Outgoing) -> SendResult:
        """Hand the message to the provider once; never raises for provider errors."""
        ...

    def reconcile(self, message: Outgoing) -> SendResult:
        """After an UNKNOWN outcome: did the provider take it? SENT (with its id) if so,
        TRANSIENT when it surely did not, UNKNOWN while it cannot tell yet."""
        ...
