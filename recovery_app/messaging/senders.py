"""Which number a text goes out from, and how fast each may send.

An office texts from its own numbers (`sender_phone` plus `sender_pool`) when it has any;
otherwise from the numbers every office shares (TWILIO_FROM_NUMBER and TWILIO_FROM_NUMBERS),
or through the Messaging Service when one is configured (Twilio picks the number and keeps
each recipient on the same one). With several numbers a lead is always texted from the same
one - chosen from its phone, so no lookup is needed - which keeps a conversation on one
thread for the lead, and lets replies be attributed by the pair (number, phone).
"""

import hashlib
from collections.abc import Sequence

from recovery_app.models import Tenant
from recovery_app.settings import Settings, get_settings


def own_numbers(tenant: Tenant) -> tuple[str, ...]:
    """The office's own numbers: `sender_phone` first, then its pool."""
    numbers = [tenant.sender_phone or "", *(str(n) for n in tenant.sender_pool or [])]
    return tuple(dict.fromkeys(n for n in numbers if n))


def numbers_of(tenant: Tenant, settings: Settings | None = None) -> tuple[str, ...]:
    """The numbers this office texts from (empty: the Messaging Service picks)."""
    settings = settings or get_settings()
    return own_numbers(tenant) or settings.shared_sms_numbers


def pick(numbers: Sequence[str], phone: str) -> str:
    """The same number for the same phone, spread evenly over the pool."""
    if len(numbers) == 1:
        return numbers[0]
    digest = hashlib.sha256(phone.encode()).digest()
    return numbers[int.from_bytes(digest[:8], "big") % len(numbers)]


def sms_sender(tenant: Tenant, to_phone: str, settings: Settings | None = None) -> str | None:
    """What a text to `to_phone` goes out from: one of the office's numbers, else the
    Messaging Service's SID, else None (no SMS sender configured: the sandbox)."""
    settings = settings or get_settings()
    numbers = own_numbers(tenant)
    if numbers:
        return pick(numbers, to_phone)
    if settings.twilio_messaging_service_sid:
        return settings.twilio_messaging_service_sid
    shared = settings.shared_sms_numbers
    return pick(shared, to_phone) if shared else None


def per_second(sender: str, settings: Settings | None = None) -> float:
    """Marketing texts per second from this sender: SMS_PER_SECOND_PER_NUMBER, times the
    number of numbers when it is the Messaging Service (0: not paced)."""
    settings = settings or get_settings()
    rate = settings.sms_per_second_per_number
    if sender and sender == settings.twilio_messaging_service_sid:
        return rate * settings.twilio_messaging_service_numbers
    return rate


def is_service(sender: str | None, settings: Settings | None = None) -> bool:
    settings = settings or get_settings()
    return bool(sender) and sender == settings.twilio_messaging_service_sid
