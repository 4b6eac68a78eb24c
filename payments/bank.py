"""The bank / Pay-easy path: payments made at an ATM or a bank with the slip's numbers.

The collecting bank sends a received-payments file (収納済通知); each line is kept once (unique bank
reference), so importing a file twice changes nothing. A line that matches an open order pays it; one
for an order already paid is kept as unapplied money to refund; one that matches nothing is listed.

File format (CSV with a header): ``bank_reference,payee_number,payment_number,confirmation_number,amount,paid_on``.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.platform.errors import PortalError
from payments import idempotency, service
from payments.ledger import JST
from payments.models import (
    BankReceipt,
    BankReceiptOutcome,
    Payment,
    PaymentEvent,
    PaymentMethod,
    PaymentOrder,
    PaymentState,
)
from payments.money import yen

COLUMNS = ("bank_reference", "payee_number", "payment_number", "confirmation_number", "amount", "paid_on")


@dataclass
class BankImport:
    outcomes: Counter[str] = field(default_factory=Counter)
    unmatched: list[str] = field(default_factory=list)  # bank references for a person to look at


def parse_file(text: str) -> list[dict[str, str]]:
    reader = csv.DictReader(io.StringIO(text))
    if tuple(reader.fieldnames or ()) != COLUMNS:
        raise PortalError("BAD_USER_INPUT", f"the file's header must be {','.join(COLUMNS)}")
    return list(reader)


async def import_received_payments(session: AsyncSession, text: str, *, now: datetime) -> BankImport:
    result = BankImport()
    for number, line in enumerate(parse_file(text), start=2):
        try:
            amount = yen(int(line["amount"]))
            paid_on = date.fromisoformat(line["paid_on"])
        except (ValueError, PortalError) as error:
            raise PortalError("BAD_USER_INPUT", f"line {number}: bad amount or date") from error
        receipt_id = uuid.uuid4()
        inserted = await session.scalar(
            idempotency.insert_ignoring_conflicts(session, BankReceipt)
            .values(id=receipt_id, bank_reference=line["bank_reference"], payee_number=line["payee_number"],
                    payment_number=line["payment_number"], confirmation_number=line["confirmation_number"],
                    amount=amount, paid_on=paid_on, outcome=BankReceiptOutcome.UNMATCHED, imported_at=now)
            .on_conflict_do_nothing().returning(BankReceipt.id))
        if inserted is None:
            result.outcomes["already_imported"] += 1
            continue
        order = await session.scalar(select(PaymentOrder).where(
            PaymentOrder.payment_number == line["payment_number"], PaymentOrder.payee_number == line["payee_number"],
            PaymentOrder.confirmation_number == line["confirmation_number"], PaymentOrder.amount == amount))
        if order is None:
            result.outcomes[BankReceiptOutcome.UNMATCHED.value] += 1
            result.unmatched.append(line["bank_reference"])
            continue
        paid_at = datetime.combine(paid_on, time(12), JST)
        payment = Payment(order_id=order.id, agency_id=order.agency_id, person_id=order.person_id,
                          actor_person_id=None, acting_basis="bank", method=PaymentMethod.PAYEASY, amount=amount,
                          state=PaymentState.CREATED, gateway="bank",
                          gateway_reference=f"bank:{line['bank_reference']}"[:64], created_at=now, expires_at=now)
        session.add(payment)
        await session.flush()
        session.add(PaymentEvent(payment_id=payment.id, state=PaymentState.CREATED, source="bank", occurred_at=now))
        await service.transition(session, payment.id, PaymentState.SUCCESS, source="bank", now=now,
                                 captured_at=paid_at)
        refreshed = await session.get(Payment, payment.id, populate_existing=True)
        assert refreshed is not None
        outcome = BankReceiptOutcome.APPLIED if refreshed.paid_order_id else BankReceiptOutcome.DUPLICATE
        receipt = await session.get(BankReceipt, receipt_id)
        assert receipt is not None
        receipt.outcome, receipt.payment_id = outcome, payment.id
        result.outcomes[outcome.value] += 1
    await session.flush()
    return result
