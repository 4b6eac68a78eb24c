"""Agency API keys: how an agency's own systems authenticate (publish notices, create payment orders).

Keys are random, shown once, stored as SHA-256 hashes, scoped, and revocable. An agency principal
is never a person: it acts only as its agency, and sees people only by that agency's codes.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.agencies.models import Agency, AgencyCredential
from api.platform.auth import TokenRejected, hash_token
from api.platform.db import PointRead, utcnow

AGENCY_KEY_PREFIX = "mpa_"

NOTICES_PUBLISH = "notices:publish"
NOTICES_DELIVERY_READ = "notices:delivery-read"
PAYMENTS_ORDERS = "payments:orders"
PAYMENTS_REFUND = "payments:refund"
PAYMENTS_REPORTS = "payments:reports"
EXCHANGE_REQUEST = "exchange:request"  # ask other agencies for a person's data through the hub
EXCHANGE_PROVIDE = "exchange:provide"  # register copies (副本) and live endpoints
EXCHANGE_RECORDS = "exchange:records"  # read the records of the agency's own requests
CORRECTIONS_ANSWER = "corrections:answer"  # read the 訂正請求 queue and answer (api.selfinfo)
APPLICATIONS_INBOX = "applications:inbox"  # a municipality reads its online applications (api.applications)
APPLICATIONS_DECIDE = "applications:decide"  # and moves them (審査中, 補正依頼, 完了, 却下)
APPLICATIONS_PUBLISH = "applications:publish"  # choose which procedures it takes online (and its own procedures)
AGENCY_SCOPES = frozenset({NOTICES_PUBLISH, NOTICES_DELIVERY_READ, PAYMENTS_ORDERS, PAYMENTS_REFUND, PAYMENTS_REPORTS,
                           EXCHANGE_REQUEST, EXCHANGE_PROVIDE, EXCHANGE_RECORDS, CORRECTIONS_ANSWER,
                           APPLICATIONS_INBOX, APPLICATIONS_DECIDE, APPLICATIONS_PUBLISH})


@dataclass(frozen=True)
class AgencyPrincipal:
    agency_id: uuid.UUID
    scopes: frozenset[str]
    credential_id: uuid.UUID


async def issue_agency_key(
    session: AsyncSession, agency_id: uuid.UUID, *, label: str, scopes: frozenset[str] = AGENCY_SCOPES
) -> str:
    unknown = scopes - AGENCY_SCOPES
    if unknown:
        raise ValueError(f"unknown agency scopes: {', '.join(sorted(unknown))}")
    key = AGENCY_KEY_PREFIX + secrets.token_urlsafe(32)
    session.add(AgencyCredential(agency_id=agency_id, key_hash=hash_token(key), label=label,
                                 scopes=" ".join(sorted(scopes))))
    await session.flush()
    return key


async def resolve_agency_key(session: AsyncSession, key: str) -> AgencyPrincipal:
    if not key.startswith(AGENCY_KEY_PREFIX) or len(key) > 100:
        raise TokenRejected("invalid")
    row = await session.scalar(select(AgencyCredential).where(AgencyCredential.key_hash == hash_token(key)))
    if row is None or row.revoked_at is not None:
        raise TokenRejected("invalid")
    return AgencyPrincipal(agency_id=row.agency_id, scopes=frozenset(row.scopes.split()), credential_id=row.id)


# Every agency request's key lookup: one indexed read on a kept connection (api.platform.db.PointRead).
_KEY_LOOKUP = PointRead(select(AgencyCredential.agency_id, AgencyCredential.scopes, AgencyCredential.id,
                               AgencyCredential.revoked_at).where(AgencyCredential.key_hash == bindparam("key_hash")))


async def authenticate_agency(session_factory: async_sessionmaker[AsyncSession], key: str) -> AgencyPrincipal:
    """The agency whose API key this is (for the REST routes); TokenRejected if none or revoked."""
    if not key.startswith(AGENCY_KEY_PREFIX) or len(key) > 100:
        raise TokenRejected("invalid")
    row = await _KEY_LOOKUP.first(session_factory.kw["bind"], {"key_hash": hash_token(key)})
    if row is None or row[3] is not None:
        raise TokenRejected("invalid")
    return AgencyPrincipal(agency_id=row[0], scopes=frozenset(row[1].split()), credential_id=row[2])


async def revoke_agency_key(session: AsyncSession, key: str) -> bool:
    result = await session.execute(
        update(AgencyCredential)
        .where(AgencyCredential.key_hash == hash_token(key), AgencyCredential.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .returning(AgencyCredential.id)
    )
    return result.first() is not None


async def agency_by_slug(session: AsyncSession, slug: str) -> Agency | None:
    return await session.scalar(select(Agency).where(Agency.slug == slug))
