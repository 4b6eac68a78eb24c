"""Ends this process's open live feeds (GraphQL subscriptions) when a credential they rest on ends.

A feed opens under credentials: the session token it was authenticated with and, when it reads someone else's
data, the proxy grant it relies on. Revoking one ends everything derived from it, at once: a feed must not
outlive its credential. Rechecking on every event of every feed would cost a read per event per subscriber;
instead one task per process checks every credential under watch with one batched read per kind (primary keys,
in chunks) every ``INTERVAL`` seconds, and at once when this process commits a revocation (the same-process
counters api.identity.session_cache relies on). So a feed ends within about a second of a revocation made
anywhere (another worker, the CLI, an operator's SQL) and within ``TICK`` of one made by this process, for one
read per kind per second per worker, however many feeds are open; an idle process (no feeds) does nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Mapping, Sequence
from typing import TypeVar

from api.platform.errors import PortalError

INTERVAL = 1.0  # seconds between checks of every watched credential
TICK = 0.05  # how often the same-process revocation counters are compared (no database work)
logger = logging.getLogger("api.platform.feed_guard")
T = TypeVar("T")
# A kind's check: of these ids, the ones that ended, each with the error its feeds end with.
Check = Callable[[frozenset[Hashable]], Awaitable[Mapping[Hashable, PortalError]]]


class Watch:
    """One open feed's credentials (kind -> id), and why it ended once it has."""

    def __init__(self, credentials: Mapping[str, Hashable]) -> None:
        self.credentials = dict(credentials)
        self.ended: PortalError | None = None
        self._event = asyncio.Event()

    def end(self, error: PortalError) -> None:
        if self.ended is None:
            self.ended = error
            self._event.set()

    async def race(self, awaitable: Awaitable[T]) -> T:
        """What ``awaitable`` gives, unless a credential ends first: then its PortalError (the feed's last word)."""
        if self.ended is not None:
            if inspect.iscoroutine(awaitable):
                awaitable.close()  # never started: no "never awaited" warning
            raise self.ended
        work = asyncio.ensure_future(awaitable)
        ending = asyncio.ensure_future(self._event.wait())
        try:
            await asyncio.wait((work, ending), return_when=asyncio.FIRST_COMPLETED)
        finally:
            ending.cancel()
            if self.ended is not None or not work.done():
                work.cancel()
        if self.ended is not None:
            raise self.ended
        return work.result()


class FeedGuard:
    """One per app (process): ``watch`` around each open feed; ``checks`` by credential kind."""

    def __init__(self, checks: Mapping[str, Check], *, counters: Sequence[Callable[[], int]] = (),
                 interval: float = INTERVAL, tick: float = TICK) -> None:
        self.checks = dict(checks)
        self.counters = tuple(counters)
        self.interval = interval
        self.tick = tick
        self._watches: set[Watch] = set()
        self._task: asyncio.Task[None] | None = None
        self.rounds = 0  # batched checks made, for tests and the metrics

    @contextlib.asynccontextmanager
    async def watch(self, **credentials: Hashable | None) -> AsyncIterator[Watch]:
        """Watch these credentials (a None id is not watched) while the block runs."""
        unknown = set(credentials) - set(self.checks)
        if unknown:
            raise ValueError(f"no check for {', '.join(sorted(unknown))}")
        watch = Watch({kind: key for kind, key in credentials.items() if key is not None})
        self._watches.add(watch)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())
        try:
            yield watch
        finally:
            self._watches.discard(watch)

    def _counts(self) -> tuple[int, ...]:
        return tuple(counter() for counter in self.counters)

    async def _run(self) -> None:
        seen, last = self._counts(), time.monotonic()
        while self._watches:
            await asyncio.sleep(self.tick)
            counts = self._counts()
            if counts == seen and time.monotonic() - last < self.interval:
                continue
            seen, last = counts, time.monotonic()  # before the check: a revocation during it triggers another
            try:
                await self.check_now()
            except Exception:  # the database is away: the feeds stay open and the next round tries again
                logger.warning("could not check the live feeds' credentials", exc_info=True)

    async def check_now(self) -> None:
        """One round: each kind's watched ids in one check; every feed resting on an ended one ends."""
        watches = list(self._watches)
        by_kind: dict[str, set[Hashable]] = {}
        for watch in watches:
            for kind, key in watch.credentials.items():
                by_kind.setdefault(kind, set()).add(key)
        self.rounds += 1
        for kind, keys in by_kind.items():
            ended = await self.checks[kind](frozenset(keys))
            if not ended:
                continue
            for watch in watches:
                key = watch.credentials.get(kind)
                if key is not None and key in ended:
                    watch.end(ended[key])

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
