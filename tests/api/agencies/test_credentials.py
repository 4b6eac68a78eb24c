from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from api.agencies.credentials import (
    NOTICES_PUBLISH,
    authenticate_agency,
    issue_agency_key,
    resolve_agency_key,
    revoke_agency_key,
)
from api.agencies.models import AgencyCredential
from api.platform.auth import TokenRejected
from api.platform.db import create_session_factory
from tests.factories import make_agency


async def test_a_key_resolves_to_its_agency_and_scopes(session: AsyncSession) -> None:
    agency = await make_agency(session, "chiyoda-city")
    key = await issue_agency_key(session, agency.id, label="notices", scopes=frozenset({NOTICES_PUBLISH}))
    principal = await resolve_agency_key(session, key)
    assert (principal.agency_id, principal.scopes) == (agency.id, frozenset({NOTICES_PUBLISH}))
    stored = await session.scalar(select(AgencyCredential))
    assert key.encode() not in stored.key_hash and len(stored.key_hash) == 32


async def test_a_revoked_or_unknown_key_is_rejected(session: AsyncSession) -> None:
    agency = await make_agency(session, "chiyoda-city")
    key = await issue_agency_key(session, agency.id, label="x")
    assert await revoke_agency_key(session, key) is True
    assert await revoke_agency_key(session, key) is False
    for candidate in (key, "mpa_unknown", "mpt_" + key[4:]):
        with pytest.raises(TokenRejected):
            await resolve_agency_key(session, candidate)


async def test_unknown_scopes_are_refused(session: AsyncSession) -> None:
    agency = await make_agency(session, "chiyoda-city")
    with pytest.raises(ValueError, match="unknown agency scopes: profile:read"):
        await issue_agency_key(session, agency.id, label="x", scopes=frozenset({"profile:read"}))
    assert (await session.scalars(select(AgencyCredential))).all() == []


async def test_authenticate_reads_the_key_at_once_and_a_revocation_takes_effect_on_the_next_request(
        engine: AsyncEngine) -> None:
    factory = create_session_factory(engine)
    async with factory() as session, session.begin():
        agency = await make_agency(session, "chiyoda-city")
        key = await issue_agency_key(session, agency.id, label="x", scopes=frozenset({NOTICES_PUBLISH}))
    principal = await authenticate_agency(factory, key)
    assert (principal.agency_id, principal.scopes) == (agency.id, frozenset({NOTICES_PUBLISH}))
    async with factory() as session, session.begin():
        assert await revoke_agency_key(session, key) is True
    for candidate in (key, "mpa_unknown", "mpt_" + key[4:], "mpa_" + "x" * 200):
        with pytest.raises(TokenRejected):
            await authenticate_agency(factory, candidate)
