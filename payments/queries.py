"""Read side: keyset pages of orders and payments for a person or an agency, with filters."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.agencies.models import AgencyPersonCode
from api.platform.pagination import InvalidPageRequest, Page, PageRequest, page_of
from payments.ledger import JST
from payments.models import OrderState, Payment, PaymentOrder, PaymentState, Refund


def _after(query: Select, request: PageRequest, created: object, ident: object) -> Select:  # type: ignore[type-arg]
    if request.after is None:
        return query
    if len(request.after) != 2:
        raise InvalidPageRequest("the cursor is not valid")
    try:
        at, key = datetime.fromisoformat(request.after[0]), uuid.UUID(request.after[1])
    except ValueError as error:
        raise InvalidPageRequest("the cursor is not valid") from error
    if at.tzinfo is None:  # this server's cursors carry UTC times; a naive one was made up
        raise InvalidPageRequest("the cursor is not valid")
    return query.where(or_(created > at, and_(created == at, ident > key)))  # type: ignore[operator]


def _key(row: PaymentOrder | Payment) -> tuple[str, str]:
    return row.created_at.isoformat(), str(row.id)


async def person_orders_page(
    session: AsyncSession, person_id: uuid.UUID, request: PageRequest, *, states: Sequence[OrderState] | None = None
) -> Page[PaymentOrder]:
    query = select(PaymentOrder).where(PaymentOrder.person_id == person_id)
    if states:
        query = query.where(PaymentOrder.state.in_(list(states)))
    query = _after(query, request, PaymentOrder.created_at, PaymentOrder.id)
    rows = list(await session.scalars(query.order_by(PaymentOrder.created_at, PaymentOrder.id)
                                      .limit(request.first + 1)))
    return page_of(rows, request, key=_key)


async def person_payments_page(session: AsyncSession, person_id: uuid.UUID, request: PageRequest) -> Page[Payment]:
    query = _after(select(Payment).where(Payment.person_id == person_id), request, Payment.created_at, Payment.id)
    rows = list(await session.scalars(query.order_by(Payment.created_at, Payment.id).limit(request.first + 1)))
    return page_of(rows, request, key=_key)


def day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), JST)


async def agency_payments_page(
    session: AsyncSession, agency_id: uuid.UUID, request: PageRequest, *, state: PaymentState | None = None,
    from_day: date | None = None, to_day: date | None = None, reference: str | None = None,
) -> Page[Payment]:
    """The agency's payments, oldest first; days are Japanese business days, ``to_day`` inclusive."""
    query = select(Payment).where(Payment.agency_id == agency_id)
    if state is not None:
        query = query.where(Payment.state == state)
    if from_day is not None:
        query = query.where(Payment.created_at >= day_start(from_day))
    if to_day is not None:
        query = query.where(Payment.created_at < day_start(to_day + timedelta(days=1)))
    if reference is not None:
        query = query.join(PaymentOrder, PaymentOrder.id == Payment.order_id).where(
            PaymentOrder.agency_reference == reference)
    query = _after(query, request, Payment.created_at, Payment.id)
    rows = list(await session.scalars(query.order_by(Payment.created_at, Payment.id).limit(request.first + 1)))
    return page_of(rows, request, key=_key)


async def agency_codes(session: AsyncSession, agency_id: uuid.UUID, person_ids: Sequence[uuid.UUID]) -> dict:  # type: ignore[type-arg]
    rows = await session.execute(select(AgencyPersonCode.person_id, AgencyPersonCode.code).where(
        AgencyPersonCode.agency_id == agency_id, AgencyPersonCode.person_id.in_(list(set(person_ids)))))
    return dict(rows.all())


async def order_references(session: AsyncSession, order_ids: Sequence[uuid.UUID]) -> dict:  # type: ignore[type-arg]
    rows = await session.execute(select(PaymentOrder.id, PaymentOrder.agency_reference)
                                 .where(PaymentOrder.id.in_(list(set(order_ids)))))
    return dict(rows.all())


async def refunds_of(session: AsyncSession, payment_id: uuid.UUID) -> list[Refund]:
    return list(await session.scalars(select(Refund).where(Refund.payment_id == payment_id)
                                      .order_by(Refund.created_at, Refund.id)))
