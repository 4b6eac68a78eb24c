"""GraphQL for payments: a person's orders due, paying, history and receipts; agencies' orders, refunds, reports.

Resolvers validate input, call a payments function and shape the answer. Amounts are Int (whole yen);
a float or string fails variable coercion (BAD_USER_INPUT) and the domain refuses non-positive or
absurd values. Every state-changing mutation takes an ``idempotencyKey``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date, datetime
from enum import Enum

import strawberry
from strawberry import relay

from api.db import utcnow
from api.identity.scopes import PAYMENTS_READ, PAYMENTS_WRITE
from api.proxies.service import acting_for
from api.schema.connections import page_request, to_connection
from api.schema.context import Info
from api.schema.errors import ErrorCode, PublicError
from payments import orders, queries, reconciliation, refunds, service, slips
from payments.config import gateway_for, urls_for
from payments.errors import PaymentRefused
from payments.gateways.base import GatewayUnavailable
from payments.ledger import business_day
from payments.models import OrderState, Payment, PaymentMethod, PaymentOrder, PaymentState, Refund
from payments.views import FINISHED

# Input mistakes the domain names precisely collapse to BAD_USER_INPUT for GraphQL clients.
_AS_BAD_INPUT = {"AMOUNT_INVALID", "IDEMPOTENCY_KEY_INVALID", "BAD_USER_INPUT"}


def _public(refused: PaymentRefused) -> PublicError:
    code = ErrorCode.BAD_USER_INPUT if refused.code in _AS_BAD_INPUT else ErrorCode(refused.code)
    return PublicError(code, str(refused))


@strawberry.enum(name="PaymentOrderState")
class OrderStateType(Enum):
    OPEN = "open"
    PAID = "paid"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


@strawberry.enum(name="PaymentStatus")
class PaymentStatusType(Enum):
    CREATED = "created"
    STARTED = "started"
    SUBMITTED = "submitted"
    SUCCESS = "success"
    DECLINED = "declined"
    TIMEDOUT = "timedout"
    CANCELLED = "cancelled"
    ERROR = "error"


@strawberry.enum(name="PaymentMethod")
class PaymentMethodType(Enum):
    CARD = "card"
    NET_BANKING = "net_banking"
    PAYEASY = "payeasy"


@strawberry.type(name="PayEasyNumbers", description="The slip's Pay-easy numbers for ATMs and net banking.")
class PayEasyNumbers:
    payee_number: str = strawberry.field(description="収納機関番号")
    payment_number: str = strawberry.field(description="納付番号")
    confirmation_number: str = strawberry.field(description="確認番号")


@strawberry.type(name="PaymentOrder", description="A payment order (納付) from an agency, with its slip.")
class PaymentOrderType(relay.Node):
    id: relay.NodeID[str]
    amount: int = strawberry.field(description="Whole yen.")
    purpose: str
    due_date: date
    payable_until: date
    state: OrderStateType
    agency_reference: str
    payeasy: PayEasyNumbers
    notice_id: str | None = strawberry.field(description="The notice this order rides on as its payment slip.")
    created_at: datetime
    agency_id: strawberry.Private[uuid.UUID]

    @classmethod
    def from_model(cls, order: PaymentOrder) -> PaymentOrderType:
        return cls(id=str(order.id), amount=order.amount, purpose=order.purpose, due_date=order.due_date,
                   payable_until=order.payable_until, state=OrderStateType(order.state.value),
                   agency_reference=order.agency_reference,
                   payeasy=PayEasyNumbers(payee_number=order.payee_number, payment_number=order.payment_number,
                                          confirmation_number=order.confirmation_number),
                   notice_id=str(order.notice_id) if order.notice_id else None, created_at=order.created_at,
                   agency_id=order.agency_id)

    @strawberry.field(description="The agency that issued the order.")
    async def agency_name(self, info: Info) -> str:
        agency = await info.context.loaders.agency.load(self.agency_id)
        return agency.name if agency else ""

    @strawberry.field(description="What the slip's QR code encodes (Pay-easy numbers, amount, due date).")
    def slip_qr_payload(self) -> str:
        return slips.qr_payload(payee=self.payeasy.payee_number, payment_number=self.payeasy.payment_number,
                                confirmation=self.payeasy.confirmation_number, amount=self.amount, due=self.due_date)

    @strawberry.field(description="The slip's QR code as SVG.")
    def slip_qr_svg(self) -> str:
        return slips.qr_svg(self.slip_qr_payload())

    @classmethod
    async def resolve_nodes(cls, *, info: Info, node_ids: Iterable[str],
                            required: bool = False) -> list[PaymentOrderType | None]:
        results: list[PaymentOrderType | None] = []
        async with info.context.session_factory() as session, session.begin():
            for node_id in node_ids:
                order = await session.get(PaymentOrder, _uuid(node_id))
                allowed = order is not None and await _may_read(info, session, order.agency_id, order.person_id)
                results.append(cls.from_model(order) if allowed and order else None)
        return results


@strawberry.type(name="PaymentState", description="GOV.UK Pay style: a status, finished, and on failure a code.")
class PaymentStateType:
    status: PaymentStatusType
    finished: bool
    code: str | None = strawberry.field(description="P0010 declined, P0020 expired, P0030 cancelled by the user, "
                                                    "P0040 cancelled by the service, P0050 provider error.")
    message: str | None


@strawberry.type(name="PaymentReceipt", description="Proof of a successful payment.")
class ReceiptType:
    receipt_number: str
    amount: int
    paid_at: datetime
    method: PaymentMethodType
    card_last4: str | None


@strawberry.type(name="Payment", description="One attempt to pay an order.")
class PaymentType(relay.Node):
    id: relay.NodeID[str]
    amount: int
    method: PaymentMethodType
    state: PaymentStateType
    next_url: str | None = strawberry.field(description="The gateway's hosted payment page, while unfinished.")
    amount_refunded: int
    amount_refundable: int
    acting_basis: str = strawberry.field(description="self, parent, grant (a proxy paid) or bank.")
    created_at: datetime
    captured_at: datetime | None
    receipt: ReceiptType | None
    order_id: strawberry.Private[uuid.UUID]

    @classmethod
    def from_model(cls, payment: Payment) -> PaymentType:
        success = payment.state == PaymentState.SUCCESS
        return cls(
            id=str(payment.id), amount=payment.amount, method=PaymentMethodType(payment.method.value),
            state=PaymentStateType(status=PaymentStatusType(payment.state.value),
                                   finished=payment.state in FINISHED, code=payment.failure_code,
                                   message=payment.failure_message),
            next_url=payment.next_url if payment.state not in FINISHED else None,
            amount_refunded=payment.refunded_amount,
            amount_refundable=payment.amount - payment.refunded_amount if success else 0,
            acting_basis=payment.acting_basis, created_at=payment.created_at, captured_at=payment.captured_at,
            receipt=ReceiptType(receipt_number=payment.id.hex[:16].upper(), amount=payment.amount,
                                paid_at=payment.captured_at, method=PaymentMethodType(payment.method.value),
                                card_last4=payment.card_last4) if success and payment.captured_at else None,
            order_id=payment.order_id)

    @strawberry.field
    async def order(self, info: Info) -> PaymentOrderType | None:
        [found] = await PaymentOrderType.resolve_nodes(info=info, node_ids=[str(self.order_id)])
        return found

    @classmethod
    async def resolve_nodes(cls, *, info: Info, node_ids: Iterable[str],
                            required: bool = False) -> list[PaymentType | None]:
        results: list[PaymentType | None] = []
        async with info.context.session_factory() as session, session.begin():
            for node_id in node_ids:
                payment = await session.get(Payment, _uuid(node_id))
                allowed = payment is not None and await _may_read(info, session, payment.agency_id,
                                                                  payment.person_id)
                results.append(cls.from_model(payment) if allowed and payment else None)
        return results


@strawberry.type(name="Refund")
class RefundType:
    id: str
    amount: int
    status: str
    created_at: datetime

    @classmethod
    def from_model(cls, refund: Refund) -> RefundType:
        return cls(id=str(refund.id), amount=refund.amount, status=refund.state.value, created_at=refund.created_at)


@strawberry.type(name="ReconciliationDifference")
class DifferenceType:
    kind: str
    reference: str
    ledger_amount: int | None
    settlement_amount: int | None


@strawberry.type(name="ReconciliationReport")
class ReportType:
    date: date
    balanced: bool
    ledger_count: int
    ledger_total: int
    settlement_count: int
    settlement_total: int
    fees: int
    differences: list[DifferenceType]


@strawberry.input(name="PaymentOrderCreateInput")
class OrderCreateInput:
    person_code: str = strawberry.field(description="The person's code at your agency (機関別符号).")
    amount: int
    purpose: str
    due_date: date
    reference: str
    payable_until: date | None = None
    notice_id: strawberry.ID | None = None


def _uuid(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError as error:
        raise PublicError(ErrorCode.NOT_FOUND, "Nothing has this id.") from error


def _node_uuid(node: relay.GlobalID, type_name: str) -> uuid.UUID:
    if node.type_name != type_name:
        raise PublicError(ErrorCode.NOT_FOUND, "Nothing has this id.")
    return _uuid(node.node_id)


async def _may_read(info: Info, session: object, agency_id: uuid.UUID, person_id: uuid.UUID) -> bool:
    if info.context.agency is not None:
        return info.context.require_agency("payments:reports").agency_id == agency_id
    principal = info.context.require_person(PAYMENTS_READ)
    return await acting_for(session, principal.person_id, person_id, PAYMENTS_READ,  # type: ignore[arg-type]
                            today=info.context.today(), purpose="payments:read") is not None


async def _subject(info: Info, session: object, for_person: relay.GlobalID | None) -> uuid.UUID:
    principal = info.context.require_person(PAYMENTS_READ)
    if for_person is None:
        return principal.person_id
    subject = _node_uuid(for_person, "Person")
    if await acting_for(session, principal.person_id, subject, PAYMENTS_READ,  # type: ignore[arg-type]
                        today=info.context.today(), purpose="payments:read") is None:
        raise PublicError(ErrorCode.NOT_AUTHORIZED_FOR_PERSON, "You may not see this person's payments.")
    return subject


@strawberry.type
class PaymentsQuery:
    @strawberry.field(description="Payment orders of the signed-in person, or of someone they act for.")
    async def payment_orders(
        self, info: Info, for_person: relay.GlobalID | None = None, states: list[OrderStateType] | None = None,
        first: int | None = 20, after: str | None = None,
    ) -> relay.Connection[PaymentOrderType]:
        request = page_request(first, after)
        async with info.context.session_factory() as session, session.begin():
            subject = await _subject(info, session, for_person)
            page = await queries.person_orders_page(session, subject, request,
                                                    states=[OrderState(s.value) for s in states or []])
        return to_connection(page, PaymentOrderType.from_model)

    @strawberry.field(description="Payment history of the signed-in person, or of someone they act for.")
    async def payments(
        self, info: Info, for_person: relay.GlobalID | None = None, first: int | None = 20, after: str | None = None,
    ) -> relay.Connection[PaymentType]:
        request = page_request(first, after)
        async with info.context.session_factory() as session, session.begin():
            subject = await _subject(info, session, for_person)
            page = await queries.person_payments_page(session, subject, request)
        return to_connection(page, PaymentType.from_model)

    @strawberry.field(description="Agencies: their payments, filtered by status, business days and reference.")
    async def agency_payments(
        self, info: Info, status: PaymentStatusType | None = None, from_date: date | None = None,
        to_date: date | None = None, reference: str | None = None, first: int | None = 20, after: str | None = None,
    ) -> relay.Connection[PaymentType]:
        agency = info.context.require_agency("payments:reports")
        request = page_request(first, after)
        async with info.context.read_session_factory() as session:
            page = await queries.agency_payments_page(
                session, agency.agency_id, request, state=PaymentState(status.value) if status else None,
                from_day=from_date, to_day=to_date, reference=reference)
        return to_connection(page, PaymentType.from_model)

    @strawberry.field(description="Agencies: the day's ledger against the gateway's settlement file.")
    async def agency_reconciliation(self, info: Info, date: date) -> ReportType:
        agency = info.context.require_agency("payments:reports")
        settings = info.context.request.app.state.settings
        try:
            async with gateway_for(settings) as gateway:
                settlement = await gateway.settlement_file(date, str(agency.agency_id))
        except GatewayUnavailable as error:
            raise PublicError(ErrorCode.GATEWAY_UNAVAILABLE, "The settlement file is unavailable.") from error
        async with info.context.read_session_factory() as session:
            report = await reconciliation.reconcile(session, agency.agency_id, date, settlement)
        return ReportType(date=report.day, balanced=report.balanced, ledger_count=report.ledger_count,
                          ledger_total=report.ledger_total, settlement_count=report.settlement_count,
                          settlement_total=report.settlement_total, fees=report.fees,
                          differences=[DifferenceType(kind=d.kind, reference=d.reference,
                                                      ledger_amount=d.ledger_amount,
                                                      settlement_amount=d.settlement_amount)
                                       for d in report.differences])


@strawberry.type
class PaymentsMutation:
    @strawberry.mutation(description="Start paying an order by card or net banking; open nextUrl in a browser. "
                                     "Proxies and parents pay in their own name on the person's behalf.")
    async def payment_start(self, info: Info, order_id: relay.GlobalID, method: PaymentMethodType,
                            idempotency_key: str) -> PaymentType:
        principal = info.context.require_person(PAYMENTS_WRITE)
        settings = info.context.request.app.state.settings
        try:
            async with gateway_for(settings) as gateway:
                payment = await service.start_payment(
                    info.context.session_factory, gateway, urls_for(settings), actor_id=principal.person_id,
                    order_id=_node_uuid(order_id, "PaymentOrder"), method=PaymentMethod(method.value),
                    idempotency_key=idempotency_key, today=info.context.today(),
                    session_ttl_seconds=int(settings.payment_session_ttl.total_seconds()))
        except PaymentRefused as refused:
            raise _public(refused) from refused
        return PaymentType.from_model(payment)

    @strawberry.mutation(description="Give up an unfinished payment (P0030); safe to repeat.")
    async def payment_cancel(self, info: Info, payment_id: relay.GlobalID) -> PaymentType:
        principal = info.context.require_person(PAYMENTS_WRITE)
        settings = info.context.request.app.state.settings
        try:
            async with gateway_for(settings) as gateway:
                payment = await service.cancel_payment(
                    info.context.session_factory, gateway, actor_id=principal.person_id,
                    payment_id=_node_uuid(payment_id, "Payment"), today=info.context.today())
        except PaymentRefused as refused:
            raise _public(refused) from refused
        return PaymentType.from_model(payment)

    @strawberry.mutation(description="Agencies: issue a payment order for a person, by your code for them.")
    async def payment_order_create(self, info: Info, input: OrderCreateInput,
                                   idempotency_key: str) -> PaymentOrderType:
        agency = info.context.require_agency("payments:orders")
        now = utcnow()
        try:
            notice_id = uuid.UUID(str(input.notice_id)) if input.notice_id else None
        except ValueError as error:
            raise PublicError(ErrorCode.BAD_USER_INPUT, "noticeId is not a valid id.") from error
        new = orders.NewOrder(person_code=input.person_code, amount=input.amount, purpose=input.purpose,
                              due_date=input.due_date, agency_reference=input.reference,
                              payable_until=input.payable_until, notice_id=notice_id)
        try:
            async with info.context.session_factory() as session, session.begin():
                order, _ = await orders.create_order(session, agency.agency_id, new, idempotency_key=idempotency_key,
                                                     today=business_day(now), now=now)
        except PaymentRefused as refused:
            raise _public(refused) from refused
        return PaymentOrderType.from_model(order)

    @strawberry.mutation(description="Agencies: cancel an open order with no payment in progress.")
    async def payment_order_cancel(self, info: Info, order_id: relay.GlobalID,
                                   idempotency_key: str) -> PaymentOrderType:
        agency = info.context.require_agency("payments:orders")
        try:
            async with info.context.session_factory() as session, session.begin():
                order = await orders.cancel_order(session, agency.agency_id, _node_uuid(order_id, "PaymentOrder"),
                                                  idempotency_key=idempotency_key, now=utcnow())
        except PaymentRefused as refused:
            raise _public(refused) from refused
        return PaymentOrderType.from_model(order)

    @strawberry.mutation(description="Agencies: refund all or part of a successful payment. Pass "
                                     "refundAmountAvailable (what you believe remains) to refuse stale refunds.")
    async def payment_refund(self, info: Info, payment_id: relay.GlobalID, amount: int, idempotency_key: str,
                             refund_amount_available: int | None = None) -> RefundType:
        agency = info.context.require_agency("payments:refund")
        settings = info.context.request.app.state.settings
        try:
            async with gateway_for(settings) as gateway:
                refund, _ = await refunds.refund_payment(
                    info.context.session_factory, gateway, agency_id=agency.agency_id,
                    payment_id=_node_uuid(payment_id, "Payment"), amount=amount,
                    refund_amount_available=refund_amount_available, idempotency_key=idempotency_key)
        except PaymentRefused as refused:
            raise _public(refused) from refused
        return RefundType.from_model(refund)
