"""This worker's recently authenticated tokens, kept for at most one second.

Every person's request starts with the token lookup (api.identity.authentication), and an app's requests come
in bursts with one token. The cache keeps what the lookup found, by token hash: the token's principal (token
id, person id, scopes), its expiry and whether it was revoked; never the person's row. Each request still
checks expiry against the clock. A token the lookup does not find is never kept, so a new token works at once
and made-up tokens cannot fill memory.

When it forgets: the rule of api.platform.revocations, with the session tokens' counter
(``tokens.SESSION_REVOCATIONS``, which every function that revokes session tokens moves when its transaction
commits). So a token revoked by this process is refused on its very next request, and one revoked by another
process (another worker, the CLI, an operator's SQL) within one second.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from api.identity.tokens import SESSION_REVOCATIONS, AuthenticatedPerson
from api.platform.revocations import MAX_AGE_SECONDS, FillStart, RecentLookups

__all__ = ["MAX_AGE_SECONDS", "FillStart", "SessionCache"]


class SessionCache(RecentLookups[bytes, AuthenticatedPerson]):
    """What the token lookup found, by token hash, at most ``max_entries`` (the oldest fill leaves first; 0 keeps
    none)."""

    def __init__(self, max_entries: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(max_entries, (SESSION_REVOCATIONS,), clock=clock)
