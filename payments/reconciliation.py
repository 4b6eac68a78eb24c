"""Daily reconciliation per agency: the ledger's gateway movements against the gateway's settlement file.

Matched on the gateway reference; every difference is listed (missing on either side, or amounts that
differ). Posting the settlement (net paid out, fee) is a separate, idempotent step.
"""

from __future__ import annotations

import csv
import io
import uuid
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from payments import ledger
from payments.models import LedgerEntry, LedgerJournal


@dataclass(frozen=True)
class SettlementLine:
    kind: str  # payment or refund
    reference: str
    amount: int  # signed: refunds negative
    fee: int


@dataclass(frozen=True)
class Difference:
    kind: str  # missing_in_ledger, missing_in_settlement, amount_mismatch
    reference: str
    ledger_amount: int | None
    settlement_amount: int | None


@dataclass
class Report:
    agency_id: uuid.UUID
    day: date
    ledger_count: int = 0
    ledger_total: int = 0
    settlement_count: int = 0
    settlement_total: int = 0
    fees: int = 0
    differences: list[Difference] = field(default_factory=list)

    @property
    def balanced(self) -> bool:
        return not self.differences


def parse_settlement(text: str, merchant: str) -> dict[str, SettlementLine]:
    lines: dict[str, SettlementLine] = {}
    for row in csv.DictReader(io.StringIO(text)):
        if row["merchant"] != merchant:
            continue
        amount = int(row["amount"])
        kind = row["type"]
        lines[row["gateway_reference"]] = SettlementLine(kind=kind, reference=row["gateway_reference"],
                                                         amount=amount if kind == "payment" else -amount,
                                                         fee=int(row["fee"]))
    return lines


async def ledger_movements(session: AsyncSession, agency_id: uuid.UUID, day: date) -> dict[str, int]:
    """Gateway-clearing movements of the day by reference (payments positive, refunds negative)."""
    rows = await session.execute(
        select(LedgerEntry.reference, func.sum(LedgerEntry.amount))
        .join(LedgerJournal, LedgerJournal.id == LedgerEntry.journal_id)
        .where(LedgerJournal.agency_id == agency_id, LedgerJournal.booked_on == day,
               LedgerJournal.kind.in_(("payment", "unapplied", "refund")),
               LedgerEntry.account == ledger.GATEWAY_CLEARING)
        .group_by(LedgerEntry.reference))
    return {reference: int(total) for reference, total in rows.all()}


async def reconcile(session: AsyncSession, agency_id: uuid.UUID, day: date, settlement_csv: str) -> Report:
    books = await ledger_movements(session, agency_id, day)
    file = parse_settlement(settlement_csv, str(agency_id))
    report = Report(agency_id=agency_id, day=day, ledger_count=len(books), ledger_total=sum(books.values()),
                    settlement_count=len(file), settlement_total=sum(line.amount for line in file.values()),
                    fees=sum(line.fee for line in file.values()))
    for reference in sorted(books.keys() | file.keys(), key=str):
        ours, theirs = books.get(reference), file.get(reference)
        if theirs is None:
            report.differences.append(Difference("missing_in_settlement", reference, ours, None))
        elif ours is None:
            report.differences.append(Difference("missing_in_ledger", reference, None, theirs.amount))
        elif ours != theirs.amount:
            report.differences.append(Difference("amount_mismatch", reference, ours, theirs.amount))
    return report


async def post_settlement(session: AsyncSession, agency_id: uuid.UUID, day: date, settlement_csv: str) -> int:
    """Book the day's payout to the agency and the gateway's fee, each once per agency and day."""
    file = parse_settlement(settlement_csv, str(agency_id))
    gross = sum(line.amount for line in file.values())
    fees = sum(line.fee for line in file.values())
    posted = 0
    if gross - fees:
        posted += await ledger.post(
            session, event_key=f"settlement:{agency_id}:{day.isoformat()}", kind="settlement", agency_id=agency_id,
            booked_on=day, lines=[(ledger.AGENCY_SETTLED, gross - fees, None),
                                  (ledger.GATEWAY_CLEARING, -(gross - fees), None)])
    if fees:
        posted += await ledger.post(
            session, event_key=f"fee:{agency_id}:{day.isoformat()}", kind="fee", agency_id=agency_id, booked_on=day,
            lines=[(ledger.GATEWAY_FEES, fees, None), (ledger.GATEWAY_CLEARING, -fees, None)])
    return posted
