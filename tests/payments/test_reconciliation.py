"""Reconciliation lists every difference; the ledger refuses unbalanced journals and double posting."""

from __future__ import annotations

import uuid
from datetime import date

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from payments import ledger
from payments.gateways.sandbox_server import render_settlement
from payments.reconciliation import Difference, reconcile
from tests.factories import make_agency

DAY = date(2026, 4, 1)


def row(merchant: str, reference: str, amount: int, kind: str = "payment") -> dict[str, object]:
    return {"settlement_date": DAY.isoformat(), "merchant": merchant, "type": kind, "gateway_reference": reference,
            "merchant_reference": "m", "amount": amount, "fee": 0, "net": amount, "captured_at": ""}


async def _book(session: AsyncSession, agency_id: uuid.UUID, reference: str, amount: int) -> None:
    await ledger.post(session, event_key=f"payment:{reference}", kind="payment", agency_id=agency_id, booked_on=DAY,
                      lines=[(ledger.GATEWAY_CLEARING, amount, reference),
                             (ledger.AGENCY_COLLECTIONS, -amount, reference)])


async def test_every_difference_is_listed(session: AsyncSession) -> None:
    agency = await make_agency(session, "chiyoda-city")
    for reference, amount in (("gws_a", 1_000), ("gws_b", 2_000), ("gws_c", 3_000)):
        await _book(session, agency.id, reference, amount)
    merchant = str(agency.id)
    settlement = render_settlement([row(merchant, "gws_a", 1_000), row(merchant, "gws_b", 2_500),
                                    row(merchant, "gws_d", 4_000), row("someone-else", "gws_x", 9)])
    report = await reconcile(session, agency.id, DAY, settlement)
    assert report.differences == [
        Difference("amount_mismatch", "gws_b", 2_000, 2_500),
        Difference("missing_in_settlement", "gws_c", 3_000, None),
        Difference("missing_in_ledger", "gws_d", None, 4_000),
    ]
    assert (report.ledger_count, report.ledger_total, report.settlement_count, report.settlement_total) == (
        3, 6_000, 3, 7_500)


async def test_the_ledger_posts_an_event_once_and_refuses_unbalanced_journals(session: AsyncSession) -> None:
    agency = await make_agency(session, "chiyoda-city")
    await _book(session, agency.id, "gws_a", 1_000)
    assert await ledger.post(session, event_key="payment:gws_a", kind="payment", agency_id=agency.id, booked_on=DAY,
                             lines=[(ledger.GATEWAY_CLEARING, 5, None), (ledger.AGENCY_COLLECTIONS, -5, None)]) is False
    with pytest.raises(ledger.UnbalancedJournal):
        await ledger.post(session, event_key="bad", kind="payment", agency_id=agency.id, booked_on=DAY,
                          lines=[(ledger.GATEWAY_CLEARING, 5, None), (ledger.AGENCY_COLLECTIONS, -4, None)])
    assert await ledger.balances(session) == {ledger.GATEWAY_CLEARING: 1_000, ledger.AGENCY_COLLECTIONS: -1_000}
    assert await ledger.unbalanced_journals(session) == []
