"""Units of work that change payments, for the GraphQL and REST layers alike: each opens its own
transactions (and the gateway's client, from settings) and commits or refuses as a whole."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.platform.db import utcnow
from api.platform.errors import ErrorCode, PortalError
from api.platform.settings import Settings
from payments import callbacks, orders, queries, refunds, service
from payments.config import gateway_for, urls_for
from payments.gateways.base import GatewaySession, GatewayUnavailable
from payments.ledger import business_day
from payments.models import Payment, PaymentMethod, PaymentOrder, PaymentState, Refund
from payments.units import in_transaction

logger = logging.getLogger("payments.actions")
SessionFactory = async_sessionmaker[AsyncSession]


async def start_payment(settings: Settings, session_factory: SessionFactory, *, actor_id: uuid.UUID,
                        order_id: uuid.UUID, method: PaymentMethod, idempotency_key: str, today: date,
                        to_web: bool = False) -> Payment:
    """``to_web``: the payer started on the web portal (the gateway's return leads back there, not to the app)."""
    async with gateway_for(settings) as gateway:
        return await service.start_payment(
            session_factory, gateway, urls_for(settings, to_web=to_web), actor_id=actor_id, order_id=order_id,
            method=method, idempotency_key=idempotency_key, today=today,
            session_ttl_seconds=int(settings.payment_session_ttl.total_seconds()))


async def cancel_payment(settings: Settings, session_factory: SessionFactory, *, actor_id: uuid.UUID,
                         payment_id: uuid.UUID, today: date) -> Payment:
    async with gateway_for(settings) as gateway:
        return await service.cancel_payment(session_factory, gateway, actor_id=actor_id, payment_id=payment_id,
                                            today=today)


async def create_order(session_factory: SessionFactory, agency_id: uuid.UUID, new: orders.NewOrder, *,
                       idempotency_key: str) -> tuple[PaymentOrder, bool]:
    """(order, created): a replay with the same key and body gives the original order, created=False."""
    now = utcnow()
    return await in_transaction(session_factory, lambda session: orders.create_order(
        session, agency_id, new, idempotency_key=idempotency_key, today=business_day(now), now=now))


async def cancel_order(session_factory: SessionFactory, agency_id: uuid.UUID, order_id: uuid.UUID, *,
                       idempotency_key: str) -> tuple[PaymentOrder, str | None]:
    """(order, the agency's code for its person)."""
    async with session_factory() as session, session.begin():
        order = await orders.cancel_order(session, agency_id, order_id, idempotency_key=idempotency_key,
                                          now=utcnow())
        codes = await queries.agency_codes(session, agency_id, [order.person_id])
    return order, codes.get(order.person_id)


async def refund_payment(settings: Settings, session_factory: SessionFactory, *, agency_id: uuid.UUID,
                         payment_id: uuid.UUID, amount: int, refund_amount_available: int | None,
                         idempotency_key: str) -> tuple[Refund, bool]:
    """(refund, created): a replay with the same key and body gives the original refund, created=False."""
    async with gateway_for(settings) as gateway:
        return await refunds.refund_payment(
            session_factory, gateway, agency_id=agency_id, payment_id=payment_id, amount=amount,
            refund_amount_available=refund_amount_available, idempotency_key=idempotency_key)


async def apply_notification(session_factory: SessionFactory, remote: GatewaySession, *,
                             claim: Callable[[AsyncSession], Awaitable[bool]] | None = None) -> None:
    """The gateway's (verified) notification: a repeated one is applied once by the state machine. ``claim``
    (the replay guard's, in the same transaction) False: received before, nothing to do."""

    async def work(session: AsyncSession) -> None:
        if claim is None or await claim(session):
            await service.apply_gateway_session(session, remote, source="gateway", now=utcnow())

    try:
        await in_transaction(session_factory, work)
    except LookupError as error:
        raise PortalError(ErrorCode.NOT_FOUND, "No payment matches this session.") from error


async def settle_on_return(settings: Settings, session_factory: SessionFactory, payment_id: uuid.UUID) -> None:
    """The browser is back from the gateway's page, maybe before the notification: ask the gateway now (GOV.UK
    Pay does). An unreachable gateway is no error: the notification or recovery will settle it."""
    async with session_factory() as session:
        payment = await session.get(Payment, payment_id)
    if payment is None:
        raise PortalError(ErrorCode.NOT_FOUND, "No such payment.")
    if payment.gateway_reference and payment.state in (PaymentState.STARTED, PaymentState.SUBMITTED):
        try:
            async with gateway_for(settings) as gateway:
                remote = await gateway.get_session(payment.gateway_reference)
            async with session_factory() as session, session.begin():
                await service.apply_gateway_session(session, remote, source="return", now=utcnow())
        except (GatewayUnavailable, LookupError):
            logger.info("gateway status unavailable on return; the notification or recovery will settle it")


async def set_callback_endpoint(settings: Settings, session_factory: SessionFactory, agency_id: uuid.UUID,
                                url: str) -> str:
    """Set where the agency's payment callbacks go; returns their signing secret."""
    try:
        async with session_factory() as session, session.begin():
            await callbacks.set_endpoint(session, agency_id, url, now=utcnow(), allow_private=not settings.production)
    except ValueError as error:
        raise PortalError(ErrorCode.BAD_USER_INPUT, str(error), extensions={"field": "url"}) from error
    return callbacks.agency_secret(settings.payment_callback_key, agency_id)
