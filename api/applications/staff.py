"""Municipal staff: their own accounts (a token shown once, stored as a hash) with a role — a reader reads the
inbox, a decider also moves applications — and the inbox's principal, staff or the municipality's system."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.agencies.credentials import APPLICATIONS_DECIDE, APPLICATIONS_INBOX, authenticate_agency
from api.agencies.models import Agency, AgencyCredential
from api.applications.models import MunicipalStaff
from api.applications.offerings import municipality_of_agency
from api.platform.auth import TokenRejected, hash_token
from api.platform.db import utcnow
from api.platform.errors import PortalError

STAFF_TOKEN_PREFIX = "mps_"  # noqa: S105 (a prefix, not a secret)
ROLES = ("reader", "decider")
# The agency keys' scopes for the inbox (api.agencies.credentials lists them).
INBOX_READ = APPLICATIONS_INBOX
INBOX_DECIDE = APPLICATIONS_DECIDE


@dataclass(frozen=True)
class InboxActor:
    agency_id: uuid.UUID
    municipality_code: str
    label: str  # who, as the applicant's record and the application's history show it
    can_decide: bool
    staff_id: uuid.UUID | None = None


async def create_staff(session: AsyncSession, agency_id: uuid.UUID, name: str, role: str) -> tuple[MunicipalStaff, str]:
    if role not in ROLES:
        raise PortalError("BAD_USER_INPUT", "The role is reader or decider.", extensions={"field": "role"})
    if not 0 < len(name.strip()) <= 100:
        raise PortalError("BAD_USER_INPUT", "The name is 1 to 100 characters.", extensions={"field": "name"})
    await municipality_of_agency(session, agency_id)
    token = STAFF_TOKEN_PREFIX + secrets.token_urlsafe(32)
    staff = MunicipalStaff(agency_id=agency_id, name=name.strip(), role=role, token_hash=hash_token(token))
    session.add(staff)
    await session.flush()
    return staff, token


async def disable_staff(session: AsyncSession, staff_id: uuid.UUID) -> bool:
    result = await session.execute(update(MunicipalStaff).where(
        MunicipalStaff.id == staff_id, MunicipalStaff.disabled_at.is_(None)).values(disabled_at=utcnow())
        .returning(MunicipalStaff.id))
    return result.first() is not None


async def inbox_actor(session_factory: async_sessionmaker[AsyncSession], token: str) -> InboxActor:
    """A staff token or the municipality's agency key (with the inbox scopes); UNAUTHENTICATED otherwise."""
    async with session_factory() as session:
        if token.startswith(STAFF_TOKEN_PREFIX) and len(token) <= 100:
            return await _staff_actor(session, hash_token(token))
        try:
            principal = await authenticate_agency(session_factory, token)
        except TokenRejected as error:
            raise PortalError("UNAUTHENTICATED", "The API key is not valid.") from error
        return await _agency_actor(session, principal.agency_id, principal.scopes)


async def actor_for_credential(session: AsyncSession, credential_hash: bytes) -> InboxActor:
    """The actor of the staff token or agency key whose hash this is (the hash its own table keeps), if it is
    still valid; UNAUTHENTICATED or FORBIDDEN otherwise (a browser session keeps only the hash:
    api.applications.staff_sessions)."""
    key = (await session.execute(select(AgencyCredential.agency_id, AgencyCredential.scopes).where(
        AgencyCredential.key_hash == credential_hash, AgencyCredential.revoked_at.is_(None)))).first()
    if key is not None:
        return await _agency_actor(session, key[0], frozenset(key[1].split()))
    return await _staff_actor(session, credential_hash)


async def _staff_actor(session: AsyncSession, token_hash: bytes) -> InboxActor:
    row = (await session.execute(
        select(MunicipalStaff, Agency.name).join(Agency, Agency.id == MunicipalStaff.agency_id)
        .where(MunicipalStaff.token_hash == token_hash))).first()
    if row is None or row[0].disabled_at is not None:
        raise PortalError("UNAUTHENTICATED", "The staff token is not valid.")
    staff, agency_name = row
    code = await municipality_of_agency(session, staff.agency_id)
    return InboxActor(staff.agency_id, code, f"{agency_name} 職員 {staff.name}"[:100],
                      staff.role == "decider", staff.id)


async def _agency_actor(session: AsyncSession, agency_id: uuid.UUID, scopes: frozenset[str]) -> InboxActor:
    if INBOX_READ not in scopes:
        raise PortalError("FORBIDDEN", f"This API key lacks the scope {INBOX_READ}.")
    code = await municipality_of_agency(session, agency_id)
    agency = await session.get_one(Agency, agency_id)
    return InboxActor(agency_id, code, f"{agency.name} 申請管理システム"[:100], INBOX_DECIDE in scopes)
