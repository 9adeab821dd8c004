"""Typed configuration read from the environment and `.env` (see `.env.example`).

Every variable of DESIGN.md section 4 lives here and nowhere else; modules ask
`get_settings()` instead of reading `os.environ`, so a bad value is caught once, at start-up,
with one line naming the variable.
"""

from __future__ import annotations

import base64
import functools
import json
import os
import re
import secrets
from datetime import date, time
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from recovery_app.errors import ConfigurationError

# Where a development secret is kept between restarts, so sessions and unsubscribe links
# survive a reload of `make run`. Production must set SECRET_KEY explicitly.
DEV_SECRET_FILE = Path(".recovery_secret")
# Reflex's cap on production workers (reflex.utils.processes.MAX_BACKEND_WORKERS).
MAX_WORKERS = 8
# The Ed25519 public key GoHighLevel publishes for verifying its webhooks (SPKI, base64).
GHL_PUBLISHED_KEY = "MCowBQYDK2VwAyEAi2HR1srL4o18O8BRa7gVJY7G7bupbN3H9AwJrHCDiOg="


def is_production() -> bool:
    """True when Reflex runs in production mode (`reflex run --env prod`)."""
    return os.environ.get("REFLEX_ENV_MODE", "").lower() == "prod"


class Settings(BaseSettings):
    """The application's configuration; field names are the environment variable names."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
    )

    database_url: str = "sqlite:///recovery.db"
    # Connections per process (PostgreSQL). Production runs up to 8 worker processes, so the
    # default 5 + 5 overflow stays under PostgreSQL's default max_connections of 100; a busy
    # worker queues for a connection rather than being refused by the server.
    db_pool_size: int = Field(default=5, ge=1, le=100)
    db_max_overflow: int = Field(default=5, ge=0, le=100)
    # Sends in flight at once per worker process (each holds a connection only around its
    # short transactions, not during the provider call).
    dispatch_concurrency: int = Field(default=4, ge=1, le=32)
    redis_url: str | None = None
    # Granian's worker processes in production (Granian reads GRANIAN_WORKERS itself; rxconfig
    # sets it to `production_workers()` when unset). Also checked: see check_workers.
    granian_workers: int | None = Field(default=None, ge=1, le=64)
    app_base_url: str = "http://localhost:3000"
    secret_key: str | None = Field(default=None, repr=False)

    lead_webhook_secret: str | None = Field(default=None, repr=False)

    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = Field(default=None, repr=False)
    twilio_from_number: str | None = None
    # More numbers beside TWILIO_FROM_NUMBER that offices without numbers of their own share
    # (comma-separated E.164): each lead is texted from one of them, always the same, and
    # marketing is paced per number, so N numbers send N times as fast.
    twilio_from_numbers: str = ""
    twilio_messaging_service_sid: str | None = None
    # How many numbers the Messaging Service holds: marketing is paced at
    # SMS_PER_SECOND_PER_NUMBER times this for the service as a whole.
    twilio_messaging_service_numbers: int = Field(default=1, ge=1, le=10_000)
    twilio_api_base_url: str = "https://api.twilio.com"

    sendgrid_api_key: str | None = Field(default=None, repr=False)
    sendgrid_from_email: str | None = None
    sendgrid_unsubscribe_group_id: int | None = None
    sendgrid_api_base_url: str = "https://api.sendgrid.com"
    sendgrid_webhook_public_key: str | None = None

    # GoHighLevel's published Ed25519 key (X-GHL-Signature); override if they rotate it.
    ghl_webhook_public_key: str | None = GHL_PUBLISHED_KEY
    ghl_webhook_rsa_public_key: str | None = None

    # Calendly webhook signing key (Calendly-Webhook-Signature); unset: the Calendly webhook
    # answers 503 and nothing from Calendly is accepted.
    calendly_webhook_signing_key: str | None = Field(default=None, repr=False)

    # The Slack incoming webhook every office posts its alerts to unless it set its own in
    # Settings -> Office (a secret: whoever has it can post to the channel). Unset: offices
    # without their own URL have Slack alerts off.
    slack_webhook_url: str | None = Field(default=None, repr=False)

    # Apollo.io people match (lead enrichment): the key every office uses unless it set its own
    # in Settings -> Office (a secret). Enrichment stays off until an office turns it on.
    apollo_api_key: str | None = Field(default=None, repr=False)
    apollo_api_base_url: str = "https://api.apollo.io"

    # GoHighLevel's REST API (LeadConnector v2) for the two-way CRM sync; each office sets its
    # own token in Settings -> Office. The base URL is for tests and proxies. The burst limit is
    # GoHighLevel's documented 100 requests per 10 s per location (shared by every worker).
    ghl_api_base_url: str = "https://services.leadconnectorhq.com"
    ghl_burst_limit: int = Field(default=100, gt=0, le=10_000)
    ghl_burst_window_seconds: float = Field(default=10.0, gt=0, le=600)

    anthropic_api_key: str | None = Field(default=None, repr=False)
    anthropic_base_url: str | None = None
    anthropic_model: str | None = None
    anthropic_timeout_seconds: float = Field(default=30, gt=0, le=60)
    # Extra phrases AI drafts must never contain (comma-separated), on top of the built-in
    # Fair Housing list.
    fair_housing_blocklist: str = ""

    # Messaging: pacing (0 disables), marketing cap, prices for cost accounting, provider timeout.
    sms_per_second_per_number: float = Field(default=1.0, ge=0, le=1000)
    marketing_cap_per_day: int = Field(default=3, ge=0, le=100)
    sms_price_per_segment: float = Field(default=0.0083, ge=0)
    email_price: float = Field(default=0.001, ge=0)
    provider_timeout_seconds: float = Field(default=10, gt=0, le=60)
    # Stricter state windows for marketing SMS, e.g. "FL=08:00-20:00,OK=08:00-20:00", on top
    # of the state rules the engine ships (domain/compliance/state_rules.json)...
    state_quiet_hours: str = "FL=08:00-20:00"
    # ... and a JSON file of rules in that file's shape, merged over it: more states, other
    # hours, Sundays, holidays, caps, without a code change.
    state_rules_file: str | None = None
    # From this day an opt-out on one channel stops an office's marketing on every channel
    # (the FCC's revoke-all rule, 47 CFR 64.1200(a)(10)); offices may exempt a channel.
    revoke_all_from: date = date(2027, 1, 31)

    # Lead intake webhooks: requests per minute per tenant or API key (0 = unlimited).
    intake_rate_per_minute: int = Field(default=6000, ge=0)

    demo_mode: bool = False
    # A browser session ends after this many hours without activity.
    session_idle_hours: float = Field(default=12, gt=0, le=24 * 30)
    scheduler: Literal["embedded", "off"] = "embedded"
    sweep_interval_seconds: int = Field(default=60, gt=0, le=86_400)
    # How long a scheduler leader's lease lasts; it renews every third of it, so another
    # worker takes over at most this long after the leader dies.
    scheduler_lease_seconds: int = Field(default=30, ge=3, le=600)

    # Logs: our loggers' level, and "json" (one object per line) or "text"; unset, json in
    # production and text in development.
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "text"] | None = None
    # The largest request body any route accepts (the webhooks take at most 256 KiB and the
    # CSV import its file limit, whatever this says); larger ones get 413 before they are read.
    max_request_bytes: int = Field(default=1024 * 1024, ge=1024, le=64 * 1024 * 1024)

    @field_validator("database_url")
    @classmethod
    def _database_url_parses(cls, value: str) -> str:
        try:
            url = make_url(value)
        except ArgumentError as exc:
            msg = f"not a SQLAlchemy URL ({exc}); e.g. postgresql+psycopg://user:pass@host:5432/db"
            raise ValueError(msg) from exc
        if url.get_backend_name() not in {"sqlite", "postgresql"}:
            msg = f"unsupported database {url.get_backend_name()!r}; use sqlite or postgresql"
            raise ValueError(msg)
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url_scheme(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not value.startswith(("redis://", "rediss://", "unix://")):
            msg = "must start with redis://, rediss:// or unix://"
            raise ValueError(msg)
        return value

    @field_validator(
        "app_base_url",
        "twilio_api_base_url",
        "sendgrid_api_base_url",
        "apollo_api_base_url",
        "ghl_api_base_url",
    )
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            msg = "must be an http:// or https:// URL"
            raise ValueError(msg)
        return value.rstrip("/")

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower_format(cls, value: object) -> object:
        return (value.strip().lower() or None) if isinstance(value, str) else value

    @field_validator("calendly_webhook_signing_key", "apollo_api_key")
    @classmethod
    def _empty_is_unset(cls, value: str | None) -> str | None:
        return (value or "").strip() or None

    @field_validator("slack_webhook_url")
    @classmethod
    def _optional_webhook_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if not value.strip().startswith(("http://", "https://")):
            msg = "must be an https:// incoming-webhook URL (https://hooks.slack.com/services/...)"
            raise ValueError(msg)
        return value.strip()

    @field_validator("anthropic_base_url")
    @classmethod
    def _optional_http_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        return cls._http_url(value)

    @field_validator("sendgrid_webhook_public_key")
    @classmethod
    def _base64_key(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        try:
            base64.b64decode(value, validate=True)
        except ValueError as exc:
            msg = "must be the base64 DER public key SendGrid shows for the signed event webhook"
            raise ValueError(msg) from exc
        return value

    @field_validator("twilio_from_numbers")
    @classmethod
    def _e164_list(cls, value: str) -> str:
        for number in filter(None, (n.strip() for n in value.split(","))):
            if not re.fullmatch(r"\+[1-9]\d{6,14}", number):
                raise ValueError(f"{number!r}: numbers are E.164, like +15125550100")
        return value

    @property
    def shared_sms_numbers(self) -> tuple[str, ...]:
        """The numbers offices without their own text from: TWILIO_FROM_NUMBER first, then
        TWILIO_FROM_NUMBERS (empty with a Messaging Service, which picks the number itself)."""
        numbers = [self.twilio_from_number or ""]
        numbers += [n.strip() for n in self.twilio_from_numbers.split(",")]
        return tuple(dict.fromkeys(n for n in numbers if n))

    @field_validator("state_rules_file")
    @classmethod
    def _state_rules_file(cls, value: str | None) -> str | None:
        if not value:
            return None
        from recovery_app.domain.compliance.state_rules import parse

        try:
            parse(json.loads(Path(value).read_text()), source=value)
        except OSError as exc:
            raise ValueError(f"cannot read {value}: {exc.strerror}") from None
        except json.JSONDecodeError as exc:
            raise ValueError(f"{value} is not JSON: {exc}") from None
        return value

    @field_validator("state_quiet_hours")
    @classmethod
    def _state_rules_parse(cls, value: str) -> str:
        parse_state_rules(value)
        return value

    @property
    def state_rules(self) -> dict[str, tuple[time, time]]:
        return parse_state_rules(self.state_quiet_hours)

    @property
    def is_postgres(self) -> bool:
        return make_url(self.database_url).get_backend_name() == "postgresql"

    @property
    def twilio_configured(self) -> bool:
        return bool(
            self.twilio_account_sid
            and self.twilio_auth_token
            and (self.twilio_from_number or self.twilio_messaging_service_sid)
        )

    @property
    def sendgrid_configured(self) -> bool:
        return bool(self.sendgrid_api_key and self.sendgrid_from_email)

    def production_workers(self) -> int:
        """Workers `reflex run --env prod` starts: GRANIAN_WORKERS, else CPUs + 1 (at most 8)
        with REDIS_URL and one without. Reflex's own default is 2 x CPUs + 1, for workers that
        mostly wait; ours compute (intake, scoring, each worker's outbox dispatcher), and on 2
        cores 3 workers sustain 40 leads/s where 5 fall behind at 40 (bench/intake.py)."""
        if self.granian_workers is not None:
            return self.granian_workers
        if not self.redis_url:
            return 1
        return min((os.cpu_count() or 1) + 1, MAX_WORKERS)

    def check_workers(self) -> None:
        """Several workers share the browsers' state only through Redis: without it each one
        keeps its own, so a reconnect or an upload landing on another worker loses it."""
        if (self.granian_workers or 1) > 1 and not self.redis_url:
            raise ConfigurationError(
                f"GRANIAN_WORKERS: {self.granian_workers} workers need REDIS_URL (each worker "
                "would keep its own copy of every browser's state); set REDIS_URL, or "
                "GRANIAN_WORKERS=1"
            )

    def resolved_secret_key(self) -> str:
        """SECRET_KEY, or in development a random key persisted in `.recovery_secret`."""
        if self.secret_key:
            return self.secret_key
        if is_production():
            raise ConfigurationError(
                "SECRET_KEY: required in production; set it to a long random string "
                '(python -c "import secrets; print(secrets.token_urlsafe(48))")'
            )
        if DEV_SECRET_FILE.exists():
            return DEV_SECRET_FILE.read_text().strip()
        key = secrets.token_urlsafe(48)
        DEV_SECRET_FILE.write_text(key)
        DEV_SECRET_FILE.chmod(0o600)
        return key


def parse_state_rules(text: str) -> dict[str, tuple[time, time]]:
    """ "FL=08:00-20:00,OK=08:00-20:00" -> {"FL": (08:00, 20:00), ...}; ValueError if malformed."""
    rules: dict[str, tuple[time, time]] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        state, _, span = part.partition("=")
        start, _, end = span.partition("-")
        try:
            window = (time.fromisoformat(start.strip()), time.fromisoformat(end.strip()))
        except ValueError:
            raise ValueError(f"{part!r}: expected STATE=HH:MM-HH:MM") from None
        if len(state.strip()) != 2 or window[0] >= window[1]:
            raise ValueError(f"{part!r}: expected a 2-letter state and start before end")
        rules[state.strip().upper()] = window
    return rules


def describe_validation_error(exc: ValidationError) -> str:
    """One line per bad variable, each naming it the way the user spells it (upper case)."""
    lines = []
    for error in exc.errors():
        name = ".".join(str(part) for part in error["loc"]).upper() or "configuration"
        message = str(error["msg"]).removeprefix("Value error, ")
        lines.append(f"{name}: {message}")
    return "; ".join(lines)


@functools.cache
def get_settings() -> Settings:
    """The process-wide settings; raises ConfigurationError naming the bad variable."""
    try:
        return Settings()
    except ValidationError as exc:
        raise ConfigurationError(describe_validation_error(exc)) from None


def reload_settings() -> Settings:
    """Forget the cached settings (tests change the environment between cases)."""
    get_settings.cache_clear()
    return get_settings()
