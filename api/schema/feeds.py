"""The live feeds' guard (api.platform.feed_guard), wired to the credentials a subscription rests on: the session
token it was authenticated with (api.identity) and a proxy's grant (api.proxies), and the errors a feed ends
with when one of them ends: UNAUTHENTICATED (sign in again) or NOT_AUTHORIZED_FOR_PERSON (the grant is gone),
each with ``extensions.reason``."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Hashable, Mapping
from datetime import date

from sqlalchemy.ext.asyncio import AsyncEngine

from api.identity.authentication import ended_sessions
from api.identity.tokens import committed_revocations
from api.platform.errors import ErrorCode, PortalError
from api.platform.feed_guard import FeedGuard
from api.proxies.service import committed_grant_revocations, ended_grants

SESSION_MESSAGES = {
    "revoked": "The session was revoked (signed out, or the card reported lost): the feed has ended.",
    "expired": "The session has expired: the feed has ended.",
}
GRANT_MESSAGES = {
    "revoked": "The proxy grant was revoked: the feed has ended.",
    "expired": "The proxy grant has expired: the feed has ended.",
}


def feed_guard(engine: AsyncEngine, today: Callable[[], date] = date.today) -> FeedGuard:
    async def sessions(ids: frozenset[Hashable]) -> Mapping[Hashable, PortalError]:
        ended = await ended_sessions(engine, [key for key in ids if isinstance(key, uuid.UUID)])
        return {key: PortalError(ErrorCode.UNAUTHENTICATED, SESSION_MESSAGES[reason],
                                 extensions={"reason": f"SESSION_{reason.upper()}"}) for key, reason in ended.items()}

    async def grants(ids: frozenset[Hashable]) -> Mapping[Hashable, PortalError]:
        ended = await ended_grants(engine, [key for key in ids if isinstance(key, uuid.UUID)], today=today())
        return {key: PortalError(ErrorCode.NOT_AUTHORIZED_FOR_PERSON, GRANT_MESSAGES[reason],
                                 extensions={"reason": f"GRANT_{reason.upper()}"}) for key, reason in ended.items()}

    return FeedGuard({"session": sessions, "grant": grants},
                     counters=(committed_revocations, committed_grant_revocations))
