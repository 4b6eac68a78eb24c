from __future__ import annotations

import asyncio
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from api.identity.authentication import authenticate_person
from api.identity.models import SessionToken
from api.identity.session_cache import MAX_AGE_SECONDS, SessionCache
from api.identity.sessions import revoke_family, start_session
from api.identity.tokens import PERSON_SCOPES, issue_token, revoke_token
from api.people.individual_number import IndividualNumberCipher
from api.people.models import Person
from api.platform.auth import TokenRejected, hash_token
from api.platform.db import create_engine, dispose_engine, utcnow
from tests.api.conftest import Portal, operation
from tests.api.identity.conftest import CountedRead, IdentityPortal, command_env
from tests.factories import individual_number, make_municipality, make_person
from tests.served import serving


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def person_with_token(session: AsyncSession, cipher: IndividualNumberCipher) -> tuple[uuid.UUID, str]:
    await make_municipality(session)
    person = await make_person(session, cipher, number=individual_number("10000000001"))
    token = await issue_token(session, person.id, ttl=timedelta(minutes=15))
    await session.commit()
    return person.id, token


async def revoke_with_token(session: AsyncSession, token: str) -> None:
    assert await revoke_token(session, token)


async def revoke_with_family(session: AsyncSession, token: str) -> None:
    family = await session.scalar(select(SessionToken.family_id).where(SessionToken.token_hash == hash_token(token)))
    assert family is not None
    await revoke_family(session, family, utcnow())


@pytest.mark.parametrize("revoke", [revoke_with_token, revoke_with_family])
async def test_a_kept_token_costs_no_read_and_a_revocation_here_ends_it_on_the_next_request(
    engine: AsyncEngine, session: AsyncSession, cipher: IndividualNumberCipher, lookups: CountedRead,
    revoke: object
) -> None:
    await make_municipality(session)
    person = await make_person(session, cipher, number=individual_number("10000000001"))
    pair = await start_session(session, person.id, scopes=PERSON_SCOPES, client="test", certificate_id=None,
                               access_ttl=timedelta(minutes=15), refresh_ttl=timedelta(days=1), now=utcnow())
    await session.commit()
    cache = SessionCache(100, clock=Clock())
    first = await authenticate_person(engine, pair.access_token, cache=cache)
    again = await authenticate_person(engine, pair.access_token, cache=cache)
    assert (first.principal.person_id, again is first, lookups.count, len(cache)) == (person.id, True, 1, 1)

    await revoke(session, pair.access_token)  # type: ignore[operator]
    assert await authenticate_person(engine, pair.access_token, cache=cache) is first  # not committed yet
    await session.commit()
    with pytest.raises(TokenRejected) as revoked:
        await authenticate_person(engine, pair.access_token, cache=cache)
    assert (revoked.value.reason, lookups.count) == ("invalid", 2)


async def test_a_lookup_that_began_before_a_revocation_committed_is_not_used(
    engine: AsyncEngine, session: AsyncSession, cipher: IndividualNumberCipher
) -> None:
    _, token = await person_with_token(session, cipher)
    cache = SessionCache(100, clock=Clock())
    started = cache.fill_started()
    found = await authenticate_person(engine, token)  # read before the revocation commits
    await revoke_with_token(session, token)
    await session.commit()
    cache.put(hash_token(token), found, started)
    assert cache.get(hash_token(token)) is None


async def test_unknown_tokens_are_not_kept_and_expiry_is_checked_on_every_use(
    engine: AsyncEngine, session: AsyncSession, cipher: IndividualNumberCipher
) -> None:
    _, token = await person_with_token(session, cipher)
    cache = SessionCache(100, clock=Clock())
    with pytest.raises(TokenRejected):
        await authenticate_person(engine, token[:-2] + "xx", cache=cache)
    assert len(cache) == 0
    found = await authenticate_person(engine, token, cache=cache)
    with pytest.raises(TokenRejected) as expired:
        await authenticate_person(engine, token, cache=cache, now=found.expires_at + timedelta(seconds=1))
    assert (expired.value.reason, len(cache)) == ("expired", 1)


async def test_the_oldest_fill_leaves_first_and_size_zero_keeps_nothing(
    engine: AsyncEngine, session: AsyncSession, cipher: IndividualNumberCipher, lookups: CountedRead
) -> None:
    _, token = await person_with_token(session, cipher)
    found = await authenticate_person(engine, token)
    cache = SessionCache(2, clock=Clock())
    for key in (b"a", b"b", b"c"):
        cache.put(key, found, cache.fill_started())
    assert [cache.get(key) is found for key in (b"a", b"b", b"c")] == [False, True, True]

    lookups.count = 0
    nothing = SessionCache(0)
    for _ in range(2):
        await authenticate_person(engine, token, cache=nothing)
    assert (lookups.count, len(nothing)) == (2, 0)


async def test_another_writers_revocation_is_seen_once_the_entry_is_a_second_old(
    engine: AsyncEngine, session: AsyncSession, cipher: IndividualNumberCipher, database_url: str
) -> None:
    _, token = await person_with_token(session, cipher)
    clock = Clock()
    cache = SessionCache(100, clock=clock)
    found = await authenticate_person(engine, token, cache=cache)
    other = create_engine(database_url)  # another writer: nothing of this process's revocations involved
    try:
        async with other.begin() as connection:
            await connection.execute(update(SessionToken).where(SessionToken.token_hash == hash_token(token))
                                     .values(revoked_at=utcnow()))
    finally:
        await dispose_engine(other)
    clock.now += MAX_AGE_SECONDS - 0.01
    assert await authenticate_person(engine, token, cache=cache) is found  # kept: at most a second
    clock.now += 0.01
    with pytest.raises(TokenRejected) as revoked:
        await authenticate_person(engine, token, cache=cache)
    assert revoked.value.reason == "invalid"


REVOKE_SQLITE = """
import sqlite3, sys
connection = sqlite3.connect(sys.argv[1])
connection.execute("UPDATE session_tokens SET revoked_at = '2026-01-01 00:00:00.000000' WHERE token_hash = ?",
                   (bytes.fromhex(sys.argv[2]),))
connection.commit()
"""
REVOKE_POSTGRES = """
import psycopg, sys
with psycopg.connect(sys.argv[1], autocommit=True) as connection:
    connection.execute("UPDATE session_tokens SET revoked_at = now() WHERE token_hash = %s",
                       (bytes.fromhex(sys.argv[2]),))
"""


async def test_another_processs_revocation_is_refused_within_a_second(
    engine: AsyncEngine, session: AsyncSession, cipher: IndividualNumberCipher, database_url: str
) -> None:
    _, token = await person_with_token(session, cipher)
    cache = SessionCache(100)
    filled = time.monotonic()
    await authenticate_person(engine, token, cache=cache)
    if engine.dialect.name == "sqlite":
        script, target = REVOKE_SQLITE, engine.url.database
    else:
        script, target = REVOKE_POSTGRES, engine.url.set(drivername="postgresql").render_as_string(False)
    process = await asyncio.create_subprocess_exec(sys.executable, "-c", script, str(target), hash_token(token).hex())
    assert await process.wait() == 0
    revoked_at = time.monotonic()
    while True:
        try:
            await authenticate_person(engine, token, cache=cache)
        except TokenRejected as rejected:
            assert rejected.reason == "invalid"
            break
        await asyncio.sleep(0.02)
    refused_at = time.monotonic()
    # Refused once the entry is a second old (a little slack for this loop's sleeps), or at once if it already was.
    assert refused_at <= max(filled + MAX_AGE_SECONDS + 0.1, revoked_at + 0.1)


async def test_the_portal_refuses_a_token_revoked_here_on_the_next_request_and_shows_a_changed_person(
    portal: Portal, session: AsyncSession
) -> None:
    viewer = operation("Viewer")
    assert (await portal.query(viewer, token=portal.father_token))["data"]["viewer"]["name"] == "山田 太郎"
    await session.execute(update(Person).where(Person.id == portal.father).values(name="山田 一郎"))
    await session.commit()
    assert (await portal.query(viewer, token=portal.father_token))["data"]["viewer"]["name"] == "山田 一郎"
    assert await revoke_token(session, portal.father_token)
    await session.commit()
    result = await portal.query(viewer, token=portal.father_token)
    assert (result["data"], result["errors"][0]["extensions"]["code"]) == (None, "UNAUTHENTICATED")


@pytest.fixture
def other_worker(database_url: str, ca_dir: Path, identity: IdentityPortal) -> Iterator[str]:
    """Another worker: `mynaportal serve` in its own process, on the same database; its base URL."""
    with serving(command_env(database_url, ca_dir), ready_within=30) as server:
        yield server.base


async def _viewer(client: httpx.AsyncClient, token: str) -> str:
    """The viewer's name, or the error code."""
    answer = (await client.post("/graphql", json={"query": "{ viewer { name } }"},
                                headers={"authorization": f"Bearer {token}"})).json()
    return answer["errors"][0]["extensions"]["code"] if "errors" in answer else answer["data"]["viewer"]["name"]


async def _last_accepted(client: httpx.AsyncClient, token: str, since: float) -> float:
    """Poll until the token is refused; when the last request still accepted was sent, in seconds from ``since``
    (0 if none was). A worker's entry is at most a second old, so a request sent a second after the revocation
    committed is refused, however long its own round trip takes on a loaded machine."""
    last = since
    while True:
        asked = time.monotonic()
        if await _viewer(client, token) == "UNAUTHENTICATED":
            return last - since
        assert asked - since < 5, "never refused"
        last = asked
        await asyncio.sleep(0.02)


async def test_a_lost_card_ends_its_sessions_on_every_worker(identity: IdentityPortal, other_worker: str) -> None:
    here = identity.portal.client  # this process's app: one worker
    father = (await identity.card_login(await identity.card_for(identity.portal.father)))["data"]["completeCardLogin"]
    mother = (await identity.card_login(await identity.card_for(identity.portal.mother)))["data"]["completeCardLogin"]
    async with httpx.AsyncClient(base_url=other_worker, timeout=10) as there:
        for client in (here, there):  # both workers now keep both tokens
            assert await _viewer(client, father["accessToken"]) == "山田 太郎"
            assert await _viewer(client, mother["accessToken"]) == "山田 花子"

        # Reported here: refused here on the next request, and there within a second.
        lost = await here.post("/graphql", json={"query": "mutation { reportCardLost { revokedCertificates } }"},
                               headers={"authorization": f"Bearer {father['accessToken']}"})
        reported = time.monotonic()
        assert lost.json() == {"data": {"reportCardLost": {"revokedCertificates": 2}}}
        assert await _viewer(here, father["accessToken"]) == "UNAUTHENTICATED"
        assert await _last_accepted(there, father["accessToken"], reported) < MAX_AGE_SECONDS
        refreshed = await there.post("/oauth/token", data={"grant_type": "refresh_token",
                                                           "refresh_token": father["refreshToken"]})
        assert refreshed.json()["error"] == "invalid_grant"

        # Reported there (the other process): refused there at once, and here within a second.
        lost = await there.post("/graphql", json={"query": "mutation { reportCardLost { revokedCertificates } }"},
                                headers={"authorization": f"Bearer {mother['accessToken']}"})
        reported = time.monotonic()
        assert lost.json() == {"data": {"reportCardLost": {"revokedCertificates": 2}}}
        assert await _viewer(there, mother["accessToken"]) == "UNAUTHENTICATED"
        assert await _last_accepted(here, mother["accessToken"], reported) < MAX_AGE_SECONDS
