"""Revocation counters, and the one rule by which a worker's cache of credential lookups forgets.

A credential checked on every request (a person's session token, a corporate-number application id) is looked
up once and kept for a moment, since clients send bursts with one credential. Revoking one must end it at once
(developers' guide), yet a listener per worker, or a read per request, would cost more than the cache saves.

The rule: an entry is used only while both hold

- less than ``max_age`` (1 s) has passed since the read that found it began, and
- this process has committed no revocation of that kind of credential since that read began (each kind's
  ``RevocationCounter``, which every function that revokes such credentials moves when its transaction commits).

So a credential revoked by this process is refused on its very next request, and one revoked by another process
(another worker, the CLI, an operator's SQL) within ``max_age``, on SQLite and PostgreSQL alike, with no
listener and no per-request database work.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

K = TypeVar("K")
V = TypeVar("V")
D = TypeVar("D")
MAX_AGE_SECONDS = 1.0


class RevocationCounter:
    """How many transactions that revoked credentials of one kind this process has committed."""

    def __init__(self) -> None:
        self.committed = 0

    def note(self, session: AsyncSession) -> None:
        """Call from every function that revokes such credentials in ``session``: the count moves when it commits
        (not before: a cache refilled while the transaction runs would keep the credential)."""
        event.listen(session.sync_session, "after_commit", self._count, once=True)

    def _count(self, _session: Session) -> None:
        self.committed += 1


@dataclass(frozen=True, slots=True)
class FillStart:
    """When a lookup began: its clock reading and the counters' values then."""

    at: float
    revocations: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class _Kept(Generic[V]):
    found: V
    since: FillStart


class RecentLookups(Generic[K, V]):
    """What lookups found, by key, at most ``max_entries`` (the oldest fill leaves first; 0 keeps none), each
    used only under the module's rule."""

    def __init__(self, max_entries: int, counters: Sequence[RevocationCounter], *,
                 max_age: float = MAX_AGE_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_entries = max_entries
        self.max_age = max_age
        self._counters = tuple(counters)
        self._clock = clock
        self._kept: dict[K, _Kept[V]] = {}

    def _revocations(self) -> tuple[int, ...]:
        return tuple(counter.committed for counter in self._counters)

    def fill_started(self) -> FillStart:
        """Call before the lookup whose result goes to ``put``."""
        return FillStart(self._clock(), self._revocations())

    def get(self, key: K, default: D = None) -> V | D:  # type: ignore[assignment]
        """What was found for this key, unless it may be out of date; else ``default``."""
        kept = self._kept.get(key)
        if kept is None:
            return default
        if self._clock() - kept.since.at >= self.max_age or kept.since.revocations != self._revocations():
            del self._kept[key]
            return default
        return kept.found

    def put(self, key: K, found: V, since: FillStart) -> None:
        if not self.max_entries:
            return
        kept = self._kept
        if len(kept) >= self.max_entries and key not in kept:
            del kept[next(iter(kept))]
        kept[key] = _Kept(found, since)

    def __len__(self) -> int:
        return len(self._kept)
