"""Per-application-id usage counts, added to the database in batches.

A database write per request would cap /4/num at SQLite's single-writer rate and add a round trip to every
lookup, so each worker counts in memory and adds its counts (``count = count + n``, atomic, so workers never
overwrite each other) every few seconds. A crash loses at most that interval's counts, never rows already
added. (Rate limits are shared by every worker: api.platform.rate_limits.)
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field


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
