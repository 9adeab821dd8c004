"""Request rate limits per tenant or key: a fixed one-minute window, counted in Redis when
REDIS_URL is set (shared by every worker and instance), in this process otherwise."""

import threading
import time

from recovery_app.errors import RateLimited
from recovery_app.settings import get_settings

WINDOW = 60


class RateLimiter:
    def __init__(self) -> None:
        self._counts: dict[tuple[str, int], int] = {}
        self._lock = threading.Lock()
        self._redis = None
        url = get_settings().redis_url
        if url:
            import redis

            self._redis = redis.Redis.from_url(url, socket_timeout=1)

    def hit(self, key: str, *, limit: int, now: float | None = None) -> None:
        """Count one request for `key`; RateLimited (with Retry-After) past `limit` a minute."""
        if limit <= 0:
            return
        now = time.time() if now is None else now
        window = int(now // WINDOW)
        count = self._count(key, window)
        if count > limit:
            retry = max(1, int((window + 1) * WINDOW - now))
            raise RateLimited(
                f"More than {limit} requests a minute; retry in {retry} s.",
                retry_after_seconds=retry,
            )

    def _count(self, key: str, window: int) -> int:
        if self._redis is not None:
            try:
                name = f"recovery:rate:{key}:{window}"
                pipe = self._redis.pipeline()
                pipe.incr(name)
                pipe.expire(name, WINDOW * 2)
                return int(pipe.execute()[0])
            except Exception:  # Redis away: limit in this process rather than not at all
                pass
        with self._lock:
            for old in [k for k in self._counts if k[1] < window]:
                del self._counts[old]
            self._counts[(key, window)] = self._counts.get((key, window), 0) + 1
            return self._counts[(key, window)]


_limiter: tuple[object, RateLimiter] | None = None


def limiter() -> RateLimiter:
    """One limiter per settings object (tests change REDIS_URL between cases)."""
    global _limiter
    settings = get_settings()
    if _limiter is None or _limiter[0] is not settings:
        _limiter = (settings, RateLimiter())
    return _limiter[1]
