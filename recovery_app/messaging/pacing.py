"""Per-sender pacing of bulk texts: at most N a second from one Twilio number. A marketing
send takes its number's next free slot if that is at most `max_wait` away (the dispatcher
sleeps until then); otherwise nothing is taken and the message goes back to the queue for that
moment. A text a person is waiting for (`urgent`: a first response, an agent's reply, an
opt-out confirmation) never waits here: it goes now and pushes the number's next free slot on,
so the bulk behind it yields the second it used. Twilio itself queues what a number sends
faster than its throughput and sends it at that rate; pacing the bulk ourselves keeps that
queue short, so an urgent text handed over is next in line there too. With Redis the slots are
shared by every worker and instance; without it they are per process."""

import threading
import time
from dataclasses import dataclass

from recovery_app.settings import get_settings

# slot = max(now, next_free); take it (next_free = slot + interval) only if slot - now <= max_wait.
_TAKE = """
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local max_wait = tonumber(ARGV[3])
local urgent = ARGV[4] == '1'
local free = tonumber(redis.call('GET', KEYS[1]) or '0')
local slot = math.max(now, free)
if urgent then
  redis.call('SET', KEYS[1], tostring(slot + interval), 'PX', math.ceil((slot - now + interval) * 1000) + 60000)
  return {1, tostring(now)}
end
if slot - now <= max_wait then
  redis.call('SET', KEYS[1], tostring(slot + interval), 'PX', math.ceil((slot - now + interval) * 1000) + 60000)
  return {1, tostring(slot)}
end
return {0, tostring(slot)}
"""


@dataclass(frozen=True, slots=True)
class Slot:
    taken: bool
    wait_seconds: float


class Pacer:
    def __init__(self) -> None:
        self._next_free: dict[str, float] = {}
        self._lock = threading.Lock()
        self._script = None
        url = get_settings().redis_url
        if url:
            import redis

            self._script = redis.Redis.from_url(url, socket_timeout=2).register_script(_TAKE)

    def take(
        self,
        sender: str,
        *,
        per_second: float,
        max_wait: float = 1.0,
        now: float | None = None,
        urgent: bool = False,
    ) -> Slot:
        if per_second <= 0 or not sender:
            return Slot(True, 0.0)
        now = time.time() if now is None else now
        interval = 1.0 / per_second
        if self._script is not None:
            try:
                taken, slot = self._script(
                    keys=[f"recovery:pace:{sender}"],
                    args=[now, interval, max_wait, "1" if urgent else "0"],
                )
                return Slot(bool(int(taken)), max(0.0, float(slot) - now))
            except Exception:  # Redis away: pace within this process rather than not at all
                pass
        with self._lock:
            slot = max(now, self._next_free.get(sender, 0.0))
            if urgent:
                self._next_free[sender] = slot + interval
                return Slot(True, 0.0)
            if slot - now > max_wait:
                return Slot(False, slot - now)
            self._next_free[sender] = slot + interval
        return Slot(True, max(0.0, slot - now))


_shared: tuple[object, Pacer] | None = None


def shared_pacer() -> Pacer:
    """The process's pacer for callers without one of their own (the GoHighLevel sync); one
    per settings object, as tests change REDIS_URL between cases."""
    global _shared
    settings = get_settings()
    if _shared is None or _shared[0] is not settings:
        _shared = (settings, Pacer())
    return _shared[1]
