"""Fixed-window counters in the database, so every uvicorn worker shares them."""

from __future__ import annotations

import datetime as dt
import math

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from api.identity.login_models import RateLimitCounter


async def hit(session: AsyncSession, key: str, *, limit: int, window: dt.timedelta, now: dt.datetime) -> int | None:
    """Count one attempt for ``key``; the seconds to wait if this attempt is over ``limit``, else None.

    One atomic upsert (``count = count + 1 ... RETURNING``): concurrent attempts never lose a count.
    """
    seconds = int(window.total_seconds())
    start = dt.datetime.fromtimestamp(int(now.timestamp()) // seconds * seconds, dt.UTC)
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(RateLimitCounter).values(key=key[:200], window_start=start, count=1)
    statement = statement.on_conflict_do_update(
        index_elements=["key", "window_start"], set_={"count": RateLimitCounter.count + 1}
    ).returning(RateLimitCounter.count)
    count = (await session.execute(statement)).scalar_one()
    if count <= limit:
        return None
    return max(1, math.ceil((start + window - now).total_seconds()))
