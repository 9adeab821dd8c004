"""The outbound HTTP layer against a real local server: retries, Retry-After, the breaker."""

import asyncio

import pytest

from recovery_app.integrations.http import (
    CircuitBreaker,
    CircuitOpen,
    Outbound,
    RetryLater,
    RetryPolicy,
)
from tests.fakes.providers import FakeSlack, Reply


@pytest.fixture
def server():
    fake = FakeSlack()
    yield fake
    fake.close()


def call(server: FakeSlack, outbound: Outbound):
    async def go():
        async with outbound:
            return await outbound.request("POST", server.webhook(), json={"text": "hi"})

    return asyncio.run(go())


def client(waits: list[float], **policy) -> Outbound:
    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    return Outbound(
        "test", timeout=2, policy=RetryPolicy(**policy), breaker=CircuitBreaker(), sleep=sleep
    )


def test_5xx_is_retried_with_growing_jittered_waits(server) -> None:
    server.then(Reply(status=503), Reply(status=502))
    waits: list[float] = []
    response = call(server, client(waits, backoff=1.0))
    assert response.status_code == 200 and response.text == "ok"
    assert server.attempts == 3
    assert 0.75 <= waits[0] <= 1.25 and 1.5 <= waits[1] <= 2.5


def test_a_retry_after_within_the_budget_is_the_wait(server) -> None:
    server.then(Reply(status=429, headers={"Retry-After": "3"}))
    waits: list[float] = []
    assert call(server, client(waits, max_wait=5)).status_code == 200
    assert waits == [3.0]


def test_a_retry_after_past_the_budget_ends_the_call_at_once(server) -> None:
    server.then(Reply(status=429, message="rate_limited", headers={"Retry-After": "60"}))
    waits: list[float] = []
    outbound = client(waits, max_wait=5)
    with pytest.raises(RetryLater) as later:
        call(server, outbound)
    assert (later.value.retry_after, later.value.status, server.attempts) == (60.0, 429, 1)
    assert waits == [] and not outbound.breaker.is_open  # type: ignore[union-attr]


def test_4xx_is_the_callers_answer_not_a_retry(server) -> None:
    server.then(Reply(status=404, message="no_service"))
    response = call(server, client([]))
    assert (response.status_code, response.text, server.attempts) == (404, "no_service", 1)


def test_the_breaker_opens_after_repeated_failures_and_then_calls_nothing(server) -> None:
    breaker = CircuitBreaker(threshold=2)
    server.then(*[Reply(status=500)] * 2)
    for _ in range(2):
        outbound = Outbound("test", timeout=2, policy=RetryPolicy(attempts=1), breaker=breaker)
        with pytest.raises(RetryLater):
            call(server, outbound)
    assert breaker.is_open
    with pytest.raises(CircuitOpen):
        call(server, Outbound("test", timeout=2, breaker=breaker))
    assert server.attempts == 2


def test_nobody_listening_is_retry_later() -> None:
    gone = FakeSlack()
    url = gone.webhook()
    gone.close()

    async def go():
        async with client([], attempts=2) as outbound:
            return await outbound.request("POST", url, json={})

    with pytest.raises(RetryLater, match="could not connect"):
        asyncio.run(go())
