"""The Pay-easy path: the bank's received-payments file pays orders once, keeps duplicates, lists strays."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from api.platform.db import create_session_factory, utcnow
from payments import ledger
from payments.bank import import_received_payments
from payments.models import BankReceipt, Payment, PaymentOrder
from tests.payments.conftest import PaymentPortal

HEADER = "bank_reference,payee_number,payment_number,confirmation_number,amount,paid_on\n"


async def test_received_payments_file_pays_orders_once(payment_portal: PaymentPortal, engine: AsyncEngine) -> None:
    pp = payment_portal
    order = (await pp.create_order(amount=4_500)).json()
    numbers = order["payeasy"]
    line = f"{numbers['payee_number']},{numbers['payment_number']},{numbers['confirmation_number']},4500,2026-04-02"
    text = HEADER + f"B-1,{line}\nB-2,{line}\nB-3,99999,0000000000000000,000000,100,2026-04-02\n"
    factory = create_session_factory(engine)
    async with factory() as session, session.begin():
        first = await import_received_payments(session, text, now=utcnow())
    async with factory() as session, session.begin():
        second = await import_received_payments(session, text, now=utcnow())
    assert dict(first.outcomes) == {"applied": 1, "duplicate": 1, "unmatched": 1}
    assert first.unmatched == ["B-3"]
    assert dict(second.outcomes) == {"already_imported": 3}
    async with factory() as session:
        paid = await session.scalar(select(PaymentOrder)
                                    .where(PaymentOrder.payment_number == numbers["payment_number"]))
        assert paid is not None and paid.state.value == "paid"
        assert await session.scalar(select(func.count()).select_from(Payment)) == 2
        assert await session.scalar(select(func.count()).select_from(BankReceipt)) == 3
        # The second payment of the same slip is money received, kept to refund: never lost.
        assert await ledger.balances(session, pp.agency_id) == {ledger.BANK_CLEARING: 9_000,
                                                                 ledger.AGENCY_COLLECTIONS: -4_500,
                                                                 ledger.UNAPPLIED: -4_500}
