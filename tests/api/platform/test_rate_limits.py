"""Rate limits on the `limits` library: in memory for one worker, in Redis shared by several."""

from __future__ import annotations

import logging
import os
import uuid

import pytest
import redis

from api.platform.rate_limits import Limit, RateLimiter, burst_limit, is_shared
from tests.conftest import IN_CI

REDIS_URL = os.environ.get("MYNAPORTAL_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def require_redis() -> None:
    """Redis must answer under CI=true (the deployment runs it); elsewhere its tests skip without it."""
    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=2).ping()
    except redis.RedisError as error:
        message = f"Redis at {REDIS_URL} is required: {error}"
        if IN_CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


@pytest.mark.parametrize(("rate", "burst", "expected"), [
    (10, 20, Limit(20, 2)), (1, 2, Limit(2, 2)), (3, 10, Limit(10, 4)), (100, 1, Limit(1, 1)),
])
def test_a_token_bucket_becomes_a_moving_window(rate: float, burst: int, expected: Limit) -> None:
    assert burst_limit(rate, burst) == expected


async def test_memory_moving_window_allows_the_burst_then_says_how_long_to_wait() -> None:
    limiter = RateLimiter()
    limit = burst_limit(1, 2)
    assert [await limiter.hit(limit, "corporate", "a") for _ in range(3)] == [None, None, 2]
    assert await limiter.hit(limit, "corporate", "b") is None  # another key has its own window
    assert await limiter.remaining(limit, "corporate", "a") == 0


async def test_fixed_window_counts_every_attempt() -> None:
    limiter = RateLimiter()
    limit = Limit(2, 60, moving=False)
    waits = [await limiter.hit(limit, "login", "x") for _ in range(3)]
    assert waits[:2] == [None, None]
    assert waits[2] is not None and 1 <= waits[2] <= 60
    await limiter.clear(limit, "login", "x")
    assert await limiter.hit(limit, "login", "x") is None


async def test_two_limiters_on_redis_share_one_count() -> None:
    """Two limiters with their own Redis clients (as two worker processes have) count in one window."""
    require_redis()
    prefix = f"test-{uuid.uuid4().hex[:12]}"
    first, second = RateLimiter(REDIS_URL, prefix=prefix), RateLimiter(REDIS_URL, prefix=prefix)
    limit = burst_limit(1, 4)
    waits = [await (first if turn % 2 else second).hit(limit, "corporate", "id-1") for turn in range(6)]
    assert waits[:4] == [None] * 4
    assert all(wait is not None and 1 <= wait <= 4 for wait in waits[4:])
    # Another deployment's prefix on the same Redis counts apart.
    other = RateLimiter(REDIS_URL, prefix=prefix + "-other")
    assert await other.hit(limit, "corporate", "id-1") is None
    for each in (first, second, other):
        await each.close()
    assert is_shared(REDIS_URL) and not is_shared("memory://")


async def test_an_unreachable_redis_lets_requests_through_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    limiter = RateLimiter("redis://127.0.0.1:1/0", prefix="nowhere")
    with caplog.at_level(logging.WARNING, logger="api.rate_limits"):
        assert await limiter.hit(Limit(1, 60), "corporate", "a") is None
    await limiter.close()
    assert [record.message for record in caplog.records] == ["rate-limit storage unreachable; request allowed"]


def test_other_storages_are_refused() -> None:
    with pytest.raises(ValueError, match="memory:// or redis://"):
        RateLimiter("postgresql://127.0.0.1/test")
