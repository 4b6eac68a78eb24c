"""The sandbox gateway's state, in its database (``sandbox_gateway_*`` tables), shared by all its processes.

Each change is one transaction: the session's conditional ``UPDATE … WHERE state IN (…) RETURNING`` and the
notification it owes the merchant commit together, so a crash never loses one without the other, and of two
processes racing on one session exactly one moves it. Refunds add to ``refunded_amount`` by a conditional
UPDATE that the CHECK constraint backs: the captured amount is never refunded twice, whatever the concurrency.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from payments.gateways.sandbox_models import SandboxNotificationRow, SandboxRefundRow, SandboxSessionRow
from payments.ledger import business_day
from payments.units import in_transaction

FINISHED = frozenset({"success", "declined", "timedout", "cancelled", "error"})
# A notification is leased to the process that wrote it for this long; after that any gateway process's
# sweeper may deliver it (the writer died before delivering it).
DELIVERY_LEASE = timedelta(seconds=5)
SETTLEMENT_SLACK = timedelta(days=1)  # business days are JST: look a day either side in UTC, then filter
SESSIONS, NOTIFICATIONS = SandboxSessionRow.__table__, SandboxNotificationRow.__table__
ADD_SESSION = insert(SESSIONS)  # built once; the values come as parameters


def now_utc() -> datetime:
    return datetime.now(UTC)


def session_json(row: SandboxSessionRow, base_url: str) -> dict[str, Any]:
    return {
        "id": row.id, "merchant": row.merchant, "merchant_reference": row.merchant_reference,
        "amount": row.amount, "currency": "JPY", "method": row.method, "description": row.description,
        "state": row.state, "error_code": row.error_code, "card_brand": row.card_brand, "card_last4": row.card_last4,
        "captured_at": row.captured_at.isoformat() if row.captured_at else None,
        "expires_at": row.expires_at.isoformat(),
        "next_url": None if row.state in FINISHED else f"{base_url}/pay/{row.id}",
        "refunded_amount": row.refunded_amount,
    }


def refund_json(row: SandboxRefundRow) -> dict[str, Any]:
    return {"id": row.id, "state": row.state, "amount": row.amount, "session_id": row.session_id,
            "refund_reference": row.refund_reference, "created_at": row.created_at.isoformat()}


@dataclass(frozen=True)
class NewSession:
    merchant: str
    merchant_reference: str
    amount: int
    method: str
    description: str
    return_url: str
    notification_url: str
    expires_in: int


@dataclass(frozen=True)
class Owed:
    """A notification to deliver: its stable id, where, what, and how many attempts came before."""

    id: str
    url: str
    body: bytes
    attempts: int


class RefundRefused(Exception):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code


class GatewayStore:
    def __init__(self, session_factory: async_sessionmaker[AsyncSession], base_url: str) -> None:
        self.session_factory = session_factory
        self.base_url = base_url.rstrip("/")
        bind = session_factory.kw["bind"]
        # A single statement needs no transaction: on PostgreSQL it runs in autocommit, one round trip instead of
        # BEGIN, INSERT and COMMIT (SQLite's units of work take their write lock by an explicit BEGIN instead).
        self.single = bind.execution_options(isolation_level="AUTOCOMMIT") if bind.dialect.name == "postgresql" \
            else None

    async def create(self, new: NewSession) -> tuple[SandboxSessionRow, bool]:
        """(session, created): idempotent on ``merchant_reference`` (the unique key decides a race)."""
        now = now_utc()
        row = SandboxSessionRow(
            id="gws_" + secrets.token_hex(12), merchant=new.merchant, merchant_reference=new.merchant_reference,
            amount=new.amount, method=new.method, description=new.description[:200], return_url=new.return_url,
            notification_url=new.notification_url, expires_at=now + timedelta(seconds=new.expires_in),
            state="created", refunded_amount=0, created_at=now)
        # One Core INSERT: the ORM's unit of work (flush) cost more CPU than the statement itself.
        values = {column.key: getattr(row, column.key) for column in SESSIONS.columns}
        try:
            if self.single is not None:
                async with self.single.connect() as connection:
                    await connection.execute(ADD_SESSION, values)
            else:
                async with self.session_factory() as session, session.begin():
                    await session.execute(ADD_SESSION, values)
        except IntegrityError:
            existing = await self.by_reference(new.merchant_reference)
            if existing is None:
                raise
            return existing, False
        return row, True

    async def get(self, session_id: str) -> tuple[SandboxSessionRow | None, list[Owed]]:
        """The session (timed out first if its page expired unused) and any notification that wrote."""
        async with self.session_factory() as session:
            row = await session.get(SandboxSessionRow, session_id)
        if row is None or row.state != "created" or row.expires_at >= now_utc():
            return row, []
        changed, owed = await self.change(session_id, ("created",), "timedout", "P0020")
        return changed or await self._reload(session_id), owed

    async def by_reference(self, merchant_reference: str) -> SandboxSessionRow | None:
        async with self.session_factory() as session:
            return await session.scalar(select(SandboxSessionRow).where(
                SandboxSessionRow.merchant_reference == merchant_reference))

    async def _reload(self, session_id: str) -> SandboxSessionRow | None:
        async with self.session_factory() as session:
            return await session.get(SandboxSessionRow, session_id)

    async def change(self, session_id: str, from_states: Iterable[str], state: str, error_code: str | None = None,
                     *, method: str | None = None, unexpired: bool = False,
                     **values: Any) -> tuple[SandboxSessionRow | None, list[Owed]]:
        """Move the session from one of ``from_states`` to ``state``, with the notification it owes, in one
        transaction: one UPDATE and one INSERT, however many steps the change took at once (a submitted form is
        "submitted" and then its outcome, seen by nobody in between: the merchant is told the outcome, as GOV.UK
        Pay and Stripe notify outcomes). (None, []) if the session was not there, or not of ``method``, or
        (``unexpired``) past its expiry: a submitted form changes the session without reading it first."""

        async def work(session: AsyncSession) -> tuple[SandboxSessionRow | None, list[Owed]]:
            now = now_utc()
            extra = {**values, "captured_at": now} if state == "success" else values
            conditions = [SandboxSessionRow.id == session_id, SandboxSessionRow.state.in_(tuple(from_states))]
            if method is not None:
                conditions.append(SandboxSessionRow.method == method)
            if unexpired:
                conditions.append(SandboxSessionRow.expires_at >= now)
            row = await session.scalar(
                update(SandboxSessionRow).where(*conditions)
                .values(state=state, error_code=error_code, **extra).returning(SandboxSessionRow)
                .execution_options(populate_existing=True, synchronize_session=False))
            if row is None:
                return None, []
            return row, [await self._owe(session, row, now)]

        return await in_transaction(self.session_factory, work)

    async def _owe(self, session: AsyncSession, row: SandboxSessionRow, now: datetime) -> Owed:
        body = json.dumps({"type": f"session.{row.state}", "data": session_json(row, self.base_url)})
        owed = Owed(id="gwmsg_" + secrets.token_hex(12), url=row.notification_url, body=body.encode(), attempts=0)
        await session.execute(insert(NOTIFICATIONS).values(id=owed.id, url=owed.url, body=body, attempts=0,
                                                           next_attempt_at=now + DELIVERY_LEASE))
        return owed

    async def refund(self, session_id: str, refund_reference: str, amount: int) -> tuple[dict[str, Any], bool]:
        """(refund, created): idempotent on ``refund_reference``; RefundRefused when it cannot be done."""

        async def work(session: AsyncSession) -> tuple[dict[str, Any], bool]:
            existing = await session.scalar(select(SandboxRefundRow).where(
                SandboxRefundRow.refund_reference == refund_reference))
            if existing is not None:
                return refund_json(existing), False
            target = await session.get(SandboxSessionRow, session_id)
            if target is None:
                raise LookupError(session_id)
            if target.state != "success":
                raise RefundRefused("NOT_REFUNDABLE", "only successful payments are refundable")
            applied = await session.scalar(
                update(SandboxSessionRow)
                .where(SandboxSessionRow.id == session_id, SandboxSessionRow.state == "success",
                       SandboxSessionRow.refunded_amount + amount <= SandboxSessionRow.amount)
                .values(refunded_amount=SandboxSessionRow.refunded_amount + amount)
                .returning(SandboxSessionRow.id).execution_options(synchronize_session=False))
            if applied is None:
                # Waiting for the row lock may have been waiting for a refund with our very reference (PostgreSQL
                # re-reads the row; this new statement sees what that transaction committed).
                replay = await session.scalar(select(SandboxRefundRow).where(
                    SandboxRefundRow.refund_reference == refund_reference))
                if replay is not None:
                    return refund_json(replay), False
                raise RefundRefused("REFUND_EXCEEDS_AVAILABLE", "more than what remains")
            row = SandboxRefundRow(id="gwr_" + secrets.token_hex(12), session_id=session_id,
                                   refund_reference=refund_reference, amount=amount, state="success",
                                   created_at=now_utc())
            session.add(row)
            await session.flush()
            return refund_json(row), True

        try:
            return await in_transaction(self.session_factory, work)
        except IntegrityError:  # the same reference, concurrently: that one won, and ours rolled back whole
            async with self.session_factory() as session:
                existing = await session.scalar(select(SandboxRefundRow).where(
                    SandboxRefundRow.refund_reference == refund_reference))
            if existing is None:
                raise
            return refund_json(existing), False

    async def settlement_rows(self, day: date, merchant: str | None) -> list[dict[str, Any]]:
        start = datetime(day.year, day.month, day.day, tzinfo=UTC) - SETTLEMENT_SLACK
        end = start + 3 * SETTLEMENT_SLACK
        async with self.session_factory() as session:
            query = select(SandboxSessionRow).where(SandboxSessionRow.state == "success",
                                                    SandboxSessionRow.captured_at >= start,
                                                    SandboxSessionRow.captured_at < end)
            refunds = select(SandboxRefundRow, SandboxSessionRow.merchant).join(
                SandboxSessionRow, SandboxSessionRow.id == SandboxRefundRow.session_id).where(
                SandboxRefundRow.created_at >= start, SandboxRefundRow.created_at < end)
            if merchant:
                query = query.where(SandboxSessionRow.merchant == merchant)
                refunds = refunds.where(SandboxSessionRow.merchant == merchant)
            sessions = list(await session.scalars(query.order_by(SandboxSessionRow.captured_at)))
            refund_rows = (await session.execute(refunds.order_by(SandboxRefundRow.created_at))).all()
        rows = []
        text = day.isoformat()
        for row in sessions:
            assert row.captured_at is not None
            if business_day(row.captured_at) == day:
                fee = card_fee(row.amount) if row.method == "card" else 0
                rows.append({"settlement_date": text, "merchant": row.merchant, "type": "payment",
                             "gateway_reference": row.id, "merchant_reference": row.merchant_reference,
                             "amount": row.amount, "fee": fee, "net": row.amount - fee,
                             "captured_at": row.captured_at.isoformat()})
        for refund, refund_merchant in refund_rows:
            if business_day(refund.created_at) == day:
                rows.append({"settlement_date": text, "merchant": refund_merchant, "type": "refund",
                             "gateway_reference": refund.id, "merchant_reference": refund.refund_reference,
                             "amount": refund.amount, "fee": 0, "net": -refund.amount,
                             "captured_at": refund.created_at.isoformat()})
        return rows

    async def claim_due(self, limit: int = 100) -> list[Owed]:
        """Notifications whose lease ran out (their writer died, or a retry is due), leased to this process."""
        now = now_utc()
        due = (select(SandboxNotificationRow.id).where(SandboxNotificationRow.next_attempt_at <= now)
               .order_by(SandboxNotificationRow.next_attempt_at).limit(limit))

        async def work(session: AsyncSession) -> list[Owed]:
            rows = (await session.execute(
                update(SandboxNotificationRow)
                .where(SandboxNotificationRow.id.in_(due), SandboxNotificationRow.next_attempt_at <= now)
                .values(next_attempt_at=now + DELIVERY_LEASE)
                .returning(SandboxNotificationRow.id, SandboxNotificationRow.url, SandboxNotificationRow.body,
                           SandboxNotificationRow.attempts)
                .execution_options(synchronize_session=False))).all()
            return [Owed(id=r.id, url=r.url, body=r.body.encode(), attempts=r.attempts) for r in rows]

        return await in_transaction(self.session_factory, work)

    async def delivered(self, *notification_ids: str) -> None:
        await in_transaction(self.session_factory, lambda session: session.execute(
            delete(SandboxNotificationRow).where(SandboxNotificationRow.id.in_(notification_ids))))

    async def retry_later(self, notification_id: str, attempts: int, delay: float | None) -> None:
        """Another attempt after ``delay`` seconds; None: given up (the merchant's recovery job asks instead)."""
        if delay is None:
            await self.delivered(notification_id)
            return
        await in_transaction(self.session_factory, lambda session: session.execute(
            update(SandboxNotificationRow).where(SandboxNotificationRow.id == notification_id)
            .values(attempts=attempts, next_attempt_at=now_utc() + timedelta(seconds=delay))))


CARD_FEE_BASIS_POINTS = 100  # 1.00 % of card payments, rounded down; net banking is free here


def card_fee(amount: int) -> int:
    return amount * CARD_FEE_BASIS_POINTS // 10_000
