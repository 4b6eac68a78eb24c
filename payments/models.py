"""Payment tables: orders, payments and their events, refunds, idempotency keys, the ledger, callbacks.

Money is whole yen in BIGINT columns with CHECK constraints; the rules that keep money from being
paid twice or lost are unique keys and conditional UPDATEs, not Python checks.
"""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Date,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from api.platform.db import Base, UTCDateTime, new_id, utcnow

# GOV.UK Pay caps one payment at £100,000; a national tax bill can be larger. Above this, agencies split.
MAX_AMOUNT_YEN = 100_000_000
JSONType = JSON().with_variant(JSONB(), "postgresql")


def _enum(cls: type[enum.Enum], length: int = 20) -> Enum:
    return Enum(cls, native_enum=False, create_constraint=True, length=length,
                values_callable=lambda e: [m.value for m in e])


class OrderState(enum.StrEnum):
    OPEN = "open"
    PAID = "paid"
    CANCELLED = "cancelled"  # by the agency
    EXPIRED = "expired"  # past payable_until, unpaid


class PaymentMethod(enum.StrEnum):
    CARD = "card"
    NET_BANKING = "net_banking"  # Pay-easy net banking through the gateway's hosted page
    PAYEASY = "payeasy"  # paid at an ATM or bank with the slip's numbers; confirmed by the bank's file


class PaymentState(enum.StrEnum):
    CREATED = "created"
    STARTED = "started"
    SUBMITTED = "submitted"
    SUCCESS = "success"
    DECLINED = "declined"
    TIMEDOUT = "timedout"
    CANCELLED = "cancelled"
    ERROR = "error"


class RefundState(enum.StrEnum):
    SUBMITTED = "submitted"
    SUCCESS = "success"
    ERROR = "error"


class CallbackState(enum.StrEnum):
    PENDING = "pending"
    SUCCESSFUL = "successful"
    FAILED = "failed"
    WILL_NOT_SEND = "will_not_send"


class BankReceiptOutcome(enum.StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"  # the order was already paid: money kept as unapplied, to refund
    UNMATCHED = "unmatched"  # no order has these Pay-easy numbers and amount


class PaymentOrder(Base):
    """納付: what an agency asks a person to pay, with the Pay-easy numbers of its slip."""

    __tablename__ = "payment_orders"
    __table_args__ = (
        CheckConstraint(f"amount > 0 AND amount <= {MAX_AMOUNT_YEN}", name="amount_range"),
        CheckConstraint("payable_until >= due_date", name="payable_after_due"),
        UniqueConstraint("agency_id", "agency_reference"),
        Index("ix_payment_orders_person_state", "person_id", "state"),
        Index("ix_payment_orders_agency_created", "agency_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    agency_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("agencies.id"))
    person_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("persons.id"))
    amount: Mapped[int] = mapped_column(BigInteger)
    purpose: Mapped[str] = mapped_column(String(200))
    due_date: Mapped[date] = mapped_column(Date)
    payable_until: Mapped[date] = mapped_column(Date)
    agency_reference: Mapped[str] = mapped_column(String(64))
    payee_number: Mapped[str] = mapped_column(String(5))  # 収納機関番号
    payment_number: Mapped[str] = mapped_column(String(20), unique=True)  # 納付番号
    confirmation_number: Mapped[str] = mapped_column(String(6))  # 確認番号
    state: Mapped[OrderState] = mapped_column(_enum(OrderState), default=OrderState.OPEN)
    # The notice this order rides on as its payment slip (the notices domain holds the attachment).
    notice_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    paid_payment_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Payment(Base):
    """One attempt to pay an order, in the manner of a GOV.UK Pay payment."""

    __tablename__ = "payments"
    __table_args__ = (
        CheckConstraint(f"amount > 0 AND amount <= {MAX_AMOUNT_YEN}", name="amount_range"),
        CheckConstraint("refunded_amount >= 0 AND refunded_amount <= amount", name="refund_within_amount"),
        Index("ix_payments_agency_created", "agency_id", "created_at"),
        Index("ix_payments_person_created", "person_id", "created_at"),
        Index("ix_payments_state_created", "state", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    order_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("payment_orders.id"), index=True)
    agency_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("agencies.id"))
    person_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("persons.id"))  # on whose behalf
    # Who pressed "pay": the person, a parent or a proxy (in their own name); NULL for a bank receipt.
    actor_person_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("persons.id"))
    acting_basis: Mapped[str] = mapped_column(String(10))  # self, parent, grant, bank
    method: Mapped[PaymentMethod] = mapped_column(_enum(PaymentMethod))
    amount: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[PaymentState] = mapped_column(_enum(PaymentState), default=PaymentState.CREATED)
    failure_code: Mapped[str | None] = mapped_column(String(5))
    failure_message: Mapped[str | None] = mapped_column(String(200))
    gateway: Mapped[str] = mapped_column(String(20))
    gateway_reference: Mapped[str | None] = mapped_column(String(64), unique=True)
    next_url: Mapped[str | None] = mapped_column(String(500))
    # Set while the attempt is unfinished: at most one payment in progress per order.
    active_order_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("payment_orders.id"), unique=True)
    # Set on success when the payment settles the order: an order is paid at most once.
    paid_order_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("payment_orders.id"), unique=True)
    refunded_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    card_brand: Mapped[str | None] = mapped_column(String(20))
    card_last4: Mapped[str | None] = mapped_column(String(4))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    captured_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PaymentEvent(Base):
    """Append-only history: one row per state change that happened (never per notification received)."""

    __tablename__ = "payment_events"
    __table_args__ = (UniqueConstraint("payment_id", "state"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    payment_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("payments.id", ondelete="CASCADE"))
    state: Mapped[PaymentState] = mapped_column(_enum(PaymentState))
    source: Mapped[str] = mapped_column(String(20))  # api, gateway, recovery, bank, expiry
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Refund(Base):
    __tablename__ = "payment_refunds"
    __table_args__ = (CheckConstraint("amount > 0", name="amount_positive"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    payment_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("payments.id"), index=True)
    agency_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("agencies.id"))
    amount: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[RefundState] = mapped_column(_enum(RefundState), default=RefundState.SUBMITTED)
    gateway_reference: Mapped[str | None] = mapped_column(String(64), unique=True)
    error_code: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class IdempotencyKey(Base):
    """An Idempotency-Key seen in a scope (caller + operation): the request's hash and what it produced."""

    __tablename__ = "payment_idempotency_keys"

    scope: Mapped[str] = mapped_column(String(100), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    resource_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class LedgerJournal(Base):
    """One balanced movement; ``event_key`` makes posting the same event twice impossible."""

    __tablename__ = "ledger_journals"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    event_key: Mapped[str] = mapped_column(String(120), unique=True)
    kind: Mapped[str] = mapped_column(String(20))  # payment, refund, settlement, fee, unapplied
    agency_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("agencies.id"))
    booked_on: Mapped[date] = mapped_column(Date)  # the Japanese business day
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_ledger_journals_agency_booked", "agency_id", "booked_on"),)


class LedgerEntry(Base):
    """A line of a journal: debits positive, credits negative; the lines of a journal sum to zero."""

    __tablename__ = "ledger_entries"
    __table_args__ = (CheckConstraint("amount <> 0", name="amount_nonzero"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    journal_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("ledger_journals.id"), index=True)
    account: Mapped[str] = mapped_column(String(40))
    amount: Mapped[int] = mapped_column(BigInteger)
    # The gateway's (or bank's) reference of the movement: what reconciliation matches on.
    reference: Mapped[str | None] = mapped_column(String(64), index=True)


class CallbackEndpoint(Base):
    """Where an agency wants payment outcomes delivered."""

    __tablename__ = "payment_callback_endpoints"

    agency_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("agencies.id", ondelete="CASCADE"), primary_key=True)
    url: Mapped[str] = mapped_column(String(500))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CallbackMessage(Base):
    """Outbox: written in the transaction of the change it reports, delivered after commit."""

    __tablename__ = "payment_callbacks"
    __table_args__ = (Index("ix_payment_callbacks_due", "state", "next_attempt_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)  # the webhook-id
    agency_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("agencies.id"), index=True)
    event_type: Mapped[str] = mapped_column(String(50))
    payment_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("payments.id"))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    state: Mapped[CallbackState] = mapped_column(_enum(CallbackState), default=CallbackState.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CallbackAttempt(Base):
    __tablename__ = "payment_callback_attempts"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    callback_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("payment_callbacks.id", ondelete="CASCADE"),
                                                   index=True)
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    status_code: Mapped[int | None] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(200))
    duration_ms: Mapped[int] = mapped_column(Integer)


class BankReceipt(Base):
    """A line of a bank's received-payments file (収納済通知), kept once per bank reference."""

    __tablename__ = "payment_bank_receipts"
    __table_args__ = (CheckConstraint("amount > 0", name="amount_positive"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    bank_reference: Mapped[str] = mapped_column(String(64), unique=True)
    payee_number: Mapped[str] = mapped_column(String(5))
    payment_number: Mapped[str] = mapped_column(String(20))
    confirmation_number: Mapped[str] = mapped_column(String(6))
    amount: Mapped[int] = mapped_column(BigInteger)
    paid_on: Mapped[date] = mapped_column(Date)
    outcome: Mapped[BankReceiptOutcome] = mapped_column(_enum(BankReceiptOutcome))
    payment_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("payments.id"))
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
