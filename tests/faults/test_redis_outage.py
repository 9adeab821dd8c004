"""Redis stopped for 30 s (the proxy between the production server and Redis refuses new
connections and cuts open ones) while leads come in: every webhook is still answered at once
and stored, and every first response is sent exactly once.

What uses Redis here, and what each does without it: the intake rate limit (counts in the
process instead), SMS pacing per sender number (paces in the process instead), Reflex's state
manager (browser sessions only: no webhook or send touches it). The scheduler's lease and the
outbox live in PostgreSQL."""

from __future__ import annotations

import threading
import time

import pytest

from tests.faults.conftest import (
    answers_by_caller,
    assert_each_once,
    assert_no_lead_lost,
    fake_providers,
    needs_services,
    production_server,
    proxy_to,
    redis_url,
    settled,
    via_proxy,
    wait_until,
)
from tests.faults.senders import send_all

pytestmark = [needs_services, pytest.mark.timeout(420)]

LEADS = 300
RATE = 15.0  # first tries a second: all posts leave within the outage's first 20 s
OUTAGE_STARTS = 3.0  # seconds after the first post
OUTAGE_SECONDS = 30.0
SLOWEST_ANSWER = 5.0  # seconds; a webhook caller's patience is far longer, ours is not


def test_redis_outage_loses_no_webhook_and_no_send(tmp_path, office, callers) -> None:
    posts = callers.leads("redis", LEADS)
    with (
        fake_providers() as providers,
        proxy_to(redis_url(), 6379) as redis,
        production_server(
            tmp_path,
            office,
            database_url=office.database.url,
            redis=via_proxy(redis_url(), redis),
            providers=providers,
            callers=callers,
            SMS_PER_SECOND_PER_NUMBER="10",  # paced through Redis while it answers
        ) as server,
    ):
        assert server.health().json()["redis"] == "ok"
        # A few seconds in, so the workers hold pooled Redis connections for the cut to break.
        outage: list[threading.Thread] = []
        threading.Timer(
            OUTAGE_STARTS, lambda: outage.append(redis.outage_for(OUTAGE_SECONDS))
        ).start()
        health: list[dict] = []
        # Mid-outage the server knows Redis is gone (and says so without failing).
        probe = threading.Timer(OUTAGE_STARTS + 5, lambda: health.append(server.health().json()))
        probe.start()
        started = time.monotonic()
        deliveries = send_all(server.url, posts, rate=RATE, seconds=120)
        posting = time.monotonic() - started
        probe.join()
        outage[0].join()

        assert_no_lead_lost(deliveries)
        answers = answers_by_caller(deliveries)
        # Answered at the first try, and quickly: nothing a webhook does needs Redis.
        assert [d.answers for d in deliveries if d.retried] == [], answers
        slowest = max(s for d in deliveries for s in d.seconds)
        assert slowest < SLOWEST_ANSWER, f"a webhook took {slowest:.1f} s with Redis away"
        assert posting < OUTAGE_STARTS + OUTAGE_SECONDS, "the posts outlasted the outage"
        assert redis.stats.cut > 0
        assert health and health[0]["redis"] == "unreachable" and health[0]["db"] == "ok"
        assert health[0]["status"] == "degraded"

        drained = wait_until(
            settled(office, leads=LEADS),
            timeout=240,
            what="every lead stored and both of its first responses out of the outbox",
        )
        print(
            f"\nposting {posting:.0f} s (slowest answer {slowest:.2f} s), answers {answers},"
            f" drained {drained:.0f} s after the last post"
        )
        assert_each_once(office, posts, providers)
        assert server.health().json()["redis"] == "ok"
