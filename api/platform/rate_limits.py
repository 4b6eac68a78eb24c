"""Rate limits every worker shares: the `limits` library, in memory for one worker, in Redis for several.

`MYNAPORTAL_RATE_LIMIT_STORAGE` picks the storage: ``memory://`` (the default: one worker's memory, lost on
restart, which a rate limit may lose) or ``redis://host:port/db`` (every worker of every host counts in the
same window, so N workers allow the configured rate, not N times it). `mynaportal serve --workers N` with
N > 1 refuses memory storage. What must survive a restart (replay guards, usage counts) is in the database
instead (api.platform.replay, corporate.application_ids).

When Redis cannot be reached the request is let through and the failure logged: a rate limit protects
capacity, and refusing every request because its counter is down would turn a Redis outage into a portal
outage.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import redis.asyncio
from limits import RateLimitItem, RateLimitItemPerSecond
from limits.aio.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter
from limits.storage import storage_from_string

logger = logging.getLogger("api.rate_limits")
MEMORY = "memory://"


@dataclass(frozen=True)
class Limit:
    """``amount`` hits per ``seconds``; ``moving``: a sliding window (no double burst at a window's edge)."""

    amount: int
    seconds: int
    moving: bool = True

    def item(self) -> RateLimitItem:
        return RateLimitItemPerSecond(self.amount, max(1, self.seconds))


def burst_limit(rate: float, burst: int) -> Limit:
    """A token bucket's terms (``rate`` a second on average, ``burst`` at once) as a moving window: ``burst`` hits
    in any ``burst / rate`` seconds, which allows the burst and holds the average to the rate."""
    return Limit(amount=max(1, burst), seconds=max(1, math.ceil(burst / max(rate, 1e-9))))


def is_shared(storage_uri: str) -> bool:
    """Whether several processes see one count with this storage."""
    return not storage_uri.startswith(MEMORY)


class RateLimiter:
    def __init__(self, storage_uri: str = MEMORY, *, prefix: str = "mynaportal") -> None:
        self.storage_uri = storage_uri
        self._pool: redis.asyncio.ConnectionPool | None = None
        if storage_uri.startswith(MEMORY):
            storage = storage_from_string("async+" + storage_uri)
        elif storage_uri.startswith(("redis://", "rediss://", "unix://")):
            # redis-py's asyncio client (the `redis` package), not coredis; our own pool, so close() can end it.
            self._pool = redis.asyncio.ConnectionPool.from_url(storage_uri, socket_timeout=1.0,
                                                               socket_connect_timeout=1.0)
            storage = storage_from_string("async+redis://", implementation="redispy", key_prefix=prefix,
                                          wrap_exceptions=True, connection_pool=self._pool)
        else:
            raise ValueError("rate-limit storage must be memory:// or redis://host:port/db")
        self.storage = storage
        self._moving = MovingWindowRateLimiter(storage)
        self._fixed = FixedWindowRateLimiter(storage)

    async def hit(self, limit: Limit, *key: str) -> int | None:
        """Count one hit for ``key``: None when it is within ``limit``, else the whole seconds to wait."""
        strategy = self._moving if limit.moving else self._fixed
        item = limit.item()
        try:
            if await strategy.hit(item, *key):
                return None
            stats = await strategy.get_window_stats(item, *key)
        except Exception:  # the storage is down: let the request through (module docstring)
            logger.warning("rate-limit storage unreachable; request allowed", exc_info=True)
            return None
        return max(1, math.ceil(stats.reset_time - time.time()))

    async def remaining(self, limit: Limit, *key: str) -> int:
        strategy = self._moving if limit.moving else self._fixed
        return (await strategy.get_window_stats(limit.item(), *key)).remaining

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()

    async def clear(self, limit: Limit, *key: str) -> None:
        strategy = self._moving if limit.moving else self._fixed
        await strategy.clear(limit.item(), *key)
