"""The office profile (Settings -> Office): what the engine must know about an office to send
lawfully and count correctly - time zone, quiet and business hours, who messages come from,
the postal address marketing email carries, the attribution window, silence thresholds and
prices. Managers change it; every change is audited with what it was before."""

import re
from dataclasses import asdict, dataclass, field
from datetime import time
from typing import Any

import phonenumbers
from sqlalchemy.orm import Session

from recovery_app.domain.accounts.permissions import require_manager
from recovery_app.domain.accounts.schemas import Viewer
from recovery_app.domain.accounts.service import check_timezone, normalize_email
from recovery_app.domain.audit import service as audit
from recovery_app.errors import ValidationFailed
from recovery_app.models import Temperature, Tenant
from recovery_app.settings import get_settings

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
MAX_SILENCE_HOURS = 24 * 30
PRICE_KEYS = ("sms_segment_usd", "email_usd", "agent_hourly_usd")


@dataclass(frozen=True, slots=True)
class OfficeProfile:
    name: str
    timezone: str
    quiet_hours_start: str  # "21:00"
    quiet_hours_end: str  # "08:00"
    # day -> ("09:00", "18:00"); a day that is not here is closed.
    business_hours: dict[str, tuple[str, str]]
    sender_phone: str
    sender_email: str
    sender_name: str
    postal_address: str
    attribution_window_days: int
    silence_threshold_hours: int
    # temperature -> hours; a temperature that is not here uses the default threshold.
    silence_overrides: dict[str, int] = field(default_factory=dict)
    prices: dict[str, float] = field(default_factory=dict)


def default_prices() -> dict[str, float]:
    settings = get_settings()
    return {
        "sms_segment_usd": settings.sms_price_per_segment,
        "email_usd": settings.email_price,
        "agent_hourly_usd": 35.0,
    }


def prices_of(tenant: Tenant | None) -> dict[str, float]:
    """The office's prices over the deployment's defaults (SMS_PRICE_PER_SEGMENT, ...)."""
    own = ((tenant.preferences or {}).get("prices") or {}) if tenant else {}
    return default_prices() | {k: float(v) for k, v in own.items() if k in PRICE_KEYS}


def profile_of(tenant: Tenant) -> OfficeProfile:
    hours = tenant.business_hours or {}
    return OfficeProfile(
        name=tenant.name,
        timezone=tenant.timezone,
        quiet_hours_start=tenant.quiet_hours_start.strftime("%H:%M"),
        quiet_hours_end=tenant.quiet_hours_end.strftime("%H:%M"),
        business_hours={
            day: (str(hours[day][0]), str(hours[day][1]))
            for day in DAYS
            if isinstance(hours.get(day), list | tuple) and len(hours[day]) == 2
        },
        sender_phone=tenant.sender_phone or "",
        sender_email=tenant.sender_email or "",
        sender_name=tenant.sender_name or "",
        postal_address=tenant.postal_address or "",
        attribution_window_days=tenant.attribution_window_days,
        silence_threshold_hours=tenant.silence_threshold_hours,
        silence_overrides={
            str(k): int(v)
            for k, v in (tenant.silence_overrides or {}).items()
            if isinstance(v, int | float) and not isinstance(v, bool)
        },
        prices=prices_of(tenant),
    )


class _Form:
    """Reads a submitted form (strings) into typed values, collecting every problem."""

    def __init__(self, data: dict[str, Any]):
        self.data = data
        self.problems: dict[str, str] = {}

    def text(
        self, name: str, limit: int, *, required: bool = False, multiline: bool = False
    ) -> str:
        raw = str(self.data.get(name) or "")
        # A postal address keeps its lines; a name or a number is one line of single spaces.
        value = "\n".join(" ".join(line.split()) for line in raw.strip().splitlines())
        value = value if multiline else " ".join(value.split())
        if required and not value:
            self.problems[name] = "required"
        elif len(value) > limit:
            self.problems[name] = f"at most {limit} characters"
        return value[:limit]

    def clock(self, name: str, *, optional: bool = False) -> str:
        value = str(self.data.get(name) or "").strip()
        if optional and not value:
            return ""
        if not _CLOCK.match(value):
            self.problems[name] = "a time such as 09:00"
        return value

    def number(self, name: str, low: float, high: float, *, whole: bool, optional: bool = False):
        raw = str(self.data.get(name) or "").strip()
        if optional and not raw:
            return None
        try:
            value = int(raw) if whole else float(raw)
        except ValueError:
            self.problems[name] = "a whole number" if whole else "a number"
            return None
        if not low <= value <= high:
            self.problems[name] = f"between {low:g} and {high:g}"
            return None
        return value


def _phone(value: str, region: str, problems: dict[str, str]) -> str | None:
    if not value:
        return None
    try:
        number = phonenumbers.parse(value, region or "US")
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        problems["sender_phone"] = "a valid phone number, e.g. +1 512 555 0100"
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def update_profile(session: Session, *, viewer: Viewer, data: dict[str, Any]) -> OfficeProfile:
    """Check every field of the submitted profile (all problems at once), then save what
    changed and audit it. Fields not in `data` keep their value."""
    require_manager(viewer, "change the office profile")
    tenant = session.get(Tenant, viewer.tenant_id)
    assert tenant is not None
    before = profile_of(tenant)
    merged = _as_form(before) | {k: v for k, v in data.items() if v is not None}
    form = _Form(merged)
    name = form.text("name", 200, required=True)
    zone = str(merged.get("timezone") or "").strip()
    try:
        check_timezone(zone)
    except ValidationFailed:
        form.problems["timezone"] = "an IANA time zone such as America/Chicago"
    quiet_start, quiet_end = form.clock("quiet_hours_start"), form.clock("quiet_hours_end")
    hours: dict[str, tuple[str, str]] = {}
    for day in DAYS:
        opens = form.clock(f"{day}_open", optional=True)
        closes = form.clock(f"{day}_close", optional=True)
        if bool(opens) != bool(closes):
            form.problems[f"{day}_open"] = "both opening and closing times, or neither"
        elif opens and closes:
            if opens >= closes:
                form.problems[f"{day}_open"] = "opens before it closes"
            hours[day] = (opens, closes)
    phone = _phone(form.text("sender_phone", 30), tenant.default_region, form.problems)
    email_text = form.text("sender_email", 254)
    email = None
    if email_text:
        try:
            email = normalize_email(email_text, field="sender_email")
        except ValidationFailed as exc:
            form.problems.update(exc.fields)
    sender_name = form.text("sender_name", 120)
    address = form.text("postal_address", 500, multiline=True)
    window = form.number("attribution_window_days", 1, 365, whole=True)
    threshold = form.number("silence_threshold_hours", 1, MAX_SILENCE_HOURS, whole=True)
    overrides: dict[str, int] = {}
    for temperature in Temperature:
        value = form.number(
            f"silence_{temperature}", 1, MAX_SILENCE_HOURS, whole=True, optional=True
        )
        if value is not None:
            overrides[str(temperature)] = int(value)
    prices: dict[str, float] = {}
    for key, high in zip(PRICE_KEYS, (1.0, 1.0, 1000.0), strict=True):
        value = form.number(key, 0, high, whole=False)
        if value is not None:
            prices[key] = float(value)
    if form.problems:
        raise ValidationFailed("Some settings need a look.", fields=form.problems)

    tenant.name, tenant.timezone = name, zone
    tenant.quiet_hours_start = time.fromisoformat(quiet_start)
    tenant.quiet_hours_end = time.fromisoformat(quiet_end)
    tenant.business_hours = {day: list(span) for day, span in hours.items()}
    tenant.sender_phone, tenant.sender_email = phone, email
    tenant.sender_name, tenant.postal_address = sender_name or None, address or None
    tenant.attribution_window_days = int(window)
    tenant.silence_threshold_hours = int(threshold)
    tenant.silence_overrides = overrides
    tenant.preferences = dict(tenant.preferences or {}) | {"prices": prices}
    after = profile_of(tenant)
    changed = {k for k, v in asdict(after).items() if asdict(before)[k] != v}
    if changed:
        audit.record(
            session,
            action="tenant.profile_changed",
            entity_type="tenant",
            entity_id=tenant.id,
            tenant_id=tenant.id,
            actor=viewer,
            before={k: _plain(asdict(before)[k]) for k in sorted(changed)},
            after={k: _plain(asdict(after)[k]) for k in sorted(changed)},
        )
    return after


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: list(v) if isinstance(v, tuple) else v for k, v in value.items()}
    return value


def _as_form(profile: OfficeProfile) -> dict[str, Any]:
    """The profile as the form's fields (strings), so a partial update keeps the rest."""
    form: dict[str, Any] = {
        key: str(value)
        for key, value in asdict(profile).items()
        if key not in ("business_hours", "silence_overrides", "prices")
    }
    for day in DAYS:
        opens, closes = profile.business_hours.get(day, ("", ""))
        form[f"{day}_open"], form[f"{day}_close"] = opens, closes
    for temperature in Temperature:
        hours = profile.silence_overrides.get(str(temperature))
        form[f"silence_{temperature}"] = str(hours) if hours else ""
    for key in PRICE_KEYS:
        form[key] = f"{profile.prices[key]:g}"
    return form


def form_of(profile: OfficeProfile) -> dict[str, str]:
    """The profile's current values as the Settings form shows them."""
    return {k: str(v) for k, v in _as_form(profile).items()}
