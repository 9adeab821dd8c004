"""Log lines: one JSON object per line in production (time, level, logger, message, request_id
and the record's extra fields), a readable line in development; secrets scrubbed from both.

Message bodies are never logged by our code at all (log the message id instead); the scrubber
is the second line of defence for secrets: the configured secret values, bearer tokens, API keys
and signatures are replaced wherever they appear in a line.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import IO

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

from recovery_app.observability import request_id
from recovery_app.settings import Settings, get_settings, is_production

REDACTED = "[redacted]"
# Shapes of secrets that may reach a line without being one of our configured values: a
# caller's bearer token or API key, an HMAC signature header, a Slack webhook path.
SECRET_PATTERNS = [
    re.compile(r"(?i)(bearer\s+)[^\s\"',;]+"),
    re.compile(r"\b(rk_[0-9a-f]{8}_)[A-Za-z0-9_-]+"),
    re.compile(r"(?i)(sha256=)[0-9a-f]{16,}"),
    re.compile(r"(hooks\.slack\.com/services/)\S+"),
]
# Libraries that log request details at INFO: httpx logs every URL (a Slack webhook URL is a
# secret), the Twilio SDK logs query parameters (phone numbers) and headers. Kept at WARNING
# even when an operator turns the root logger up.
QUIET_LOGGERS = ("httpx", "httpcore", "twilio.http_client", "anthropic", "python_http_client")
_EXTRA_SKIP = {*RESERVED_ATTRS, "taskName", "request_id", "color_message"}


def configured_secrets(settings: Settings) -> list[str]:
    """Every secret value the settings hold (long enough that replacing it is unambiguous)."""
    values = [
        settings.secret_key,
        settings.lead_webhook_secret,
        settings.twilio_auth_token,
        settings.sendgrid_api_key,
        settings.anthropic_api_key,
        settings.calendly_webhook_signing_key,
        settings.slack_webhook_url,
        settings.apollo_api_key,
    ]
    return sorted({v for v in values if v and len(v) >= 6}, key=len, reverse=True)


def scrub(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    for pattern in SECRET_PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
    return text


class ContextFilter(logging.Filter):
    """Stamps every record with the current request id and scrubs secrets from its message
    and string extras (before any formatter sees them)."""

    def __init__(self, secrets: list[str]):
        super().__init__()
        self.secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            record.request_id = request_id.current()
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # bad %-args: logging reports it at emit, not here
            return True
        clean = scrub(message, self.secrets)
        if clean != message:
            record.msg, record.args = clean, None
        for key, value in list(vars(record).items()):
            if key not in _EXTRA_SKIP and isinstance(value, str):
                setattr(record, key, scrub(value, self.secrets))
        return True


class JsonLines(JsonFormatter):
    """`{"time", "level", "logger", "message", "request_id", "pid", ...extra}`; Reflex's own
    JSON log mode passes such lines through unchanged (they have "level" and "message")."""

    def __init__(self, secrets: list[str]) -> None:
        self.secrets = secrets
        super().__init__(
            # pid: production runs several worker processes on one port; it says which one
            # wrote the line (which dispatcher sent, which worker led the scheduler).
            "{levelname}{name}{message}{request_id}{process}",
            style="{",
            rename_fields={
                "levelname": "level",
                "name": "logger",
                "exc_info": "exception",
                "process": "pid",
            },
            timestamp="time",
            reserved_attrs=[*RESERVED_ATTRS, "taskName", "color_message"],
        )

    def format(self, record: logging.LogRecord) -> str:
        return scrub(super().format(record), self.secrets)  # the exception text too


class ReadableLines(logging.Formatter):
    """`15:04:05 INFO recovery_app.x [req] message key=value` for a developer's terminal."""

    def __init__(self, secrets: list[str]) -> None:
        self.secrets = secrets
        super().__init__("%(asctime)s %(levelname)s %(name)s %(context)s%(message)s", "%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        rid = getattr(record, "request_id", None)
        record.context = f"[{rid[:12]}] " if rid else ""
        line = super().format(record)
        extras = {k: v for k, v in vars(record).items() if k not in _EXTRA_SKIP | {"context"}}
        if extras:
            line += " " + " ".join(f"{k}={v}" for k, v in extras.items())
        return scrub(line, self.secrets)


class StderrHandler(logging.StreamHandler):
    """Writes to whatever `sys.stderr` is when a line is written (a given stream, if one is):
    test runners and Reflex's output supervision replace sys.stderr after start-up."""

    def __init__(self, stream: IO[str] | None = None):
        super().__init__()
        self._fixed = stream

    @property
    def stream(self) -> IO[str]:
        return self._fixed or sys.stderr

    @stream.setter
    def stream(self, value: IO[str] | None) -> None:
        self._fixed = value


def log_format(settings: Settings) -> str:
    return settings.log_format or ("json" if is_production() else "text")


def configure_logging(settings: Settings | None = None, stream: IO[str] | None = None) -> None:
    """Our loggers (`recovery_app.*`) at LOG_LEVEL, everything at WARNING and above, through
    one handler in LOG_FORMAT (json in production). Calling it again replaces that handler."""
    settings = settings or get_settings()
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "_recovery", False)]:
        root.removeHandler(handler)
    handler = StderrHandler(stream)
    handler._recovery = True  # type: ignore[attr-defined]
    secrets = configured_secrets(settings)
    formatter: logging.Formatter = (
        JsonLines(secrets) if log_format(settings) == "json" else ReadableLines(secrets)
    )
    handler.setFormatter(formatter)
    handler.addFilter(ContextFilter(secrets))
    root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > logging.WARNING:
        root.setLevel(logging.WARNING)
    logging.getLogger("recovery_app").setLevel(settings.log_level)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
