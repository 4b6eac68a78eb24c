"""GraphQL for payments, the write side: a person pays or gives up; agencies issue and cancel orders and refund.

Amounts are Int (whole yen); a float or string fails variable coercion (BAD_USER_INPUT) and the domain refuses
non-positive or absurd values. Every state-changing mutation takes an ``idempotencyKey``.
"""

from __future__ import annotations

import uuid
from datetime import date

import strawberry
from strawberry import relay

from api.platform.errors import ErrorCode, PortalError
from api.platform.scopes import PAYMENTS_WRITE
from api.schema.context import Info
from api.schema.payments import PaymentMethodType, PaymentOrderType, PaymentType, RefundType, node_uuid
from payments import actions, orders


@strawberry.input(name="PaymentOrderCreateInput")
class OrderCreateInput:
    person_code: str = strawberry.field(description="The person's code at your agency (機関別符号).")
    amount: int
    purpose: str
    due_date: date
    reference: str
    payable_until: date | None = None
    notice_id: strawberry.ID | None = None


@strawberry.type
class PaymentsMutation:
    @strawberry.mutation(description="Start paying an order by card or net banking; open nextUrl in a browser. "
                                     "Proxies and parents pay in their own name on the person's behalf.")
    async def payment_start(self, info: Info, order_id: relay.GlobalID,
                            method: PaymentMethodType,  # type: ignore[valid-type]
                            idempotency_key: str) -> PaymentType:
        principal = info.context.require_person(PAYMENTS_WRITE)
        payment = await actions.start_payment(
            info.context.settings, info.context.session_factory, actor_id=principal.person_id,
            order_id=node_uuid(order_id, "PaymentOrder"), method=method, idempotency_key=idempotency_key,
            today=info.context.today())
        return PaymentType.from_model(payment)

    @strawberry.mutation(description="Give up an unfinished payment (P0030); safe to repeat.")
    async def payment_cancel(self, info: Info, payment_id: relay.GlobalID) -> PaymentType:
        principal = info.context.require_person(PAYMENTS_WRITE)
        payment = await actions.cancel_payment(
            info.context.settings, info.context.session_factory, actor_id=principal.person_id,
            payment_id=node_uuid(payment_id, "Payment"), today=info.context.today())
        return PaymentType.from_model(payment)

    @strawberry.mutation(description="Agencies: issue a payment order for a person, by your code for them.")
    async def payment_order_create(self, info: Info, input: OrderCreateInput,
                                   idempotency_key: str) -> PaymentOrderType:
        agency = info.context.require_agency("payments:orders")
        try:
            notice_id = uuid.UUID(str(input.notice_id)) if input.notice_id else None
        except ValueError as error:
            raise PortalError(ErrorCode.BAD_USER_INPUT, "noticeId is not a valid id.") from error
        new = orders.NewOrder(person_code=input.person_code, amount=input.amount, purpose=input.purpose,
                              due_date=input.due_date, agency_reference=input.reference,
                              payable_until=input.payable_until, notice_id=notice_id)
        order, _ = await actions.create_order(info.context.session_factory, agency.agency_id, new,
                                              idempotency_key=idempotency_key)
        return PaymentOrderType.from_model(order)

    @strawberry.mutation(description="Agencies: cancel an open order with no payment in progress.")
    async def payment_order_cancel(self, info: Info, order_id: relay.GlobalID,
                                   idempotency_key: str) -> PaymentOrderType:
        agency = info.context.require_agency("payments:orders")
        order, _ = await actions.cancel_order(info.context.session_factory, agency.agency_id,
                                              node_uuid(order_id, "PaymentOrder"), idempotency_key=idempotency_key)
        return PaymentOrderType.from_model(order)

    @strawberry.mutation(description="Agencies: refund all or part of a successful payment. Pass "
                                     "refundAmountAvailable (what you believe remains) to refuse stale refunds.")
    async def payment_refund(self, info: Info, payment_id: relay.GlobalID, amount: int, idempotency_key: str,
                             refund_amount_available: int | None = None) -> RefundType:
        agency = info.context.require_agency("payments:refund")
        refund, _ = await actions.refund_payment(
            info.context.settings, info.context.session_factory, agency_id=agency.agency_id,
            payment_id=node_uuid(payment_id, "Payment"), amount=amount,
            refund_amount_available=refund_amount_available, idempotency_key=idempotency_key)
        return RefundType.from_model(refund)
