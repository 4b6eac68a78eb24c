"""The feed guard: one batched check per kind per round, whatever the number of open feeds; a same-process
revocation counter makes it look at once; only feeds resting on an ended credential end."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Hashable, Mapping

import pytest

from api.platform.errors import ErrorCode, PortalError
from api.platform.feed_guard import FeedGuard


class Credentials:
    def __init__(self) -> None:
        self.ended: dict[Hashable, PortalError] = {}
        self.calls: list[frozenset[Hashable]] = []
        self.counter = 0

    async def check(self, ids: frozenset[Hashable]) -> Mapping[Hashable, PortalError]:
        self.calls.append(ids)
        return {key: error for key, error in self.ended.items() if key in ids}


REVOKED = PortalError(ErrorCode.UNAUTHENTICATED, "revoked", extensions={"reason": "SESSION_REVOKED"})


async def test_one_check_per_round_for_every_feed_and_only_the_ended_ones_end() -> None:
    sessions = Credentials()
    guard = FeedGuard({"session": sessions.check}, interval=3600)
    async with contextlib.AsyncExitStack() as stack:
        first, same, other, unwatched = [await stack.enter_async_context(guard.watch(session=key))
                                         for key in ("s-1", "s-1", "s-2", None)]
        watches = [await stack.enter_async_context(guard.watch(session=f"x-{n}")) for n in range(200)]
        await guard.check_now()
        assert len(sessions.calls) == 1 and len(sessions.calls[0]) == 202  # one call, each id once
        sessions.ended["s-1"] = REVOKED
        await guard.check_now()
        assert len(sessions.calls) == 2
        assert (first.ended, same.ended, other.ended, unwatched.ended) == (REVOKED, REVOKED, None, None)
        assert all(watch.ended is None for watch in watches)
        with pytest.raises(PortalError) as raised:
            await first.race(asyncio.sleep(3600))
        assert raised.value is REVOKED
        assert await other.race(asyncio.sleep(0, result="delivered")) == "delivered"
    await guard.close()


async def test_a_revocation_counted_here_wakes_the_guard_at_once_and_ends_a_waiting_feed() -> None:
    sessions = Credentials()
    guard = FeedGuard({"session": sessions.check}, counters=(lambda: sessions.counter,), interval=3600, tick=0.01)
    async with guard.watch(session="s-1") as watch:
        waiting = asyncio.create_task(watch.race(asyncio.Event().wait()))
        await asyncio.sleep(0.05)
        assert sessions.calls == []  # no change counted, interval not reached: no database work
        sessions.ended["s-1"] = REVOKED
        sessions.counter += 1
        with pytest.raises(PortalError):
            await asyncio.wait_for(waiting, 1)
        assert len(sessions.calls) == 1
    await guard.close()


async def test_the_interval_rechecks_without_a_counter_and_a_failed_check_keeps_feeds_open() -> None:
    sessions = Credentials()
    failures = 0

    async def flaky(ids: frozenset[Hashable]) -> Mapping[Hashable, PortalError]:
        nonlocal failures
        if failures < 1:
            failures += 1
            raise ConnectionError("the database is away")
        return await sessions.check(ids)

    guard = FeedGuard({"session": flaky}, interval=0.05, tick=0.01)
    async with guard.watch(session="s-1") as watch:
        sessions.ended["s-1"] = REVOKED
        with pytest.raises(PortalError):
            await asyncio.wait_for(watch.race(asyncio.Event().wait()), 2)
        assert failures == 1 and len(sessions.calls) == 1  # failed once, then the next round ended it
    await guard.close()
    with pytest.raises(ValueError, match="no check for grant"):
        async with guard.watch(grant="g-1"):
            pass
