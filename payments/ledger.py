"""A double-entry ledger: each movement is a journal whose lines (debit +, credit -) sum to zero.

A journal has a unique event key (``payment:<id>``, ``refund:<id>``, ...), so an event replayed by a
retry or a duplicate notification is posted once. Books are kept per agency and Japanese business day.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.platform.db import utcnow
from payments import statements
from payments.models import LedgerEntry, LedgerJournal

JST = ZoneInfo("Asia/Tokyo")

GATEWAY_CLEARING = "gateway_clearing"  # asset: collected by the card/net-banking gateway, not yet paid out
BANK_CLEARING = "bank_clearing"  # asset: collected by the Pay-easy bank, not yet transferred
AGENCY_COLLECTIONS = "agency_collections"  # liability: collected for the agency
UNAPPLIED = "unapplied_receipts"  # liability: money for an order already paid or closed, to refund
AGENCY_SETTLED = "agency_settled"  # paid out to the agency's account by the gateway
GATEWAY_FEES = "gateway_fees"  # expense: the gateway's fee

Line = tuple[str, int, str | None]  # account, signed amount, reference


class UnbalancedJournal(ValueError):
    pass


def business_day(moment: datetime) -> date:
    return moment.astimezone(JST).date()


async def post(
    session: AsyncSession, *, event_key: str, kind: str, agency_id: uuid.UUID, booked_on: date,
    lines: Sequence[Line],
) -> bool:
    """Post a journal once; False if this event was already posted."""
    if len(lines) < 2 or sum(amount for _, amount, _ in lines) != 0 or any(a == 0 for _, a, _ in lines):
        raise UnbalancedJournal(f"journal {event_key} does not balance")
    journal_id = await session.scalar(statements.ADD_JOURNAL(session), {  # built once (payments.statements)
        "id": uuid.uuid4(), "event_key": event_key, "kind": kind, "agency_id": agency_id, "booked_on": booked_on,
        "created_at": utcnow()})
    if journal_id is None:
        return False
    await session.execute(statements.ADD_ENTRIES, [
        {"id": uuid.uuid4(), "journal_id": journal_id, "account": account, "amount": amount, "reference": reference}
        for account, amount, reference in lines
    ])
    return True


async def balances(session: AsyncSession, agency_id: uuid.UUID | None = None) -> dict[str, int]:
    query = (select(LedgerEntry.account, func.sum(LedgerEntry.amount))
             .join(LedgerJournal, LedgerJournal.id == LedgerEntry.journal_id)
             .group_by(LedgerEntry.account))
    if agency_id is not None:
        query = query.where(LedgerJournal.agency_id == agency_id)
    return {account: int(total) for account, total in (await session.execute(query)).all()}


async def unbalanced_journals(session: AsyncSession) -> list[uuid.UUID]:
    """Journals whose lines do not sum to zero (always empty unless someone bypassed ``post``)."""
    rows = await session.scalars(select(LedgerEntry.journal_id).group_by(LedgerEntry.journal_id)
                                 .having(func.sum(LedgerEntry.amount) != 0))
    return list(rows)
