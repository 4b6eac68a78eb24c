"""This worker's recently authenticated tokens, kept for at most one second.

Every person's request starts with the token lookup (api.identity.authentication), and an app's requests come
in bursts with one token. The cache keeps what the lookup found, by token hash: the token's principal (token
id, person id, scopes), its expiry and whether it was revoked; never the person's row. Each request still
checks expiry against the clock. A token the lookup does not find is never kept, so a new token works at once
and made-up tokens cannot fill memory.

When it forgets (the one rule): an entry is used only while both hold

- less than ``MAX_AGE_SECONDS`` (1 s) has passed since the read that found it began, and
- this process has committed no token revocation since that read began (``tokens.committed_revocations``,
  which every function that revokes session tokens moves when its transaction commits).

So a token revoked by this process is refused on its very next request, and one revoked by another process
(another worker, the CLI, an operator's SQL) within one second, on SQLite and PostgreSQL alike, with no
listener and no per-request database work.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from api.identity.tokens import AuthenticatedPerson, committed_revocations

MAX_AGE_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class FillStart:
    """When a lookup began: its clock reading and the process's committed revocations then."""

    at: float
    revocations: int


@dataclass(frozen=True, slots=True)
class _Kept:
    found: AuthenticatedPerson
    since: FillStart


class SessionCache:
    """What the lookup found, by token hash, at most ``max_entries`` (the oldest fill leaves first; 0 keeps
    none)."""

    def __init__(self, max_entries: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_entries = max_entries
        self._clock = clock
        self._kept: dict[bytes, _Kept] = {}

    def fill_started(self) -> FillStart:
        """Call before the lookup whose result goes to ``put``."""
        return FillStart(self._clock(), committed_revocations())

    def get(self, token_hash: bytes) -> AuthenticatedPerson | None:
        """What was found for this token hash, unless it may be out of date (see the module's rule)."""
        kept = self._kept.get(token_hash)
        if kept is None:
            return None
        if self._clock() - kept.since.at >= MAX_AGE_SECONDS or kept.since.revocations != committed_revocations():
            del self._kept[token_hash]
            return None
        return kept.found

    def put(self, token_hash: bytes, found: AuthenticatedPerson, since: FillStart) -> None:
        if not self.max_entries:
            return
        kept = self._kept
        if len(kept) >= self.max_entries and token_hash not in kept:
            del kept[next(iter(kept))]
        kept[token_hash] = _Kept(found, since)

    def __len__(self) -> int:
        return len(self._kept)
