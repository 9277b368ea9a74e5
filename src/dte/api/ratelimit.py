"""Per-key token buckets (a principal, a client address): ``429`` with ``Retry-After`` when empty.

In memory, per engine process: behind a load balancer each process allows the configured rate,
which bounds abuse without a shared store. The table is pruned, so many keys cannot grow it without end.
"""

from __future__ import annotations

import math
import time

from starlette.exceptions import HTTPException

_MAX_KEYS = 100_000


class RateLimiter:
    def __init__(self, per_minute: int) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0  # tokens per second
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, last update)

    def retry_after(self, key: str) -> int:
        """Seconds until ``key`` may try again (0: it may now); does not take a token."""
        tokens, _ = self._refill(key)
        return 0 if tokens >= 1 else math.ceil((1 - tokens) / self.rate)

    def take(self, key: str) -> None:
        """Spend one token or raise 429."""
        if self.capacity <= 0:
            return
        tokens, now = self._refill(key)
        if tokens < 1:
            wait = math.ceil((1 - tokens) / self.rate)
            raise HTTPException(429, f"too many requests; retry in {wait} s", headers={"Retry-After": str(wait)})
        self._buckets[key] = (tokens - 1, now)

    def _refill(self, key: str) -> tuple[float, float]:
        now = time.monotonic()
        tokens, last = self._buckets.get(key, (self.capacity, now))
        if len(self._buckets) > _MAX_KEYS:
            self._buckets = {k: v for k, v in self._buckets.items() if v[0] + (now - v[1]) * self.rate < self.capacity}
        return min(self.capacity, tokens + (now - last) * self.rate), now
