"""Twilio failing for 60 s (FAULT_TWILIO_OUTAGE_SECONDS): every request to the local Twilio
server, sends and the dispatcher's look-ups alike, is answered 429, 500, or not at all (a stall
past the client's timeout, after Twilio took the message or before) while new leads wait for
their first text. Afterwards every lead has been texted exactly once: the failures were
retried with backoff, and the timed-out sends were reconciled with Twilio, not repeated."""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections import Counter
from typing import Any

import pytest

from tests.fakes.providers import FakeTwilio, Reply
from tests.faults.conftest import (
    assert_each_once,
    assert_no_lead_lost,
    fake_providers,
    needs_services,
    production_server,
    redis_url,
    settled,
    wait_until,
)
from tests.faults.senders import send_all

OUTAGE_SECONDS = float(os.environ.get("FAULT_TWILIO_OUTAGE_SECONDS", "60"))
PROVIDER_TIMEOUT = 2.0
LEADS = 60
RATE = 10.0
# After the outage: the retries' backoff (30 s, then 60 s, with jitter) and the reconciles'
# 30 s waits still have to come round.
SETTLE_SECONDS = 300

pytestmark = [needs_services, pytest.mark.timeout(OUTAGE_SECONDS + SETTLE_SECONDS + 120)]


class FailingTwilio(FakeTwilio):
    """The fake Twilio, answering every request with the next failure in turn until the
    outage ends. A stall outlasts the client's timeout; "taken" ones record the message
    first (Twilio sent it, the answer was lost), the others do not."""

    FAILURES = (
        Reply(429, code=20429, message="Too Many Requests", headers={"Retry-After": "1"}),
        Reply(500, code=20500, message="Internal Server Error"),
        Reply(delay=PROVIDER_TIMEOUT + 3, record=True),  # taken, answer lost
        Reply(delay=PROVIDER_TIMEOUT + 3, record=False),  # lost on the way in
    )

    def __init__(self) -> None:
        self.failing_until = 0.0
        self.failures: Counter[str] = Counter()
        self._turn = itertools.cycle(self.FAILURES)
        self._gets = itertools.cycle((500, 429))
        super().__init__()
        # A stalled answer is written to a client that gave up on it: expected, not news.
        self.httpd.handle_error = lambda request, client_address: None  # type: ignore[method-assign]

    def fail_for(self, seconds: float) -> None:
        self.failing_until = time.monotonic() + seconds

    def failing(self) -> bool:
        return time.monotonic() < self.failing_until

    def next_reply(self, default: Reply) -> Reply:
        if not self.failing():
            return super().next_reply(default)
        with self.lock:
            reply = next(self._turn)
            kind = (
                str(reply.status)
                if not reply.delay
                else f"stall-{'taken' if reply.record else 'lost'}"
            )
            self.failures[kind] += 1
        return reply

    def handle_get(self, handler: Any) -> None:
        # The dispatcher's reconcile (list messages to a number) fails through the outage too.
        if self.failing():
            with self.lock:
                status = next(self._gets)
                self.failures[f"lookup-{status}"] += 1
            handler._send(status, {"code": 20000 + status, "message": "error", "status": status})
            return
        super().handle_get(handler)


def test_twilio_outage_then_every_text_sent_once(tmp_path, office, callers) -> None:
    posts = callers.leads("twilio", LEADS, callers=("form",))
    twilio = FailingTwilio()
    with (
        fake_providers(twilio) as providers,
        production_server(
            tmp_path,
            office,
            database_url=office.database.url,
            redis=redis_url(),
            providers=providers,
            callers=callers,
            SMS_PER_SECOND_PER_NUMBER="0",
            PROVIDER_TIMEOUT_SECONDS=str(PROVIDER_TIMEOUT),
        ) as server,
    ):
        twilio.fail_for(OUTAGE_SECONDS)
        started = time.monotonic()
        deliveries = send_all(server.url, posts, rate=RATE, seconds=60)
        assert_no_lead_lost(deliveries)
        assert time.monotonic() - started < OUTAGE_SECONDS, "leads came in after the outage"
        # Some messages reached the outage's every kind of failure (else it proves little).
        wait_until(
            lambda: all(twilio.failures[k] for k in ("429", "500", "stall-taken", "stall-lost")),
            timeout=OUTAGE_SECONDS,
            what="every kind of failure answered",
        )
        threading.Event().wait(max(0.0, OUTAGE_SECONDS - (time.monotonic() - started)))
        assert not twilio.failing()
        sent_during = len(twilio.messages)
        drained = wait_until(
            settled(office, leads=LEADS),
            timeout=SETTLE_SECONDS,
            what="every first response out of the outbox",
        )
        attempts = Counter(
            n for (n,) in office.rows("SELECT attempts FROM messages WHERE channel = 'sms'")
        )
        print(
            f"\nfailures {dict(twilio.failures)}; {sent_during} taken during the outage;"
            f" drained {drained:.0f} s after it; attempts per text {dict(attempts)}"
        )
        assert_each_once(office, posts, providers)
        # Every first try fell inside the outage: at least one failed answer per text.
        send_failures = sum(n for k, n in twilio.failures.items() if not k.startswith("lookup"))
        assert send_failures >= LEADS, twilio.failures
