from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from api.identity.authentication import authenticate_person, ended_sessions
from api.identity.models import SessionToken
from api.identity.tokens import issue_token, revoke_token
from api.people import service as people_service
from api.people.individual_number import IndividualNumberCipher
from api.platform.auth import TokenRejected, hash_token
from api.platform.scopes import PERSON_SCOPES
from tests.api.conftest import Portal, operation
from tests.api.identity.conftest import CountedRead
from tests.factories import individual_number, make_municipality, make_person

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


async def test_the_lookup_finds_the_tokens_principal_and_checks_expiry_and_revocation(
    engine: AsyncEngine, session: AsyncSession, cipher: IndividualNumberCipher
) -> None:
    await make_municipality(session)
    person = await make_person(session, cipher, number=individual_number("10000000001"))
    token = await issue_token(session, person.id, ttl=timedelta(minutes=15), now=NOW)
    await session.commit()
    found = await authenticate_person(engine, token, now=NOW + timedelta(minutes=14))
    assert (found.principal.person_id, found.principal.scopes, found.expires_at, found.revoked) == (
        person.id, PERSON_SCOPES, NOW + timedelta(minutes=15), False)
    with pytest.raises(TokenRejected) as expired:
        await authenticate_person(engine, token, now=NOW + timedelta(minutes=15))
    assert expired.value.reason == "expired"
    assert await revoke_token(session, token)
    await session.commit()
    with pytest.raises(TokenRejected) as revoked:
        await authenticate_person(engine, token, now=NOW)
    assert revoked.value.reason == "invalid"


@pytest.mark.parametrize("token", ["mpt_" + "A" * 43, "not-a-token", "mpt_" + "A" * 97])
async def test_unknown_and_malformed_tokens_are_invalid(engine: AsyncEngine, token: str) -> None:
    with pytest.raises(TokenRejected) as unknown:
        await authenticate_person(engine, token)
    assert unknown.value.reason == "invalid"


async def test_a_viewer_query_reads_the_token_then_the_person_with_their_municipality(
    portal: Portal, lookups: CountedRead, monkeypatch: pytest.MonkeyPatch
) -> None:
    person_reads = CountedRead(people_service._PERSON_WITH_MUNICIPALITY)
    monkeypatch.setattr(people_service, "_PERSON_WITH_MUNICIPALITY", person_reads)
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        statements.append(" ".join(statement.split()))

    engine = portal.app.state.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        first = await portal.query(operation("Viewer"), token=portal.father_token)
        again = await portal.query(operation("Viewer"), token=portal.father_token)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert first == again and first["data"]["viewer"]["municipality"]["name"] == "千代田区"
    # The token once (then this worker keeps it: api.identity.session_cache); the person and their municipality
    # in one point read on every request (the request's person loader); no statement through a session.
    assert lookups.count == 1
    assert person_reads.count == 2
    assert statements == []


async def test_ended_sessions_names_each_ended_token_and_why_in_chunks(
    engine: AsyncEngine, session: AsyncSession, cipher: IndividualNumberCipher
) -> None:
    await make_municipality(session)
    person = await make_person(session, cipher, number=individual_number("10000000001"))
    live = await issue_token(session, person.id, ttl=timedelta(minutes=15), now=NOW)
    expired = await issue_token(session, person.id, ttl=timedelta(minutes=1), now=NOW)
    revoked = await issue_token(session, person.id, ttl=timedelta(minutes=15), now=NOW)
    assert await revoke_token(session, revoked)
    await session.commit()
    ids = {token: (await authenticate_person(engine, token, now=NOW)).principal.token_id
           for token in (live, expired)}
    revoked_id = await session.scalar(select(SessionToken.id).where(SessionToken.token_hash == hash_token(revoked)))
    unknown = [uuid.uuid4() for _ in range(10_010)]  # more than one statement's worth on either database
    ended = await ended_sessions(engine, [*unknown, ids[live], ids[expired], revoked_id],
                                 now=NOW + timedelta(minutes=2))
    assert ended == {ids[expired]: "expired", revoked_id: "revoked"}  # found in the second statement
    assert await ended_sessions(engine, [], now=NOW) == {}
