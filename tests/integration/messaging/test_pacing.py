import random
import uuid

import pytest

from recovery_app.messaging.dispatcher import BACKOFF_MAX, BACKOFF_MIN, backoff_seconds
from recovery_app.messaging.pacing import Pacer
from recovery_app.settings import reload_settings


@pytest.fixture
def shared_redis(redis_url, monkeypatch):
    monkeypatch.setenv("REDIS_URL", redis_url)
    reload_settings()
    yield
    monkeypatch.undo()
    reload_settings()


def test_one_process_paces_a_number(monkeypatch) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    reload_settings()
    pacer, now = Pacer(), 1_000.0
    assert pacer.take("+15125550100", per_second=2, now=now).wait_seconds == 0
    second = pacer.take("+15125550100", per_second=2, now=now)
    assert second.taken and second.wait_seconds == pytest.approx(0.5)
    third = pacer.take("+15125550100", per_second=2, now=now, max_wait=0.7)
    assert not third.taken and third.wait_seconds == pytest.approx(1.0)
    # Not taking a slot leaves it free for whoever comes at that time.
    assert pacer.take("+15125550100", per_second=2, now=now + 1.0).wait_seconds == 0
    assert (
        pacer.take("+15125550199", per_second=2, now=now).wait_seconds == 0
    )  # other numbers are free
    assert pacer.take("+15125550100", per_second=0, now=now).taken  # 0 = no pacing


def test_workers_share_slots_through_redis(shared_redis) -> None:
    number = f"+1512{uuid.uuid4().int % 10_000_000:07d}"
    one, two = Pacer(), Pacer()  # two workers
    now = 2_000.0
    assert one.take(number, per_second=1, now=now).wait_seconds == 0
    other = two.take(number, per_second=1, now=now)
    assert other.taken and other.wait_seconds == pytest.approx(1.0)
    refused = one.take(number, per_second=1, now=now, max_wait=0.5)
    assert not refused.taken and refused.wait_seconds == pytest.approx(2.0)


def test_backoff_grows_within_bounds() -> None:
    rng = random.Random(4)
    delays = [backoff_seconds(attempt, rng=rng) for attempt in range(1, 9)]
    assert all(BACKOFF_MIN <= d <= BACKOFF_MAX for d in delays)
    assert 30 <= delays[0] <= 37.5  # 30 s +/- 25 % jitter, never under the floor
    assert 2700 <= delays[-1] <= BACKOFF_MAX  # the eighth attempt is capped at an hour
    assert backoff_seconds(1, retry_after=600, rng=rng) == 600  # a provider's Retry-After wins


@pytest.mark.parametrize("where", ["process", "redis"])
def test_a_text_a_person_waits_for_is_never_paced(where, request, monkeypatch) -> None:
    """A first response goes at once even when the bulk has booked the number's next seconds;
    the bulk behind it yields the slot it used."""
    if where == "redis":
        request.getfixturevalue("shared_redis")
    else:
        monkeypatch.delenv("REDIS_URL", raising=False)
        reload_settings()
    number = f"+1512{uuid.uuid4().int % 10_000_000:07d}"
    pacer, now = Pacer(), 3_000.0
    for n in range(3):  # marketing holds the next three seconds
        assert pacer.take(number, per_second=1, now=now, max_wait=5).wait_seconds == n
    urgent = pacer.take(number, per_second=1, now=now, max_wait=0, urgent=True)
    assert urgent.taken and urgent.wait_seconds == 0
    after = pacer.take(number, per_second=1, now=now, max_wait=10)
    assert after.wait_seconds == pytest.approx(4.0)  # one second later than without it
