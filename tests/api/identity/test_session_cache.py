from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import psycopg
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from api.db import reader_for, utcnow
from api.identity.authentication import authenticate_person_with
from api.identity.models import SessionToken
from api.identity.session_cache import CHANGE_POLL_SECONDS, SessionCache, listen_for_changes
from api.identity.tokens import TokenRejected, hash_token, issue_token, revoke_token
from api.people.individual_number import IndividualNumberCipher
from api.people.models import Person
from tests.api.conftest import Portal, operation
from tests.factories import individual_number, make_municipality, make_person


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@asynccontextmanager
async def kept_sessions(engine: AsyncEngine, max_entries: int = 100, clock: Clock | None = None
                        ) -> AsyncIterator[SessionCache]:
    """A cache on the engine's reader, listening (PostgreSQL) as the app's is while it runs."""
    cache = SessionCache(reader_for(engine), max_entries, clock=clock or Clock())
    async with listen_for_changes(engine, cache):
        for _ in range(100):
            if cache.listening:
                break
            await asyncio.sleep(0.05)
        assert cache.listening
        yield cache


async def person_with_token(session: AsyncSession, cipher: IndividualNumberCipher) -> tuple[uuid.UUID, str]:
    await make_municipality(session)
    person = await make_person(session, cipher, number=individual_number("10000000001"))
    token = await issue_token(session, person.id, ttl=timedelta(minutes=15))
    await session.commit()
    return person.id, token


def counting(engine: AsyncEngine) -> list[str]:
    statements: list[str] = []
    reader_for(engine).statement_listeners.append(statements.append)
    return statements


async def test_a_kept_lookup_runs_no_statement_and_a_revocation_ends_it_at_once(
    engine: AsyncEngine, session: AsyncSession, cipher: IndividualNumberCipher
) -> None:
    person_id, token = await person_with_token(session, cipher)
    async with kept_sessions(engine) as cache:
        statements = counting(engine)
        first = await authenticate_person_with(reader_for(engine), token, cache=cache)
        again = await authenticate_person_with(reader_for(engine), token, cache=cache)
        assert (first.principal.person_id, again is first, len(statements), len(cache)) == (person_id, True, 1, 1)

        assert await revoke_token(session, token)
        await session.commit()
        with pytest.raises(TokenRejected) as revoked:
            await authenticate_person_with(reader_for(engine), token, cache=cache)
        assert (revoked.value.reason, len(statements)) == ("invalid", 2)


async def test_a_change_to_the_person_is_read_again(
    engine: AsyncEngine, session: AsyncSession, cipher: IndividualNumberCipher
) -> None:
    person_id, token = await person_with_token(session, cipher)
    async with kept_sessions(engine) as cache:
        await authenticate_person_with(reader_for(engine), token, cache=cache)
        await session.execute(update(Person).where(Person.id == person_id).values(address="東京都港区1-1"))
        await session.commit()
        found = await authenticate_person_with(reader_for(engine), token, cache=cache)
    assert found.person.address == "東京都港区1-1"


async def test_unknown_tokens_are_not_kept_and_expiry_is_checked_on_every_use(
    engine: AsyncEngine, session: AsyncSession, cipher: IndividualNumberCipher
) -> None:
    _, token = await person_with_token(session, cipher)
    async with kept_sessions(engine) as cache:
        with pytest.raises(TokenRejected):
            await authenticate_person_with(reader_for(engine), token[:-2] + "xx", cache=cache)
        assert len(cache) == 0
        found = await authenticate_person_with(reader_for(engine), token, cache=cache)
        with pytest.raises(TokenRejected) as expired:
            await authenticate_person_with(reader_for(engine), token, cache=cache,
                                           now=found.expires_at + timedelta(seconds=1))
        assert (expired.value.reason, len(cache)) == ("expired", 1)


async def test_a_fill_that_raced_a_drop_is_not_kept_and_the_oldest_fill_leaves_first(
    engine: AsyncEngine, session: AsyncSession, cipher: IndividualNumberCipher
) -> None:
    _, token = await person_with_token(session, cipher)
    async with kept_sessions(engine, max_entries=2) as cache:
        found = await authenticate_person_with(reader_for(engine), token, cache=cache)
        assert len(cache) == 1
        started = cache.generation
        cache.drop()  # a write committed while the lookup was reading
        cache.put(b"a", found, started)
        assert len(cache) == 0
        for key in (b"a", b"b", b"c"):
            cache.put(key, found, cache.generation)
        assert [cache.get(key) is found for key in (b"a", b"b", b"c")] == [False, True, True]


async def test_a_cache_of_size_zero_keeps_nothing(
    engine: AsyncEngine, session: AsyncSession, cipher: IndividualNumberCipher
) -> None:
    _, token = await person_with_token(session, cipher)
    cache = SessionCache(reader_for(engine), 0)
    statements = counting(engine)
    for _ in range(2):
        await authenticate_person_with(reader_for(engine), token, cache=cache)
    assert (len(statements), len(cache)) == (2, 0)


async def test_sqlite_sees_another_processs_commit_within_the_poll_interval(
    engine: AsyncEngine, session: AsyncSession, cipher: IndividualNumberCipher
) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite only")
    _, token = await person_with_token(session, cipher)
    clock = Clock()
    async with kept_sessions(engine, clock=clock) as cache:
        found = await authenticate_person_with(reader_for(engine), token, cache=cache)
        # Another process: the stdlib driver, no SQLAlchemy engine of this process involved.
        other = sqlite3.connect(engine.url.database)
        other.execute("UPDATE session_tokens SET revoked_at = ? WHERE token_hash = ?",
                      (utcnow().strftime("%Y-%m-%d %H:%M:%S.%f"), hash_token(token)))
        other.commit()
        other.close()
        clock.now += CHANGE_POLL_SECONDS / 2  # within the interval: what was found is still used
        assert await authenticate_person_with(reader_for(engine), token, cache=cache) is found
        clock.now += CHANGE_POLL_SECONDS  # past it
        with pytest.raises(TokenRejected) as revoked:
            await authenticate_person_with(reader_for(engine), token, cache=cache)
    assert revoked.value.reason == "invalid"


@pytest.mark.postgres
async def test_postgres_hears_another_processs_commit_and_keeps_nothing_unless_listening(
    engine: AsyncEngine, session: AsyncSession, cipher: IndividualNumberCipher, database_url: str
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only")
    _, token = await person_with_token(session, cipher)
    idle = SessionCache(reader_for(engine), 100)  # no listener: nothing may be kept
    await authenticate_person_with(reader_for(engine), token, cache=idle)
    assert (idle.listening, len(idle)) == (False, 0)

    async with kept_sessions(engine) as cache:
        found = await authenticate_person_with(reader_for(engine), token, cache=cache)
        assert await authenticate_person_with(reader_for(engine), token, cache=cache) is found
        # Another process: psycopg itself, no SQLAlchemy engine of this process involved.
        conninfo = database_url.replace("postgresql+psycopg://", "postgresql://", 1)
        async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as other:
            await other.execute("UPDATE session_tokens SET revoked_at = now() WHERE token_hash = %s",
                                (hash_token(token),))
        for _ in range(100):  # the notification arrives once the update is committed
            if len(cache) == 0:
                break
            await asyncio.sleep(0.05)
        with pytest.raises(TokenRejected) as revoked:
            await authenticate_person_with(reader_for(engine), token, cache=cache)
    assert revoked.value.reason == "invalid"
    assert not cache.listening and len(cache) == 0  # stopped with the app


async def test_the_portal_rejects_a_revoked_token_on_the_next_request(portal: Portal, session: AsyncSession) -> None:
    viewer = operation("Viewer")
    assert (await portal.query(viewer, token=portal.father_token))["data"]["viewer"]["name"] == "山田 太郎"
    assert (await portal.query(viewer, token=portal.father_token))["data"]["viewer"]["name"] == "山田 太郎"
    await session.execute(update(Person).where(Person.id == portal.father).values(name="山田 一郎"))
    await session.commit()
    assert (await portal.query(viewer, token=portal.father_token))["data"]["viewer"]["name"] == "山田 一郎"
    await session.execute(update(SessionToken).where(SessionToken.token_hash == hash_token(portal.father_token))
                          .values(revoked_at=utcnow()))
    await session.commit()
    result = await portal.query(viewer, token=portal.father_token)
    assert (result["data"], result["errors"][0]["extensions"]["code"]) == (None, "UNAUTHENTICATED")
