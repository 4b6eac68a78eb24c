"""The payment state machine: created → started → submitted → success, or declined / timedout / cancelled / error.

Every transition is one conditional ``UPDATE … WHERE state IN (earlier states) RETURNING``: a state never
moves backwards, a finished payment never changes, and of two concurrent deliveries of the same news
exactly one changes anything. Success settles the order (at most once: ``paid_order_id`` is unique),
posts the ledger and enqueues the agency's callback, all in the same transaction.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm.attributes import set_committed_value

from api.platform.db import utcnow
from api.platform.errors import PortalError
from api.platform.scopes import PAYMENTS_WRITE
from api.proxies.service import acting_for
from payments import callbacks, idempotency, ledger, statements
from payments.gateways.base import Gateway, GatewayRejected, GatewaySession, GatewayUnavailable
from payments.idempotency import insert_ignoring_conflicts
from payments.models import (
    OrderState,
    Payment,
    PaymentMethod,
    PaymentOrder,
    PaymentState,
)
from payments.units import in_transaction
from payments.views import FAILURE_MESSAGES, FINISHED, payment_json

logger = logging.getLogger("payments")

RANK = {PaymentState.CREATED: 0, PaymentState.STARTED: 1, PaymentState.SUBMITTED: 2,
        **{state: 3 for state in FINISHED}}
EARLIER = {to: tuple(state for state, rank in RANK.items() if rank < RANK[to]) for to in RANK}
GATEWAY_TO_STATE = {"created": PaymentState.STARTED, "submitted": PaymentState.SUBMITTED,
                    "success": PaymentState.SUCCESS, "declined": PaymentState.DECLINED,
                    "timedout": PaymentState.TIMEDOUT,
                    "cancelled": PaymentState.CANCELLED, "error": PaymentState.ERROR}
DEFAULT_CODES = {PaymentState.DECLINED: "P0010", PaymentState.TIMEDOUT: "P0020", PaymentState.CANCELLED: "P0030",
                 PaymentState.ERROR: "P0050"}
APP_RETURN_URL = "mynaportal://payments/{payment_id}"  # where the return page sends the phone back to the app
WEB_RETURN_URL = "/web/payments/{payment_id}"  # ... and a browser that started on the web portal back there


@dataclass(frozen=True)
class Urls:
    """Where the gateway sends the browser back, and where it posts its notifications."""

    public_url: str
    to_web: bool = False  # the payer started on the web portal: the return page sends them back there

    def return_url(self, payment_id: uuid.UUID) -> str:
        return f"{self.public_url}/payments/return/{payment_id}" + ("?to=web" if self.to_web else "")

    @property
    def notification_url(self) -> str:
        return f"{self.public_url}/payments/gateway/notifications"


async def transition(
    session: AsyncSession, payment_id: uuid.UUID, to: PaymentState, *, source: str, now: datetime,
    reference: str | None = None, amount: int | None = None, **values: Any,
) -> Payment | None:
    """Move the payment forward to ``to``; None when it is already there or beyond (nothing changed).

    ``reference``: the gateway session's, taken unless the payment has one. With ``amount`` too, the move happens
    only if the session matches the payment (its amount, and its reference unless the payment has none yet)."""
    earlier = EARLIER[to]
    if to in FINISHED:
        values.setdefault("finished_at", now)
        values["active_order_id"] = None
        if to != PaymentState.SUCCESS:
            code = values.setdefault("failure_code", DEFAULT_CODES[to])
            values.setdefault("failure_message", FAILURE_MESSAGES[code])
    columns = tuple(sorted(values))
    parameters = {f"set_{name}": values[name] for name in columns}
    parameters["t_payment"] = payment_id
    if reference is not None:
        parameters["t_reference"] = reference
    if amount is not None:
        parameters.update(t_amount=amount, t_match_reference=reference)
    payment = await session.scalar(statements.transition(to, earlier, columns, reference=reference is not None,
                                                         match=amount is not None), parameters)
    if payment is None:
        return None
    await _record_event(session, payment_id, to, source, now)
    if to == PaymentState.SUCCESS:
        await _settle(session, payment, now)
    elif to in FINISHED:
        await _tell_agency(session, payment, "payment.failed", now)
    return payment


async def _record_event(session: AsyncSession, payment_id: uuid.UUID, state: PaymentState, source: str,
                        now: datetime) -> None:
    """The history's row, by one Core INSERT (no unit-of-work flush, no ORM plugin: nothing reads it back)."""
    await session.execute(statements.ADD_EVENT, {"id": uuid.uuid4(), "payment_id": payment_id, "state": state,
                                                 "source": source, "occurred_at": now})


async def _settle(session: AsyncSession, payment: Payment, now: datetime) -> None:
    applied = (await session.execute(statements.SETTLE_ORDER, {
        "order": payment.order_id, "payment": payment.id, "at": now, "agency": payment.agency_id,
        "person": payment.person_id})).first()
    clearing = ledger.BANK_CLEARING if payment.method == PaymentMethod.PAYEASY else ledger.GATEWAY_CLEARING
    captured = payment.captured_at or now
    if applied is not None:
        await session.execute(statements.MARK_PAID, {"payment": payment.id, "order": payment.order_id})
        set_committed_value(payment, "paid_order_id", payment.order_id)  # as the UPDATE left it: no second one
        credit, kind = ledger.AGENCY_COLLECTIONS, "payment"
    else:
        # The order was paid another way, cancelled or expired meanwhile: the money is kept, to refund.
        logger.warning("payment %s succeeded for an order that is no longer open", payment.id)
        credit, kind = ledger.UNAPPLIED, "unapplied"
    await ledger.post(session, event_key=f"payment:{payment.id}", kind=kind, agency_id=payment.agency_id,
                      booked_on=ledger.business_day(captured),
                      lines=[(clearing, payment.amount, payment.gateway_reference),
                             (credit, -payment.amount, payment.gateway_reference)])
    await _tell_agency(session, payment, "payment.succeeded", now, known=applied)


async def _tell_agency(session: AsyncSession, payment: Payment, event_type: str, now: datetime,
                       known: Any = None) -> None:
    """``known``: the (agency reference, person code, has endpoint) row, when the caller already read it."""
    if known is None:
        data, has_endpoint = await _agency_view_and_endpoint(session, payment)
    else:
        data, has_endpoint = payment_json(payment, person_code=known[1], agency_reference=known[0]), bool(known[2])
    await callbacks.enqueue(session, agency_id=payment.agency_id, event_type=event_type, payment_id=payment.id,
                            data=data, now=now, has_endpoint=has_endpoint)


async def agency_view(session: AsyncSession, payment: Payment) -> dict[str, Any]:
    """The payment as its agency sees it: the person only by the agency's own code."""
    return (await _agency_view_and_endpoint(session, payment))[0]


async def _agency_view_and_endpoint(session: AsyncSession, payment: Payment) -> tuple[dict[str, Any], bool]:
    """The agency's view and whether the agency has a callback endpoint: one query for both."""
    row = (await session.execute(statements.AGENCY_VIEW, {"agency": payment.agency_id, "person": payment.person_id,
                                                          "order": payment.order_id})).one()
    return payment_json(payment, person_code=row[1], agency_reference=row[0]), bool(row[2])


async def start_payment(
    session_factory: async_sessionmaker[AsyncSession], gateway: Gateway, urls: Urls, *,
    actor_id: uuid.UUID, order_id: uuid.UUID, method: PaymentMethod, idempotency_key: str,
    today: date, session_ttl_seconds: int, now: datetime | None = None,
) -> Payment:
    """Start paying an order at the gateway's hosted page; the answer carries ``next_url``.

    The payment row and the key's claim commit together before the gateway is called; the gateway
    session is idempotent on the payment id, so a retry (same key) after any failure resumes.
    """
    now = now or utcnow()
    if method not in (PaymentMethod.CARD, PaymentMethod.NET_BANKING):
        raise PortalError("BAD_USER_INPUT", "Pay by card or net banking here; Pay-easy at a bank or ATM.")
    scope = f"person:{actor_id}:payment-start"

    async def claim_and_create(session: AsyncSession) -> tuple[Payment | None, str]:
        payment_id = uuid.uuid4()  # stored with the key's claim: no second write to remember it
        original = await idempotency.claim(session, scope, idempotency_key,
                                           {"order_id": str(order_id), "method": method.value}, now=now,
                                           resource_id=payment_id)
        if original is not None:
            payment = await session.get(Payment, original)
            if payment is None or payment.state != PaymentState.CREATED:
                return payment, ""
            return payment, await session.scalar(select(PaymentOrder.purpose).where(
                PaymentOrder.id == payment.order_id)) or ""
        return await _new_payment(session, payment_id, actor_id, order_id, method, today, now, session_ttl_seconds,
                                  gateway.name)

    payment, purpose = await in_transaction(session_factory, claim_and_create)
    assert payment is not None
    if payment.state == PaymentState.CREATED:
        payment = await ensure_started(session_factory, gateway, urls, payment, description=purpose, now=now)
    return payment


async def _new_payment(
    session: AsyncSession, payment_id: uuid.UUID, actor_id: uuid.UUID, order_id: uuid.UUID, method: PaymentMethod,
    today: date, now: datetime, ttl: int, gateway_name: str,
) -> tuple[Payment, str]:
    """The new payment and what it pays for (the gateway's page shows it)."""
    order = await session.get(PaymentOrder, order_id)
    if order is None:
        raise PortalError("NOT_FOUND", "No such order.")
    acting = await acting_for(session, actor_id, order.person_id, PAYMENTS_WRITE, today=today, purpose="payments:pay")
    if acting is None:
        raise PortalError("NOT_FOUND", "No such order.")  # do not reveal someone else's order
    if order.state != OrderState.OPEN or today > order.payable_until:
        raise PortalError("ORDER_NOT_PAYABLE", f"This order cannot be paid (it is {order.state.value}).")
    # The unique active_order_id decides a race between two payments of one order: the loser inserts nothing
    # (PostgreSQL makes it wait for the winner's transaction), without a savepoint's two extra round trips.
    payment = await session.scalar(
        insert_ignoring_conflicts(session, Payment).values(
            id=payment_id, order_id=order.id, agency_id=order.agency_id, person_id=order.person_id,
            actor_person_id=actor_id, acting_basis=acting.basis.value, method=method, amount=order.amount,
            state=PaymentState.CREATED, gateway=gateway_name, active_order_id=order.id, created_at=now,
            expires_at=now + timedelta(seconds=ttl))
        .on_conflict_do_nothing().returning(Payment))
    if payment is None:
        raise PortalError("PAYMENT_IN_PROGRESS",
                          "Another payment of this order is in progress; finish or cancel it first.")
    await _record_event(session, payment.id, PaymentState.CREATED, "api", now)
    return payment, order.purpose


async def ensure_started(
    session_factory: async_sessionmaker[AsyncSession], gateway: Gateway, urls: Urls, payment: Payment, *,
    description: str, now: datetime,
) -> Payment:
    try:
        remote = await gateway.create_session(
            merchant=str(payment.agency_id), merchant_reference=str(payment.id), amount=payment.amount,
            method=payment.method.value, description=description, return_url=urls.return_url(payment.id),
            notification_url=urls.notification_url,
            expires_in=max(60, int((payment.expires_at - now).total_seconds())),
        )
    except GatewayUnavailable as error:
        raise PortalError("GATEWAY_UNAVAILABLE",
                             "The payment service is unavailable; try again with the same Idempotency-Key.") from error

    async def record_start(session: AsyncSession) -> Payment:
        started = await transition(
            session, payment.id, PaymentState.STARTED, source="api", now=now, next_url=remote.next_url,
            reference=remote.reference)
        if started is None:  # already started or beyond (a notification came first): keep the reference
            await _record_reference(session, payment.id, remote.reference)
            started = await session.get(Payment, payment.id, populate_existing=True)
        assert started is not None
        if remote.state != "created":  # the gateway already knows more (a late retry of ours)
            started = await apply_gateway_session(session, remote, source="api", now=now) or started
        return started

    return await in_transaction(session_factory, record_start)


async def _record_reference(session: AsyncSession, payment_id: uuid.UUID, reference: str) -> None:
    await session.execute(update(Payment).where(Payment.id == payment_id, Payment.gateway_reference.is_(None))
                          .values(gateway_reference=reference).execution_options(synchronize_session=False))


async def apply_gateway_session(
    session: AsyncSession, remote: GatewaySession, *, source: str, now: datetime
) -> Payment | None:
    """Apply what the gateway says about a session (notification, status query): forward moves only.

    Returns the payment if this changed it, else None. Unknown or inconsistent sessions raise LookupError.
    """
    try:
        merchant_reference = uuid.UUID(remote.merchant_reference)
    except ValueError as error:
        raise LookupError("not one of our payments") from error
    target = GATEWAY_TO_STATE.get(remote.state)
    if target is not None:
        # The usual news moves the payment: one conditional UPDATE checks the session matches and applies it.
        moved = await transition(session, merchant_reference, target, source=source, now=now,
                                 reference=remote.reference, amount=remote.amount, **_news(target, remote, now))
        if moved is not None:
            return moved
    # Nothing moved: old news, or a session that is not one of our payments (told apart by reading the row).
    payment = await session.get(Payment, merchant_reference, populate_existing=True)
    if payment is None or payment.amount != remote.amount or (
            payment.gateway_reference not in (None, remote.reference)):
        raise LookupError("the session does not match a payment")
    if payment.gateway_reference is None:
        await _record_reference(session, payment.id, remote.reference)
    return None


def _news(target: PaymentState, remote: GatewaySession, now: datetime) -> dict[str, Any]:
    """What a gateway session in state ``target`` tells about the payment, as column values."""
    values: dict[str, Any] = {}
    if target == PaymentState.SUCCESS:
        values = {"captured_at": remote.captured_at or now, "card_brand": remote.card_brand,
                  "card_last4": remote.card_last4}
    elif target in FINISHED and remote.error_code in FAILURE_MESSAGES:
        values = {"failure_code": remote.error_code}
    elif target == PaymentState.SUBMITTED:
        values = {"card_brand": remote.card_brand, "card_last4": remote.card_last4}
    elif target == PaymentState.STARTED:
        values = {"next_url": remote.next_url}
    return values


async def cancel_payment(
    session_factory: async_sessionmaker[AsyncSession], gateway: Gateway, *, actor_id: uuid.UUID,
    payment_id: uuid.UUID, today: date, now: datetime | None = None,
) -> Payment:
    """The payer gives up an unfinished payment (P0030); the gateway decides if it is still possible."""
    now = now or utcnow()
    async with session_factory() as session, session.begin():
        payment = await session.get(Payment, payment_id)
        if payment is None or await acting_for(session, actor_id, payment.person_id, PAYMENTS_WRITE, today=today,
                                               purpose="payments:cancel") is None:
            raise PortalError("NOT_FOUND", "No such payment.")
    if payment.state in FINISHED or payment.state == PaymentState.SUBMITTED:
        raise PortalError("PAYMENT_NOT_CANCELLABLE", f"The payment is {payment.state.value}.")
    remote = None
    if payment.gateway_reference is not None:
        try:
            remote = await gateway.cancel_session(payment.gateway_reference)
        except GatewayUnavailable as error:
            raise PortalError("GATEWAY_UNAVAILABLE", "The payment service is unavailable; try again.") from error
    async with session_factory() as session, session.begin():
        if remote is not None and remote.state != "cancelled":
            await apply_gateway_session(session, remote, source="api", now=now)
            raise PortalError("PAYMENT_NOT_CANCELLABLE", f"The payment is {remote.state} at the gateway.")
        changed = await transition(session, payment_id, PaymentState.CANCELLED, source="api", now=now,
                                   failure_code="P0030")
        result = changed or await session.get(Payment, payment_id, populate_existing=True)
        assert result is not None
        return result


@dataclass
class RecoveryRun:
    checked: int = 0
    settled: int = 0
    expired: int = 0
    unreachable: int = 0


async def recover(
    session_factory: async_sessionmaker[AsyncSession], gateway: Gateway, *, now: datetime | None = None,
    limit: int = 500,
) -> RecoveryRun:
    """Ask the gateway about every unfinished card/net-banking payment and apply what it says.

    This settles payments whose notification never reached us (our process died, the network failed);
    sessions past their expiry are cancelled at the gateway and time out (P0020).
    """
    now = now or utcnow()
    run = RecoveryRun()
    async with session_factory() as session:
        pending = list(await session.scalars(
            select(Payment).where(Payment.state.in_([PaymentState.CREATED, PaymentState.STARTED,
                                                     PaymentState.SUBMITTED]),
                                  Payment.method != PaymentMethod.PAYEASY)
            .order_by(Payment.created_at).limit(limit)))
    for payment in pending:
        run.checked += 1
        try:
            if payment.gateway_reference is not None:
                remote: GatewaySession | None = await gateway.get_session(payment.gateway_reference)
            else:
                remote = await gateway.find_session(str(payment.id))
            if remote is not None and remote.state == "created" and payment.expires_at <= now:
                remote = await gateway.cancel_session(remote.reference, reason="expired")
        except GatewayUnavailable:
            run.unreachable += 1
            continue
        except GatewayRejected:
            remote = None
        async with session_factory() as session, session.begin():
            if remote is None:
                if payment.expires_at <= now and await transition(
                        session, payment.id, PaymentState.TIMEDOUT, source="recovery", now=now):
                    run.expired += 1
                continue
            # Counted by outcome: the gateway's own notification may have won the race to apply it.
            current = await apply_gateway_session(session, remote, source="recovery", now=now) or \
                await session.get(Payment, payment.id, populate_existing=True)
            if current is not None and current.state == PaymentState.SUCCESS:
                run.settled += 1
            elif current is not None and current.state == PaymentState.TIMEDOUT:
                run.expired += 1
    return run
