"""The one way this app calls other companies' HTTP APIs (the AI drafter uses Anthropic's SDK,
Twilio and SendGrid their own; everything else comes through here).

An `Outbound` is one integration's async `httpx` client: a timeout on every call, retries with
exponential backoff and jitter on 408/429/5xx and transport errors, `Retry-After` honoured (a
wait longer than the call's budget ends the call with `RetryLater` instead of stalling the
caller), and a circuit breaker per integration shared by the whole process, so an integration
that is down costs one fast refusal per call instead of a timeout each.

Scheduler jobs and page handlers reach the domain from worker threads without an event loop;
`run_blocking` runs a coroutine there.
"""

from __future__ import annotations

import asyncio
import ipaddress
import random
import socket
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx

T = TypeVar("T")

USER_AGENT = "lead-recovery-engine/1 (+https://github.com/)"
# 408 request timeout, 425 too early, 429 rate limited; every 5xx is retried too.
RETRIED_STATUSES = frozenset({408, 425, 429})


class CircuitBreaker:
    """Opens after `threshold` failed calls within `window` seconds; while open nothing is tried;
    after `cooldown` exactly one trial call decides (success closes it, failure reopens it)."""

    def __init__(
        self,
        threshold: int = 5,
        window: float = 60.0,
        cooldown: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.threshold, self.window, self.cooldown, self.clock = threshold, window, cooldown, clock
        self.failures: deque[float] = deque()
        self.opened_at: float | None = None
        self.trial = False
        self.lock = threading.Lock()

    def allow(self) -> bool:
        with self.lock:
            if self.opened_at is None:
                return True
            if not self.trial and self.clock() - self.opened_at >= self.cooldown:
                self.trial = True  # half-open: this caller's call is the trial
                return True
            return False

    def succeeded(self) -> None:
        with self.lock:
            self.failures.clear()
            self.opened_at, self.trial = None, False

    def failed(self) -> None:
        with self.lock:
            now = self.clock()
            if self.trial:
                self.opened_at, self.trial = now, False
                return
            if self.opened_at is not None:
                return  # a call begun before it opened: already counted as open
            self.failures.append(now)
            while self.failures and now - self.failures[0] > self.window:
                self.failures.popleft()
            if len(self.failures) >= self.threshold:
                self.opened_at = now
                self.failures.clear()

    @property
    def is_open(self) -> bool:
        return self.opened_at is not None


_breakers: dict[str, CircuitBreaker] = {}
_breakers_lock = threading.Lock()


def breaker_for(integration: str) -> CircuitBreaker:
    """The process's breaker for `integration` (created on first use)."""
    with _breakers_lock:
        return _breakers.setdefault(integration, CircuitBreaker())


def open_breakers() -> list[str]:
    """Integrations whose breaker is open in this process right now."""
    with _breakers_lock:
        return sorted(name for name, breaker in _breakers.items() if breaker.is_open)


def reset_breakers() -> None:
    """Forget every integration's breaker (tests; a fresh process starts closed anyway)."""
    with _breakers_lock:
        _breakers.clear()


def retry_after_seconds(headers: Mapping[str, str] | Any) -> float | None:
    """Seconds the server asks us to wait: `retry-after-ms`, `retry-after` seconds or an HTTP
    date; None when it says nothing readable."""
    try:
        if headers.get("retry-after-ms"):
            return max(0.0, float(headers["retry-after-ms"]) / 1000)
        value = headers.get("retry-after")
        if not value:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError):
        return None


class OutboundError(Exception):
    """A call that did not get a usable answer; `reason` is what to show a person."""

    def __init__(
        self,
        integration: str,
        reason: str,
        *,
        status: int | None = None,
        body: str = "",
        retry_after: float | None = None,
    ):
        super().__init__(f"{integration}: {reason}")
        self.integration, self.reason, self.status = integration, reason, status
        self.body, self.retry_after = body, retry_after


class NotPublic(OutboundError):
    """The address is not on the public internet (loopback, a private network, link-local,
    reserved): nothing was sent, and nothing about what listens there is told."""


async def ensure_public(integration: str, url: str) -> None:
    """NotPublic unless every address `url`'s host resolves to is a public one. For URLs a
    user typed (a Slack webhook in Settings): otherwise "Send test" would probe the server's
    own network for whoever can edit a setting (server-side request forgery)."""
    host = urlsplit(url).hostname or ""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise NotPublic(integration, f"{host or 'the address'} does not resolve") from None
    addresses = {str(info[4][0]).split("%")[0] for info in infos}
    if not addresses or not all(ipaddress.ip_address(a).is_global for a in addresses):
        raise NotPublic(
            integration, f"{host} is not a public internet address: nothing was sent there"
        )


class CircuitOpen(OutboundError):
    """The integration failed repeatedly just now; nothing was sent."""


class RetryLater(OutboundError):
    """Rate limited, down or unreachable after the call's retries; `retry_after` (seconds)
    is the server's own wait when it named one."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 3
    backoff: float = 0.5  # the first wait; doubles per attempt, +-25 % jitter
    # The longest wait inside one call. A Retry-After beyond it ends the call at once
    # (RetryLater with the server's wait) rather than holding a job or a page that long.
    max_wait: float = 5.0


@dataclass
class Outbound:
    """One integration's HTTP client; use as `async with Outbound("slack", timeout=10) as o:`."""

    integration: str
    timeout: float
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    breaker: CircuitBreaker | None = None
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    transport: httpx.AsyncBaseTransport | None = None
    rng: random.Random = field(default_factory=random.Random)
    # Awaited before every attempt (retries too): a provider's rate limit counts each request.
    pace: Callable[[], Awaitable[None]] | None = None
    _client: httpx.AsyncClient | None = None

    def __post_init__(self) -> None:
        if self.breaker is None:
            self.breaker = breaker_for(self.integration)

    async def __aenter__(self) -> Outbound:
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(self.timeout),
            transport=self.transport,
            # A webhook or API that redirects is misconfigured; following it could carry our
            # payload somewhere nobody configured.
            follow_redirects=False,
            headers={"User-Agent": USER_AGENT},
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _wait(self, attempt: int) -> float:
        base = self.policy.backoff * 2 ** (attempt - 1)
        return base * (0.75 + 0.5 * self.rng.random())

    async def request(
        self, method: str, url: str, *, attempts: int | None = None, **kwargs: Any
    ) -> httpx.Response:
        """The answer to one logical call: any non-retried status (2xx, and 4xx for the caller
        to read), after retries. Raises CircuitOpen without calling when the integration's
        breaker is open, RetryLater when retries ran out or the server asked for a longer wait.
        Only outages count against the breaker: a 4xx or a 429 means the service is up.
        `attempts=1` for a call that must not be repeated blindly (a POST the provider may
        have carried out before its answer was lost): the caller checks before trying again."""
        assert self._client is not None, "use `async with Outbound(...)`"
        assert self.breaker is not None
        if not self.breaker.allow():
            raise CircuitOpen(
                self.integration, "paused after repeated failures (circuit open); retrying later"
            )
        try:
            return await self._attempts(method, url, attempts or self.policy.attempts, **kwargs)
        except OutboundError:
            raise
        except BaseException:
            self.breaker.failed()  # never leave a half-open trial unresolved
            raise

    async def _attempts(
        self, method: str, url: str, attempts: int, **kwargs: Any
    ) -> httpx.Response:
        assert self._client is not None and self.breaker is not None
        last: OutboundError | None = None
        for attempt in range(1, attempts + 1):
            wait = self._wait(attempt)
            if self.pace is not None:
                await self.pace()
            try:
                response = await self._client.request(method, url, **kwargs)
            except httpx.TimeoutException as exc:
                last = RetryLater(
                    self.integration, f"no answer within {self.timeout:g} s ({exc!r})"
                )
            except httpx.TransportError as exc:
                last = RetryLater(self.integration, f"could not connect: {exc}")
            else:
                status = response.status_code
                if status not in RETRIED_STATUSES and status < 500:
                    self.breaker.succeeded()
                    return response
                retry_after = retry_after_seconds(response.headers)
                body = response.text[:500]
                last = RetryLater(
                    self.integration,
                    f"HTTP {status}" + (f" {body}" if body else ""),
                    status=status,
                    body=body,
                    retry_after=retry_after,
                )
                if retry_after is not None:
                    if retry_after > self.policy.max_wait:
                        self._settle(status)
                        raise last
                    wait = retry_after
            if attempt < attempts:
                await self.sleep(min(wait, self.policy.max_wait))
        assert last is not None
        self._settle(last.status)
        raise last

    def _settle(self, status: int | None) -> None:
        assert self.breaker is not None
        if status == 429:
            self.breaker.succeeded()  # rate limited: up, and talking to us
        else:
            self.breaker.failed()


def run_blocking(work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run `work()` to completion from synchronous code (a scheduler job, a page's worker
    thread). Must not be called where an event loop is already running in this thread."""
    return asyncio.run(work())
