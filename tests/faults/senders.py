"""Webhook senders that retry the way the real callers do, posting signed leads to a running
server: GoHighLevel (retries only a 429, after its Retry-After) and a generic form sender
(retries 5xx and connection errors with backoff). Every post's answers are recorded, so a test
can tell a lead the sender gave up on (lost) from one it had to retry."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
import phonenumbers
from cryptography.hazmat.primitives.asymmetric import ed25519

# Real area codes with the 555 exchange: valid numbers that belong to nobody.
AREA_CODES = ("512", "737", "210", "214", "469", "713", "303", "720", "415", "206")
GHL_RETRY_AFTER_CAP = 30.0  # what our server asks for; GoHighLevel's own cap is longer
FORM_BACKOFF = (0.5, 1.0, 2.0, 4.0)  # then 4 s between tries until the deadline


def midday_zone() -> str:
    """A time zone where it is early afternoon now, so quiet hours never hold a first SMS."""
    offset = 14 - datetime.now(UTC).hour
    offset = max(-12, min(14, offset if offset <= 14 else offset - 24))
    # Etc/GMT signs are inverted: Etc/GMT-3 is UTC+3.
    return "UTC" if offset == 0 else f"Etc/GMT{-offset:+d}"


def phone_numbers(count: int, *, start: int = 0) -> list[str]:
    """`count` distinct valid US numbers."""
    out, n = [], start
    while len(out) < count:
        area, rest = AREA_CODES[n // 10_000 % len(AREA_CODES)], n % 10_000
        n += 1
        number = f"+1{area}555{rest:04d}"
        if phonenumbers.is_valid_number(phonenumbers.parse(number)):
            out.append(number)
    return out


@dataclass(frozen=True)
class Post:
    """One lead as its caller sends it."""

    caller: str  # "ghl" or "form"
    path: str
    body: bytes
    headers: dict[str, str]
    email: str
    phone: str


@dataclass
class Delivery:
    post: Post
    answers: list[int] = field(default_factory=list)  # HTTP statuses; 0 = no answer
    accepted: bool = False
    seconds: list[float] = field(default_factory=list)  # each try's response time

    @property
    def retried(self) -> bool:
        return len(self.answers) > 1


@dataclass
class Callers:
    """Signing material for both callers, matching the server's environment."""

    location_id: str
    lead_secret: str
    ghl_key: ed25519.Ed25519PrivateKey = field(default_factory=ed25519.Ed25519PrivateKey.generate)

    def ghl_public_key(self) -> str:
        from cryptography.hazmat.primitives import serialization

        der = self.ghl_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return base64.b64encode(der).decode()

    def form_lead(self, run: str, n: int, phone: str, zone: str) -> Post:
        email = f"form.{run}.{n}@example.com"
        body = json.dumps(
            {
                "location_id": self.location_id,
                "first_name": "Form",
                "last_name": f"Lead {n}",
                "email": email,
                "phone": phone,
                "source": "web_form",
                "message": "Pre-approved, looking at 3-bed homes, moving in 2 months",
                "timezone": zone,
                "consent": {"sms": True, "email": True},
                "external_id": f"form-{run}-{n}",
                "value": 450_000,
            }
        ).encode()
        signature = (
            "sha256=" + hmac.new(self.lead_secret.encode(), body, hashlib.sha256).hexdigest()
        )
        headers = {"Content-Type": "application/json", "X-Signature-256": signature}
        return Post("form", "/api/v1/webhooks/leads", body, headers, email, phone)

    def ghl_contact(self, run: str, n: int, phone: str, zone: str) -> Post:
        email = f"ghl.{run}.{n}@example.com"
        body = json.dumps(
            {
                "type": "ContactCreate",
                "locationId": self.location_id,
                "id": f"contact-{run}-{n}",
                "webhookId": f"wh-{run}-{n}",
                "firstName": "Ghl",
                "lastName": f"Contact {n}",
                "email": email,
                "phone": phone,
                "timezone": zone,
                "source": "Facebook lead ad",
            }
        ).encode()
        headers = {
            "Content-Type": "application/json",
            "X-GHL-Signature": base64.b64encode(self.ghl_key.sign(body)).decode(),
        }
        return Post("ghl", "/api/v1/webhooks/ghl", body, headers, email, phone)

    def leads(self, run: str, count: int, *, callers: tuple[str, ...] = ("ghl", "form")) -> list:
        """`count` new people, alternating between the callers."""
        zone = midday_zone()
        make = {"ghl": self.ghl_contact, "form": self.form_lead}
        return [
            make[callers[n % len(callers)]](run, n, phone, zone)
            for n, phone in enumerate(phone_numbers(count))
        ]


def _retry_wait(delivery: Delivery, response: httpx.Response | None) -> float | None:
    """How long the caller waits before trying again, or None when it gives up."""
    status = response.status_code if response is not None else 0
    if delivery.post.caller == "ghl":
        # GoHighLevel retries a webhook only when it is answered 429.
        if status != 429:
            return None
        assert response is not None
        return min(GHL_RETRY_AFTER_CAP, float(response.headers.get("Retry-After") or 10))
    if status == 0 or status >= 500:
        tries = len(delivery.answers)
        return FORM_BACKOFF[min(tries, len(FORM_BACKOFF)) - 1]
    return None


async def _deliver(
    client: httpx.AsyncClient,
    base_url: str,
    delivery: Delivery,
    gate: asyncio.Semaphore,
    deadline: float,
) -> None:
    post = delivery.post
    while time.monotonic() < deadline:
        started = time.monotonic()
        response: httpx.Response | None = None
        async with gate:
            try:
                response = await client.post(
                    base_url + post.path, content=post.body, headers=post.headers
                )
            except httpx.HTTPError:
                response = None
        delivery.seconds.append(time.monotonic() - started)
        delivery.answers.append(response.status_code if response is not None else 0)
        if response is not None and response.status_code < 300:
            delivery.accepted = True
            return
        wait = _retry_wait(delivery, response)
        if wait is None:
            return  # the caller gave up: this lead is lost unless the server kept it
        await asyncio.sleep(wait)


async def _send_all(
    base_url: str, posts: list[Post], rate: float, in_flight: int, seconds: float
) -> list[Delivery]:
    deliveries = [Delivery(post) for post in posts]
    gate = asyncio.Semaphore(in_flight)
    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=in_flight, max_keepalive_connections=in_flight)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def one(i: int, delivery: Delivery) -> None:
            await asyncio.sleep(i / rate)  # first tries leave at `rate` a second
            await _deliver(client, base_url, delivery, gate, deadline)

        await asyncio.gather(*(one(i, d) for i, d in enumerate(deliveries)))
    return deliveries


def send_all(
    base_url: str, posts: list[Post], *, rate: float, in_flight: int = 24, seconds: float = 240
) -> list[Delivery]:
    """Post every lead (first tries at `rate` a second, at most `in_flight` at once), each
    retried as its caller would until accepted, given up, or `seconds` have passed."""
    return asyncio.run(_send_all(base_url, posts, rate, in_flight, seconds))


def lost(deliveries: list[Delivery]) -> list[Delivery]:
    return [d for d in deliveries if not d.accepted]
