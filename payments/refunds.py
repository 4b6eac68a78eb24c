"""Refunds by the agency, full or partial, guarded by what is still refundable.

The guard is one conditional UPDATE (``refunded_amount + :amount <= amount``) backed by a CHECK
constraint, so two concurrent refunds can never exceed the payment. The gateway call happens after
commit and is idempotent on the refund id; a refund the gateway refuses gives its amount back.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.platform.db import utcnow
from api.platform.errors import PortalError
from payments import callbacks, idempotency, ledger
from payments.gateways.base import Gateway, GatewayRejected, GatewayUnavailable
from payments.models import Payment, PaymentMethod, PaymentState, Refund, RefundState
from payments.money import yen
from payments.units import in_transaction
from payments.views import refund_json


async def refund_payment(
    session_factory: async_sessionmaker[AsyncSession], gateway: Gateway, *, agency_id: uuid.UUID,
    payment_id: uuid.UUID, amount: int, refund_amount_available: int | None, idempotency_key: str,
    now: datetime | None = None,
) -> tuple[Refund, bool]:
    """(refund, created): a replay with the same key and body returns the original refund, created=False."""
    now = now or utcnow()
    yen(amount)
    if refund_amount_available is not None and (
            isinstance(refund_amount_available, bool) or not isinstance(refund_amount_available, int)):
        raise PortalError("AMOUNT_INVALID", "refund_amount_available must be a whole number of yen.")
    scope = f"agency:{agency_id}:refund"
    body = {"payment_id": str(payment_id), "amount": amount, "refund_amount_available": refund_amount_available}
    original: uuid.UUID | None = None

    async def claim_and_reserve(session: AsyncSession) -> Refund | None:
        nonlocal original
        original = await idempotency.claim(session, scope, idempotency_key, body, now=now)
        if original is not None:
            return await session.get(Refund, original)
        reserved = await _reserve(session, agency_id, payment_id, amount, refund_amount_available, now)
        await idempotency.remember(session, scope, idempotency_key, reserved.id)
        return reserved

    refund = await in_transaction(session_factory, claim_and_reserve)
    assert refund is not None
    if refund.state == RefundState.SUBMITTED:
        refund = await submit_refund(session_factory, gateway, refund.id, now=now)
    return refund, original is None


async def _reserve(
    session: AsyncSession, agency_id: uuid.UUID, payment_id: uuid.UUID, amount: int, expected: int | None,
    now: datetime,
) -> Refund:
    payment = await session.get(Payment, payment_id)
    if payment is None or payment.agency_id != agency_id:
        raise PortalError("NOT_FOUND", "No such payment.")
    if payment.state != PaymentState.SUCCESS or payment.method == PaymentMethod.PAYEASY:
        raise PortalError("REFUND_NOT_AVAILABLE",
                             "Only successful card or net-banking payments can be refunded here.")
    conditions = [Payment.id == payment_id, Payment.state == PaymentState.SUCCESS,
                  Payment.refunded_amount + amount <= Payment.amount]
    if expected is not None:
        conditions.append(Payment.amount - Payment.refunded_amount == expected)
    reserved = await session.scalar(
        update(Payment).where(*conditions).values(refunded_amount=Payment.refunded_amount + amount)
        .returning(Payment.id).execution_options(synchronize_session=False))
    if reserved is None:
        available = await session.scalar(select(Payment.amount - Payment.refunded_amount)
                                          .where(Payment.id == payment_id))
        if expected is not None and available != expected:
            raise PortalError("REFUND_AMOUNT_AVAILABLE_MISMATCH",
                                 f"refund_amount_available is {expected}, but {available} yen remain refundable.")
        raise PortalError("REFUND_EXCEEDS_AVAILABLE", f"Only {available} yen remain refundable.")
    refund = Refund(payment_id=payment_id, agency_id=agency_id, amount=amount, created_at=now)
    session.add(refund)
    await session.flush()
    return refund


async def submit_refund(
    session_factory: async_sessionmaker[AsyncSession], gateway: Gateway, refund_id: uuid.UUID, *, now: datetime
) -> Refund:
    """Ask the gateway to refund (again, harmlessly, if we asked before) and record the outcome once."""
    async with session_factory() as session:
        refund = await session.get(Refund, refund_id)
        assert refund is not None
        payment = await session.get(Payment, refund.payment_id)
        assert payment is not None and payment.gateway_reference is not None
    try:
        remote = await gateway.refund(payment.gateway_reference, amount=refund.amount, refund_reference=str(refund.id))
        outcome, reference, error_code = RefundState(remote.state), remote.reference, None
    except GatewayUnavailable:
        return refund  # stays submitted; `mynaportal payments recover` asks again
    except GatewayRejected as rejected:
        outcome, reference, error_code = RefundState.ERROR, None, rejected.code[:40]
    async def record(session: AsyncSession) -> Refund:
        finished = await session.scalar(
            update(Refund).where(Refund.id == refund_id, Refund.state == RefundState.SUBMITTED)
            .values(state=outcome, gateway_reference=reference, error_code=error_code, finished_at=now)
            .returning(Refund).execution_options(populate_existing=True, synchronize_session=False))
        if finished is None:
            current = await session.get(Refund, refund_id, populate_existing=True)
            assert current is not None
            return current
        if outcome == RefundState.SUCCESS:
            await ledger.post(session, event_key=f"refund:{refund_id}", kind="refund", agency_id=refund.agency_id,
                              booked_on=ledger.business_day(now),
                              lines=[(ledger.AGENCY_COLLECTIONS if payment.paid_order_id else ledger.UNAPPLIED,
                                      refund.amount, reference),
                                     (ledger.GATEWAY_CLEARING, -refund.amount, reference)])
        else:
            await session.execute(update(Payment).where(Payment.id == payment.id)
                                  .values(refunded_amount=Payment.refunded_amount - refund.amount)
                                  .execution_options(synchronize_session=False))
        await callbacks.enqueue(session, agency_id=refund.agency_id,
                                event_type="refund.succeeded" if outcome == RefundState.SUCCESS else "refund.failed",
                                payment_id=payment.id, data=refund_json(finished), now=now)
        return finished

    return await in_transaction(session_factory, record)


async def retry_submitted_refunds(
    session_factory: async_sessionmaker[AsyncSession], gateway: Gateway, *, now: datetime, limit: int = 500
) -> int:
    async with session_factory() as session:
        ids = list(await session.scalars(select(Refund.id).where(Refund.state == RefundState.SUBMITTED)
                                         .order_by(Refund.created_at).limit(limit)))
    done = 0
    for refund_id in ids:
        if (await submit_refund(session_factory, gateway, refund_id, now=now)).state != RefundState.SUBMITTED:
            done += 1
    return done
