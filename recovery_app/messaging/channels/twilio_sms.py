"""SMS through Twilio's Messages API with the official SDK (base URL from TWILIO_API_BASE_URL).

Twilio has no idempotency key, so a request that timed out after it left is never simply sent
again: `reconcile` lists recent messages to the number and looks for ours.
"""

from datetime import UTC, datetime, timedelta

import requests
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from recovery_app.messaging.channels.base import Outcome, Outgoing, SendResult
from recovery_app.settings import Settings

VALIDITY_SECONDS = 3600  # a text Twilio could not send within an hour is stale
# Twilio error codes that will not get better by retrying.
PERMANENT_CODES = {
    21211: "Invalid 'To' phone number",
    21214: "'To' phone number cannot be reached",
    21408: "Permission to send to this region is not enabled",
    21610: "The recipient has unsubscribed (replied STOP)",
    21612: "The 'To' number cannot receive messages from this sender",
    21614: "'To' number is not a valid mobile number",
    30004: "Message blocked",
    30005: "Unknown destination handset",
    30006: "Landline or unreachable carrier",
}


class TwilioSms:
    provider = "twilio"

    def __init__(self, settings: Settings):
        self.settings = settings
        self.client = Client(
            settings.twilio_account_sid,
            settings.twilio_auth_token,
            http_client=TwilioHttpClient(timeout=settings.provider_timeout_seconds),
        )
        # The SDK addresses api.twilio.com; tests and benchmarks point it at a local server.
        self.client.api.base_url = settings.twilio_api_base_url

    def _sender(self, message: Outgoing) -> dict[str, str]:
        # A number (the office's own, or one of the shared ones) is sent from; else the
        # Messaging Service, which picks a number of its pool.
        if message.sender and message.sender.startswith("+"):
            return {"from_": message.sender}
        if self.settings.twilio_messaging_service_sid:
            return {"messaging_service_sid": self.settings.twilio_messaging_service_sid}
        return {"from_": message.sender or self.settings.twilio_from_number or ""}

    def send(self, message: Outgoing) -> SendResult:
        try:
            created = self.client.messages.create(
                to=message.to,
                body=message.body,
                status_callback=f"{self.settings.app_base_url}/api/v1/webhooks/twilio/status",
                validity_period=VALIDITY_SECONDS,
                **self._sender(message),
            )
        except TwilioRestException as exc:
            return self._error(exc)
        except requests.exceptions.ConnectionError as exc:
            # Includes ConnectTimeout: the request never reached Twilio, so sending again is safe.
            return SendResult(
                Outcome.TRANSIENT, self.provider, error_code="connect", error_message=str(exc)[:500]
            )
        except requests.exceptions.Timeout as exc:
            # A read timeout: Twilio may have taken it. Reconcile before any resend.
            return SendResult(
                Outcome.UNKNOWN, self.provider, error_code="timeout", error_message=str(exc)[:500]
            )
        chosen = getattr(created, "from_", None)
        return SendResult(
            Outcome.SENT,
            self.provider,
            provider_id=created.sid,
            sender=chosen if isinstance(chosen, str) and chosen.startswith("+") else None,
        )

    def _error(self, exc: TwilioRestException) -> SendResult:
        code = exc.code
        if code in PERMANENT_CODES:
            return SendResult(
                Outcome.PERMANENT,
                self.provider,
                error_code=str(code),
                error_message=PERMANENT_CODES[code],
            )
        if exc.status == 429 or exc.status >= 500:
            return SendResult(
                Outcome.TRANSIENT,
                self.provider,
                error_code=str(code or exc.status),
                error_message=str(exc.msg)[:500],
            )
        return SendResult(
            Outcome.PERMANENT,
            self.provider,
            error_code=str(code or exc.status),
            error_message=str(exc.msg)[:500],
        )

    def reconcile(self, message: Outgoing) -> SendResult:
        attempted = message.attempted_at or datetime.now(UTC)
        since = attempted - timedelta(minutes=5)
        try:
            recent = self.client.messages.list(to=message.to, date_sent_after=since, limit=50)
        except (TwilioRestException, requests.exceptions.RequestException) as exc:
            return SendResult(
                Outcome.UNKNOWN, self.provider, error_code="reconcile", error_message=str(exc)[:500]
            )
        for candidate in recent:
            if candidate.body == message.body:
                return SendResult(Outcome.SENT, self.provider, provider_id=candidate.sid)
        return SendResult(
            Outcome.TRANSIENT,
            self.provider,
            error_code="timeout",
            error_message="not found at Twilio",
        )
