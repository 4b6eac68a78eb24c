"""What a municipality publishes (offerings of national procedures), and the municipality's agency."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.agencies.models import Agency, AgencyKind
from api.applications.catalogue import Procedure, catalogue, procedure
from api.applications.models import ProcedureOffering
from api.platform.db import utcnow
from api.platform.errors import PortalError


@dataclass(frozen=True)
class Offered:
    procedure: Procedure
    offering: ProcedureOffering


async def publish(session: AsyncSession, municipality_code: str, procedure_code: str, *,
                  signature_required: bool | None = None, fee_yen: int | None = None,
                  note: str | None = None) -> ProcedureOffering:
    """Publish (or re-publish) a procedure at the catalogue's current form version: a national one, or the
    municipality's own."""
    proc = procedure(procedure_code)
    if proc.municipality is not None and proc.municipality != municipality_code:
        raise PortalError("PROCEDURE_NOT_OWNED", "This procedure is another municipality's own.",
                          extensions={"field": "procedure"})
    if proc.signature_required and signature_required is False:
        raise PortalError("BAD_USER_INPUT", "The catalogue requires the card's signature for this procedure.",
                          extensions={"field": "signatureRequired"})
    if note is not None and len(note) > MAX_NOTE:
        raise PortalError("BAD_USER_INPUT", f"note is at most {MAX_NOTE} characters.", extensions={"field": "note"})
    if fee_yen is not None and not 0 <= fee_yen <= MAX_FEE_YEN:
        raise PortalError("BAD_USER_INPUT", f"feeYen is 0 to {MAX_FEE_YEN}.", extensions={"field": "feeYen"})
    offering = await session.scalar(select(ProcedureOffering).where(
        ProcedureOffering.municipality_code == municipality_code, ProcedureOffering.procedure_code == proc.code))
    if offering is None:
        offering = ProcedureOffering(municipality_code=municipality_code, procedure_code=proc.code)
        session.add(offering)
    offering.form_version = proc.form_version
    offering.signature_required = proc.signature_required if signature_required is None else signature_required
    offering.fee_yen = proc.fee_yen if fee_yen is None else fee_yen
    offering.note = note
    offering.published_at = utcnow()
    offering.withdrawn_at = None
    await session.flush()
    forget_offered()
    return offering


MAX_FEE_YEN = 100_000
MAX_NOTE = 500


async def withdraw(session: AsyncSession, municipality_code: str, procedure_code: str) -> ProcedureOffering:
    """Stop taking a procedure online: drafts of it can no longer be sent; what was sent goes on as before."""
    offering = await session.scalar(select(ProcedureOffering).where(
        ProcedureOffering.municipality_code == municipality_code, ProcedureOffering.procedure_code == procedure_code,
        ProcedureOffering.withdrawn_at.is_(None)).with_for_update())
    if offering is None:
        raise PortalError("PROCEDURE_NOT_OFFERED", "The municipality does not take this procedure online.")
    offering.withdrawn_at = utcnow()
    await session.flush()
    forget_offered()
    return offering


async def offerings_of(session: AsyncSession, municipality_code: str) -> list[ProcedureOffering]:
    """Everything the municipality has published, withdrawn ones too, by procedure code."""
    return list(await session.scalars(select(ProcedureOffering).where(
        ProcedureOffering.municipality_code == municipality_code).order_by(ProcedureOffering.procedure_code)))


# What each municipality publishes changes a few times a year; さがす and ぴったり read it on every request. A
# process keeps it OFFERED_TTL seconds (a publication shows everywhere within that; in this process at once).
OFFERED_TTL = 30.0
_offered_cache: dict[str | None, tuple[float, list[Offered]]] = {}


async def offered(session: AsyncSession, municipality_code: str | None) -> list[Offered]:
    """The procedures published (not withdrawn) by a municipality, or by any when None, in catalogue order."""
    kept = _offered_cache.get(municipality_code)
    if kept is not None and time.monotonic() - kept[0] < OFFERED_TTL:
        return kept[1]
    found = await _offered(session, municipality_code)
    _offered_cache[municipality_code] = (time.monotonic(), found)
    return found


def forget_offered() -> None:
    """Drop this process's copy, so the next read goes to the database (for tests that empty the tables)."""
    _offered_cache.clear()


async def _offered(session: AsyncSession, municipality_code: str | None) -> list[Offered]:
    query = select(ProcedureOffering).where(ProcedureOffering.withdrawn_at.is_(None))
    if municipality_code is not None:
        query = query.where(ProcedureOffering.municipality_code == municipality_code)
    procedures = catalogue().procedures
    order = {code: index for index, code in enumerate(procedures)}
    rows = [row for row in await session.scalars(query) if row.procedure_code in procedures]
    rows.sort(key=lambda row: (order[row.procedure_code], row.municipality_code))
    return [Offered(procedures[row.procedure_code], row) for row in rows]


async def offering_for(session: AsyncSession, municipality_code: str, procedure_code: str) -> ProcedureOffering:
    offering = await session.scalar(select(ProcedureOffering).where(
        ProcedureOffering.municipality_code == municipality_code, ProcedureOffering.procedure_code == procedure_code,
        ProcedureOffering.withdrawn_at.is_(None)))
    if offering is None:
        raise PortalError("PROCEDURE_NOT_OFFERED", "The municipality does not take this procedure online.")
    return offering


async def municipality_agency_id(session: AsyncSession, municipality_code: str) -> uuid.UUID:
    found = await session.scalar(select(Agency.id).where(Agency.kind == AgencyKind.MUNICIPALITY,
                                                         Agency.municipality_code == municipality_code))
    if found is None:
        raise PortalError("PROCEDURE_NOT_OFFERED", "The municipality has no agency on the portal.")
    return found


async def municipality_of_agency(session: AsyncSession, agency_id: uuid.UUID) -> str:
    agency = await session.get(Agency, agency_id)
    if agency is None or agency.kind is not AgencyKind.MUNICIPALITY or agency.municipality_code is None:
        raise PortalError("FORBIDDEN", "Only a municipality has an applications inbox.")
    return agency.municipality_code


# -- the municipality's own choices, through its agency key (api.applications.rest) --------------------------------

async def publish_for(session_factory: async_sessionmaker[AsyncSession], agency_id: uuid.UUID, procedure_code: str,
                      *, signature_required: bool | None, fee_yen: int | None, note: str | None) -> ProcedureOffering:
    async with session_factory() as session, session.begin():
        municipality = await municipality_of_agency(session, agency_id)
        return await publish(session, municipality, procedure_code, signature_required=signature_required,
                             fee_yen=fee_yen, note=note)


async def withdraw_for(session_factory: async_sessionmaker[AsyncSession], agency_id: uuid.UUID,
                       procedure_code: str) -> ProcedureOffering:
    async with session_factory() as session, session.begin():
        return await withdraw(session, await municipality_of_agency(session, agency_id), procedure_code)


async def offerings_for(session_factory: async_sessionmaker[AsyncSession],
                        agency_id: uuid.UUID) -> list[ProcedureOffering]:
    async with session_factory() as session:
        return await offerings_of(session, await municipality_of_agency(session, agency_id))
