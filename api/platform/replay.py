"""The webhook replay guard, in the database: every worker sees the ids every other worker received, and a
restart forgets none of them.

A receiver claims a message id once it has verified the signature (api.platform.webhooks.verify_webhook):
``INSERT ... ON CONFLICT DO NOTHING RETURNING`` on ``(receiver, message_id)``, one atomic statement, so two
workers handed the same delivery at once cannot both win. An id whose entry has expired (older than twice the
signature's tolerance: a message that old fails the timestamp check anyway) may be claimed again. A receiver
that fails to apply the message releases its claim, so the sender's retry is applied rather than refused.
Closed entries are deleted by the guard itself, a batch at most once a minute per worker (no cron to forget).
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from sqlalchemy import String, delete, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from api.platform.db import Base, UTCDateTime
from api.platform.webhooks import TOLERANCE_SECONDS


class WebhookReceipt(Base):
    """One received webhook message id per receiver, kept until ``expires_at``."""

    __tablename__ = "webhook_receipts"

    receiver: Mapped[str] = mapped_column(String(64), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)  # the purge finds old ones by it


PURGE_EVERY_SECONDS = 60.0
PURGE_BATCH = 10_000


class DatabaseReplayGuard:
    def __init__(self, session_factory: async_sessionmaker[AsyncSession], receiver: str, *,
                 window: dt.timedelta = dt.timedelta(seconds=TOLERANCE_SECONDS * 2)) -> None:
        self.session_factory = session_factory
        self.receiver = receiver
        self.window = window
        self._purged_at = -PURGE_EVERY_SECONDS

    async def first_time(self, message_id: str, now: dt.datetime) -> bool:
        """Claim ``message_id``: True the first time (in the window) any worker asks, False after that."""
        async with self.session_factory() as session, session.begin():
            return await self.claim_in(session, message_id, now)

    async def claim_in(self, session: AsyncSession, message_id: str, now: dt.datetime) -> bool:
        """``first_time`` inside the caller's transaction: the claim commits with the work it guards, or rolls
        back with it (then the sender's retry is applied, with no ``release`` to forget); a concurrent delivery
        of the same id waits for this transaction and then finds the claim taken."""
        key = message_id[:200]
        if time.monotonic() - self._purged_at >= PURGE_EVERY_SECONDS:
            self._purged_at = time.monotonic()
            async with self.session_factory() as purging, purging.begin():
                await purge_receipts(purging, now, batch=PURGE_BATCH)
        claimed = await session.scalar(_claim_statement(session.get_bind().dialect.name), {
            "receiver": self.receiver, "message_id": key, "expires_at": now + self.window})
        if claimed is not None:
            return True
        # Taken: by an expired entry only, which this claim renews (one conditional UPDATE: one winner).
        renewed = await session.scalar(
            update(WebhookReceipt)
            .where(WebhookReceipt.receiver == self.receiver, WebhookReceipt.message_id == key,
                   WebhookReceipt.expires_at <= now)
            .values(expires_at=now + self.window)
            .returning(WebhookReceipt.message_id))
        return renewed is not None

    async def release(self, message_id: str) -> None:
        """Forget a claim whose message could not be applied, so the sender's retry is."""
        async with self.session_factory() as session, session.begin():
            await session.execute(delete(WebhookReceipt).where(
                WebhookReceipt.receiver == self.receiver, WebhookReceipt.message_id == message_id[:200]))


_CLAIMS: dict[str, Any] = {}


def _claim_statement(dialect: str) -> Any:
    """The claim's Core ``INSERT … ON CONFLICT DO NOTHING RETURNING``, built once per dialect: building it and its
    cache key on every notification cost more CPU than executing it."""
    statement = _CLAIMS.get(dialect)
    if statement is None:
        receipts = WebhookReceipt.__table__
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        statement = _CLAIMS[dialect] = (insert(receipts).on_conflict_do_nothing(
            index_elements=["receiver", "message_id"]).returning(receipts.c.message_id))
    return statement


async def purge_receipts(session: AsyncSession, now: dt.datetime, *, batch: int) -> int:
    """Delete up to ``batch`` receipts whose window has closed; the number deleted."""
    closed = select(WebhookReceipt.receiver, WebhookReceipt.message_id).where(
        WebhookReceipt.expires_at <= now).limit(batch)
    result = await session.execute(
        delete(WebhookReceipt).where(tuple_(WebhookReceipt.receiver, WebhookReceipt.message_id).in_(closed)),
        execution_options={"synchronize_session": False})
    return int(getattr(result, "rowcount", 0) or 0)
