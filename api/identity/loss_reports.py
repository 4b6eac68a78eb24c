"""Reporting a card lost: by the signed-in person, or for them by an operator of the 24-hour hotline.

Someone who has lost both the card and the phone cannot sign in to report it. The hotline operator checks
who is calling against the person's record (name and birth date, plus how the caller was verified, e.g. a
call back to the registered number), then revokes the card. The report keeps the operator and the check; the
person's access record shows the operator's action.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from api.identity.cards import revoke_card
from api.identity.pki_models import CardLossReport
from api.people.service import find_by_id_or_email
from api.platform.access_records import record_operator_action
from api.platform.errors import PortalError

OPERATOR_PURPOSE = "operator:report-card-lost"


@dataclass(frozen=True)
class OperatorReport:
    person_id: uuid.UUID
    certificates_revoked: int


async def report_lost(session: AsyncSession, person_id: uuid.UUID, *, now: dt.datetime,
                      operator: str | None = None, identity_check: str | None = None) -> int:
    """Revoke the person's card (and every session from it, api.identity.cards.revoke_card) and keep the report.
    Returns the number of certificates newly revoked."""
    revoked = await revoke_card(session, person_id, now=now)
    session.add(CardLossReport(person_id=person_id, operator=operator, identity_check=identity_check,
                               certificates_revoked=revoked, reported_at=now))
    if operator is not None:
        await record_operator_action(session, operator=operator, subject_id=person_id, purpose=OPERATOR_PURPOSE)
    await session.flush()
    return revoked


def _same_name(given: str, recorded: str) -> bool:
    # A full-width space (山田　太郎) or none at all names the same person.
    def fold(name: str) -> str:
        return "".join(unicodedata.normalize("NFKC", name).split())
    return fold(given) == fold(recorded)


async def report_lost_by_operator(session: AsyncSession, wanted: str, *, operator: str, name: str,
                                  birth_date: dt.date, verified_by: str, now: dt.datetime) -> OperatorReport:
    """The hotline's report for the person ``wanted`` (id or e-mail), after the operator's identity check: the
    caller's name and birth date must match the record. A mismatch or an unknown person is refused alike
    (IDENTITY_NOT_VERIFIED) and changes nothing."""
    operator, verified_by = operator.strip(), verified_by.strip()
    if not operator or not verified_by:
        raise PortalError("BAD_USER_INPUT", "Name the operator and how the caller's identity was verified.")
    person = await find_by_id_or_email(session, wanted)
    if person is None or not _same_name(name, person.name) or person.birth_date != birth_date:
        raise PortalError("IDENTITY_NOT_VERIFIED", "The caller's name and birth date do not match a person's record.")
    check = f"name and birth date matched; {verified_by}"[:200]
    revoked = await report_lost(session, person.id, now=now, operator=operator, identity_check=check)
    return OperatorReport(person.id, revoked)
