"""Per-credential rate limits for feedback: a token bucket per API key or feedback token.

In-process only (one bucket table per server process); with ``--workers N`` each worker
enforces the limit separately. Buckets idle for longer than a refill are forgotten.
"""

from __future__ import annotations

import time

__all__ = ["RateLimiter"]

_MAX_BUCKETS = 100_000


class RateLimiter:
    """``allow(name, per_minute)`` -> bool; called on the event loop only, so it needs no lock."""

    def __init__(self) -> None:
        self._buckets: dict[str, tuple[float, float]] = {}  # name -> (tokens, last refill)

    def allow(self, name: str, per_minute: int, *, now: float | None = None) -> bool:
        """Take one request from ``name``'s bucket (capacity and refill: ``per_minute`` a minute)."""
        if per_minute <= 0:
            return True
        moment = time.monotonic() if now is None else now
        tokens, last = self._buckets.get(name, (float(per_minute), moment))
        tokens = min(float(per_minute), tokens + (moment - last) * per_minute / 60.0)
        if tokens < 1.0:
            self._buckets[name] = (tokens, moment)
            return False
        if len(self._buckets) >= _MAX_BUCKETS and name not in self._buckets:
            self._evict(moment, per_minute)
        self._buckets[name] = (tokens - 1.0, moment)
        return True

    def _evict(self, now: float, per_minute: int) -> None:
        refill_s = 60.0
        self._buckets = {name: entry for name, entry in self._buckets.items() if now - entry[1] < refill_s}
        if len(self._buckets) >= _MAX_BUCKETS:  # all recent: drop the oldest half
            ordered = sorted(self._buckets.items(), key=lambda item: item[1][1])
            self._buckets = dict(ordered[len(ordered) // 2 :])
