"""Units of work that read payments: one transaction each, access checked inside it.

A person reads their own orders and payments or those of someone they act for (a minor child, a
proxy grant with payments:read; each such read is recorded); an agency reads only its own.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.platform.errors import ErrorCode, PortalError
from api.platform.pagination import Page, PageRequest
from api.platform.scopes import PAYMENTS_READ
from api.platform.settings import Settings
from api.proxies.service import acting_for
from payments import orders, queries, reconciliation, service
from payments.config import gateway_for
from payments.gateways.base import GatewayUnavailable
from payments.models import OrderState, Payment, PaymentOrder, PaymentState
from payments.views import payment_json, refund_json

SessionFactory = async_sessionmaker[AsyncSession]
Owned = TypeVar("Owned", PaymentOrder, Payment)


@dataclass(frozen=True)
class Reader:
    """Who reads: an agency (by its key) or a person (for themself or whom they act for) on ``today``."""

    agency_id: uuid.UUID | None = None
    person_id: uuid.UUID | None = None
    today: date | None = None

    async def may_read(self, session: AsyncSession, agency_id: uuid.UUID, person_id: uuid.UUID) -> bool:
        if self.agency_id is not None:
            return self.agency_id == agency_id
        assert self.person_id is not None and self.today is not None
        return await acting_for(session, self.person_id, person_id, PAYMENTS_READ, today=self.today,
                                purpose="payments:read") is not None


async def orders_by_ids(session_factory: SessionFactory, reader: Reader,
                        ids: Iterable[uuid.UUID | None]) -> list[PaymentOrder | None]:
    """The orders the reader may see, None for the others (and for a None id)."""
    return await _readable(session_factory, reader, PaymentOrder, ids)


async def payments_by_ids(session_factory: SessionFactory, reader: Reader,
                          ids: Iterable[uuid.UUID | None]) -> list[Payment | None]:
    """The payments the reader may see, None for the others (and for a None id)."""
    return await _readable(session_factory, reader, Payment, ids)


async def _readable(session_factory: SessionFactory, reader: Reader, model: type[Owned],
                    ids: Iterable[uuid.UUID | None]) -> list[Owned | None]:
    found: list[Owned | None] = []
    async with session_factory() as session, session.begin():
        for row_id in ids:
            row = await session.get(model, row_id) if row_id else None
            allowed = row is not None and await reader.may_read(session, row.agency_id, row.person_id)
            found.append(row if allowed else None)
    return found


async def _subject(session: AsyncSession, actor_id: uuid.UUID, subject_id: uuid.UUID | None, today: date) -> uuid.UUID:
    if subject_id is None or subject_id == actor_id:
        return actor_id
    if await acting_for(session, actor_id, subject_id, PAYMENTS_READ, today=today,
                        purpose="payments:read") is None:
        raise PortalError(ErrorCode.NOT_AUTHORIZED_FOR_PERSON, "You may not see this person's payments.")
    return subject_id


async def person_orders(session_factory: SessionFactory, actor_id: uuid.UUID, subject_id: uuid.UUID | None,
                        request: PageRequest, *, states: Sequence[OrderState], today: date) -> Page[PaymentOrder]:
    """Orders of the actor, or of ``subject_id`` when the actor may act for them."""
    async with session_factory() as session, session.begin():
        subject = await _subject(session, actor_id, subject_id, today)
        return await queries.person_orders_page(session, subject, request, states=states)


async def person_payments(session_factory: SessionFactory, actor_id: uuid.UUID, subject_id: uuid.UUID | None,
                          request: PageRequest, *, today: date) -> Page[Payment]:
    async with session_factory() as session, session.begin():
        subject = await _subject(session, actor_id, subject_id, today)
        return await queries.person_payments_page(session, subject, request)


async def agency_payments(
    read_session_factory: SessionFactory, agency_id: uuid.UUID, request: PageRequest, *,
    state: PaymentState | None = None, from_day: date | None = None, to_day: date | None = None,
    reference: str | None = None,
) -> Page[Payment]:
    async with read_session_factory() as session:
        return await queries.agency_payments_page(session, agency_id, request, state=state, from_day=from_day,
                                                  to_day=to_day, reference=reference)


async def agency_reconciliation(settings: Settings, read_session_factory: SessionFactory, agency_id: uuid.UUID,
                                day: date) -> reconciliation.Report:
    """The day's ledger against the gateway's settlement file (fetched outside any transaction)."""
    try:
        async with gateway_for(settings) as gateway:
            settlement = await gateway.settlement_file(day, str(agency_id))
    except GatewayUnavailable as error:
        raise PortalError(ErrorCode.GATEWAY_UNAVAILABLE, "The gateway's settlement file is unavailable.") from error
    async with read_session_factory() as session:
        return await reconciliation.reconcile(session, agency_id, day, settlement)


async def agency_order(session_factory: SessionFactory, agency_id: uuid.UUID,
                       order_id: uuid.UUID) -> tuple[PaymentOrder, str | None]:
    """(the agency's order, its code for the order's person)."""
    async with session_factory() as session:
        order = await orders.agency_order(session, agency_id, order_id)
        codes = await queries.agency_codes(session, agency_id, [order.person_id])
    return order, codes.get(order.person_id)


async def agency_payment_view(session_factory: SessionFactory, agency_id: uuid.UUID,
                              payment_id: uuid.UUID) -> dict[str, Any]:
    """The agency's payment as JSON, with its refunds."""
    async with session_factory() as session:
        payment = await session.get(Payment, payment_id)
        if payment is None or payment.agency_id != agency_id:
            raise PortalError(ErrorCode.NOT_FOUND, "No such payment.")
        view = await service.agency_view(session, payment)
        view["refunds"] = [refund_json(r) for r in await queries.refunds_of(session, payment.id)]
    return view


async def agency_payments_view(
    session_factory: SessionFactory, agency_id: uuid.UUID, request: PageRequest, *,
    state: PaymentState | None = None, from_day: date | None = None, to_day: date | None = None,
    reference: str | None = None,
) -> dict[str, Any]:
    """A page of the agency's payments as JSON: each with the agency's code for the person and its reference."""
    async with session_factory() as session:
        page = await queries.agency_payments_page(session, agency_id, request, state=state, from_day=from_day,
                                                  to_day=to_day, reference=reference)
        payments = [payment for _, payment in page.items]
        codes = await queries.agency_codes(session, agency_id, [p.person_id for p in payments])
        references = await queries.order_references(session, [p.order_id for p in payments])
    return {
        "results": [payment_json(p, person_code=codes.get(p.person_id), agency_reference=references.get(p.order_id))
                    for p in payments],
        "next_cursor": page.items[-1][0] if page.has_next_page else None,
    }
