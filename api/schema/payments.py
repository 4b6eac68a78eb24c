"""GraphQL for payments, the read side: types, a person's orders and payments, agencies' payments and reports.

Resolvers validate input, call a payments function and shape the answer (mutations: api.schema.payment_mutations).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date, datetime

import strawberry
from strawberry import relay

from api.platform.errors import ErrorCode, PortalError
from api.platform.scopes import PAYMENTS_READ
from api.schema.connections import page_request, to_connection
from api.schema.context import Info
from payments import reads, slips
from payments.models import OrderState, Payment, PaymentMethod, PaymentOrder, PaymentState, Refund
from payments.reads import Reader
from payments.views import FINISHED

PaymentOrderState = strawberry.enum(OrderState, name="PaymentOrderState")
PaymentStatus = strawberry.enum(PaymentState, name="PaymentStatus")
PaymentMethodType = strawberry.enum(PaymentMethod, name="PaymentMethod")


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
    state: PaymentOrderState
    agency_reference: str
    payeasy: PayEasyNumbers
    notice_id: str | None = strawberry.field(description="The notice this order rides on as its payment slip.")
    created_at: datetime
    agency_id: strawberry.Private[uuid.UUID]

    @classmethod
    def from_model(cls, order: PaymentOrder) -> PaymentOrderType:
        return cls(id=str(order.id), amount=order.amount, purpose=order.purpose, due_date=order.due_date,
                   payable_until=order.payable_until, state=order.state,
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
        found = await reads.orders_by_ids(info.context.session_factory, _reader(info), map(_uuid, node_ids))
        return [cls.from_model(order) if order else None for order in found]


@strawberry.type(name="PaymentState", description="GOV.UK Pay style: a status, finished, and on failure a code.")
class PaymentStateType:
    status: PaymentStatus
    finished: bool
    code: str | None = strawberry.field(description="P0010 declined, P0020 expired, P0030 cancelled by the user, "
                                                    "P0040 cancelled by the service, P0050 provider error.")
    message: str | None


@strawberry.type(name="PaymentReceipt", description="Proof of a successful payment.")
class ReceiptType:
    receipt_number: str
    amount: int
    paid_at: datetime
    method: PaymentMethodType  # type: ignore[valid-type]
    card_last4: str | None


@strawberry.type(name="Payment", description="One attempt to pay an order.")
class PaymentType(relay.Node):
    id: relay.NodeID[str]
    amount: int
    method: PaymentMethodType  # type: ignore[valid-type]
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
            id=str(payment.id), amount=payment.amount, method=payment.method,
            state=PaymentStateType(status=payment.state,
                                   finished=payment.state in FINISHED, code=payment.failure_code,
                                   message=payment.failure_message),
            next_url=payment.next_url if payment.state not in FINISHED else None,
            amount_refunded=payment.refunded_amount,
            amount_refundable=payment.amount - payment.refunded_amount if success else 0,
            acting_basis=payment.acting_basis, created_at=payment.created_at, captured_at=payment.captured_at,
            receipt=ReceiptType(receipt_number=payment.id.hex[:16].upper(), amount=payment.amount,
                                paid_at=payment.captured_at, method=payment.method,
                                card_last4=payment.card_last4) if success and payment.captured_at else None,
            order_id=payment.order_id)

    @strawberry.field
    async def order(self, info: Info) -> PaymentOrderType | None:
        [found] = await PaymentOrderType.resolve_nodes(info=info, node_ids=[str(self.order_id)])
        return found

    @classmethod
    async def resolve_nodes(cls, *, info: Info, node_ids: Iterable[str],
                            required: bool = False) -> list[PaymentType | None]:
        found = await reads.payments_by_ids(info.context.session_factory, _reader(info), map(_uuid, node_ids))
        return [cls.from_model(payment) if payment else None for payment in found]


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


def _uuid(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError as error:
        raise PortalError(ErrorCode.NOT_FOUND, "Nothing has this id.") from error


def node_uuid(node: relay.GlobalID, type_name: str) -> uuid.UUID:
    if node.type_name != type_name:
        raise PortalError(ErrorCode.NOT_FOUND, "Nothing has this id.")
    return _uuid(node.node_id)


def _reader(info: Info) -> Reader:
    if info.context.agency is not None:
        return Reader(agency_id=info.context.require_agency("payments:reports").agency_id)
    return Reader(person_id=info.context.require_person(PAYMENTS_READ).person_id, today=info.context.today())


def _subject(info: Info, for_person: relay.GlobalID | None) -> tuple[uuid.UUID, uuid.UUID | None]:
    """(the signed-in person, whom they read for or None for themself)."""
    principal = info.context.require_person(PAYMENTS_READ)
    return principal.person_id, node_uuid(for_person, "Person") if for_person is not None else None


@strawberry.type
class PaymentsQuery:
    @strawberry.field(description="Payment orders of the signed-in person, or of someone they act for.")
    async def payment_orders(
        self, info: Info, for_person: relay.GlobalID | None = None, states: list[PaymentOrderState] | None = None,
        first: int | None = 20, after: str | None = None,
    ) -> relay.Connection[PaymentOrderType]:
        actor, subject = _subject(info, for_person)
        page = await reads.person_orders(info.context.session_factory, actor, subject, page_request(first, after),
                                         states=states or [], today=info.context.today())
        return to_connection(page, PaymentOrderType.from_model)

    @strawberry.field(description="Payment history of the signed-in person, or of someone they act for.")
    async def payments(
        self, info: Info, for_person: relay.GlobalID | None = None, first: int | None = 20, after: str | None = None,
    ) -> relay.Connection[PaymentType]:
        actor, subject = _subject(info, for_person)
        page = await reads.person_payments(info.context.session_factory, actor, subject, page_request(first, after),
                                           today=info.context.today())
        return to_connection(page, PaymentType.from_model)

    @strawberry.field(description="Agencies: their payments, filtered by status, business days and reference.")
    async def agency_payments(
        self, info: Info, status: PaymentStatus | None = None, from_date: date | None = None,
        to_date: date | None = None, reference: str | None = None, first: int | None = 20, after: str | None = None,
    ) -> relay.Connection[PaymentType]:
        agency = info.context.require_agency("payments:reports")
        page = await reads.agency_payments(info.context.read_session_factory, agency.agency_id,
                                           page_request(first, after), state=status, from_day=from_date,
                                           to_day=to_date, reference=reference)
        return to_connection(page, PaymentType.from_model)

    @strawberry.field(description="Agencies: the day's ledger against the gateway's settlement file.")
    async def agency_reconciliation(self, info: Info, date: date) -> ReportType:
        agency = info.context.require_agency("payments:reports")
        report = await reads.agency_reconciliation(info.context.settings, info.context.read_session_factory,
                                                   agency.agency_id, date)
        return ReportType(date=report.day, balanced=report.balanced, ledger_count=report.ledger_count,
                          ledger_total=report.ledger_total, settlement_count=report.settlement_count,
                          settlement_total=report.settlement_total, fees=report.fees,
                          differences=[DifferenceType(kind=d.kind, reference=d.reference,
                                                      ledger_amount=d.ledger_amount,
                                                      settlement_amount=d.settlement_amount)
                                       for d in report.differences])


