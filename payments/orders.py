"""Payment orders (納付): created by an agency for a person it knows only by its own code."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Uuid, and_, column, exists, select, table, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api.agencies.service import person_for_code
from api.platform.errors import PortalError
from payments import callbacks, idempotency, slips
from payments.models import OrderState, Payment, PaymentOrder
from payments.money import yen

MAX_PAYABLE_DAYS = 366 * 2
# The notices table by name: payments and notices are neighbours that do not import each other.
_NOTICES = table("notices", column("id", Uuid), column("agency_id", Uuid))


@dataclass(frozen=True)
class NewOrder:
    person_code: str
    amount: int
    purpose: str
    due_date: date
    agency_reference: str
    payable_until: date | None = None
    notice_id: uuid.UUID | None = None

    def body(self) -> dict[str, object]:
        return {"person_code": self.person_code, "amount": self.amount, "purpose": self.purpose,
                "due_date": self.due_date.isoformat(), "agency_reference": self.agency_reference,
                "payable_until": self.payable_until.isoformat() if self.payable_until else None,
                "notice_id": str(self.notice_id) if self.notice_id else None}


def _validate(new: NewOrder, today: date) -> date:
    yen(new.amount)
    if not new.purpose.strip() or len(new.purpose) > 200:
        raise PortalError("BAD_USER_INPUT", "purpose must be 1-200 characters.")
    if not new.agency_reference.strip() or len(new.agency_reference) > 64:
        raise PortalError("BAD_USER_INPUT", "reference must be 1-64 characters.")
    payable_until = new.payable_until or new.due_date
    if payable_until < new.due_date:
        raise PortalError("BAD_USER_INPUT", "payable_until must not be before due_date.")
    if payable_until < today or (payable_until - today).days > MAX_PAYABLE_DAYS:
        raise PortalError("BAD_USER_INPUT", "payable_until must be between today and two years from today.")
    return payable_until


async def create_order(
    session: AsyncSession, agency_id: uuid.UUID, new: NewOrder, *, idempotency_key: str, today: date, now: datetime
) -> tuple[PaymentOrder, bool]:
    """(order, created): a replay with the same key and body returns the original order, created=False."""
    payable_until = _validate(new, today)
    scope = f"agency:{agency_id}:order-create"
    original = await idempotency.claim(session, scope, idempotency_key, new.body(), now=now)
    if original is not None:
        order = await session.get(PaymentOrder, original)
        assert order is not None
        return order, False
    person_id = await person_for_code(session, agency_id, new.person_code)
    if person_id is None:
        raise PortalError("NOT_FOUND", "No person has this code at your agency.")
    if new.notice_id is not None and await session.scalar(select(_NOTICES.c.id).where(
            _NOTICES.c.id == new.notice_id, _NOTICES.c.agency_id == agency_id)) is None:
        # Another agency's notice gets the answer of a missing one: the refusal reveals nothing.
        raise PortalError("NOT_FOUND", "No notice of your agency has this id.")
    taken = await session.scalar(select(PaymentOrder.id).where(PaymentOrder.agency_id == agency_id,
                                                               PaymentOrder.agency_reference == new.agency_reference))
    if taken is not None:
        raise PortalError("ORDER_REFERENCE_TAKEN", "An order with this reference already exists.")
    for _ in range(3):
        order = PaymentOrder(
            agency_id=agency_id, person_id=person_id, amount=new.amount, purpose=new.purpose.strip(),
            due_date=new.due_date, payable_until=payable_until, agency_reference=new.agency_reference,
            payee_number=slips.payee_number(agency_id), payment_number=slips.new_payment_number(),
            confirmation_number=slips.new_confirmation_number(), notice_id=new.notice_id, created_at=now,
        )
        try:
            async with session.begin_nested():
                session.add(order)
                await session.flush()
        except IntegrityError as error:
            # The (agency, reference) key lost a race with another request, or a 納付番号 collided.
            if await session.scalar(select(PaymentOrder.id).where(
                    PaymentOrder.agency_id == agency_id, PaymentOrder.agency_reference == new.agency_reference)):
                raise PortalError("ORDER_REFERENCE_TAKEN", "An order with this reference already exists.") \
                    from error
            continue
        await idempotency.remember(session, scope, idempotency_key, order.id)
        return order, True
    raise RuntimeError("could not allocate a payment number")


async def agency_order(session: AsyncSession, agency_id: uuid.UUID, order_id: uuid.UUID) -> PaymentOrder:
    order = await session.get(PaymentOrder, order_id)
    if order is None or order.agency_id != agency_id:
        raise PortalError("NOT_FOUND", "No such order.")
    return order


async def cancel_order(
    session: AsyncSession, agency_id: uuid.UUID, order_id: uuid.UUID, *, idempotency_key: str, now: datetime
) -> PaymentOrder:
    scope = f"agency:{agency_id}:order-cancel"
    original = await idempotency.claim(session, scope, idempotency_key, {"order_id": str(order_id)}, now=now)
    if original is not None:
        return await agency_order(session, agency_id, original)
    order = await agency_order(session, agency_id, order_id)
    in_progress = exists().where(Payment.active_order_id == PaymentOrder.id)
    cancelled = await session.scalar(
        update(PaymentOrder)
        .where(PaymentOrder.id == order_id, PaymentOrder.state == OrderState.OPEN, ~in_progress)
        .values(state=OrderState.CANCELLED, closed_at=now)
        .returning(PaymentOrder.id)
    )
    if cancelled is None:
        raise PortalError("ORDER_NOT_CANCELLABLE",
                             "Only an open order with no payment in progress can be cancelled.")
    await idempotency.remember(session, scope, idempotency_key, order_id)
    await session.refresh(order)
    return order


async def expire_orders(session: AsyncSession, *, today: date, now: datetime) -> list[uuid.UUID]:
    """Open orders past their last payable day, with no payment in progress, become expired."""
    in_progress = exists().where(Payment.active_order_id == PaymentOrder.id)
    rows = await session.execute(
        update(PaymentOrder)
        .where(and_(PaymentOrder.state == OrderState.OPEN, PaymentOrder.payable_until < today, ~in_progress))
        .values(state=OrderState.EXPIRED, closed_at=now)
        .returning(PaymentOrder.id, PaymentOrder.agency_id, PaymentOrder.agency_reference)
    )
    expired = rows.all()
    for order_id, agency_id, reference in expired:
        await callbacks.enqueue(session, agency_id=agency_id, event_type="order.expired", payment_id=None,
                                data={"order_id": str(order_id), "reference": reference}, now=now)
    return [order_id for order_id, _, _ in expired]
