"""Per-application-id rate limiting and usage counting, in the worker's memory.

Why in-process: a database write per request would cap /4/num at SQLite's single-writer rate (a few
hundred per second) and add a round trip to every lookup. The cost: each uvicorn worker keeps its own
buckets, so with N workers an id can reach N times the configured rate (configure rate / N, or front
the service with a shared limiter). Usage counts are added to the database in batches (every few
seconds), so a crash loses at most that interval's counts, never the rows already added.
"""

from __future__ import annotations

import math
import uuid
from collections import defaultdict
from dataclasses import dataclass, field


@dataclass
class _Bucket:
    tokens: float
    updated: float


@dataclass
class TokenBuckets:
    """`rate` requests per second on average, bursts of up to `burst`."""

    rate: float
    burst: int
    _buckets: dict[uuid.UUID, _Bucket] = field(default_factory=dict)

    def take(self, key: uuid.UUID, now: float) -> int | None:
        """None when allowed; otherwise the whole seconds to wait (for Retry-After)."""
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(tokens=float(self.burst), updated=now)
        bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return None
        return max(1, math.ceil((1.0 - bucket.tokens) / self.rate))


@dataclass
class UsageCounter:
    """Counts requests per id until they are flushed to the database."""

    interval: float
    last_flush: float = 0.0
    _pending: dict[uuid.UUID, int] = field(default_factory=lambda: defaultdict(int))

    def count(self, key: uuid.UUID) -> None:
        self._pending[key] += 1

    def due(self, now: float) -> bool:
        return bool(self._pending) and now - self.last_flush >= self.interval

    def take_pending(self, now: float) -> dict[uuid.UUID, int]:
        pending, self._pending = dict(self._pending), defaultdict(int)
        self.last_flush = now
        return pending
