"""A person's server-side web sessions (api.identity.web_sessions): resumed only while their session token lives,
renewed on the server when the access token expires (once, even by concurrent requests), ended by sign-out,
revocation and idleness, on both databases."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import uuid

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from api.identity import sessions, web_sessions
from api.identity.login_models import RefreshToken
from api.identity.models import SessionToken
from api.identity.web_sessions import IDLE, TOUCH_EVERY, Lifetimes, PersonWebSession
from api.people.individual_number import IndividualNumberCipher
from api.platform.db import create_session_factory
from api.platform.scopes import PERSON_SCOPES
from tests.factories import individual_number, make_municipality, make_person

NOW = dt.datetime(2026, 12, 5, 3, 0, tzinfo=dt.UTC)
LIFETIMES = Lifetimes(access=dt.timedelta(minutes=15), refresh=dt.timedelta(days=30))
MINUTE = dt.timedelta(minutes=1)


async def _signed_in(engine: AsyncEngine, cipher: IndividualNumberCipher, *, terminal: bool = False
                     ) -> tuple[async_sessionmaker[AsyncSession], web_sessions.WebSignIn]:
    factory = create_session_factory(engine)
    async with factory() as session, session.begin():
        await make_municipality(session)
        person = await make_person(session, cipher, number=individual_number("12345678901"))
        pair = await sessions.start_session(
            session, person.id, scopes=PERSON_SCOPES, client="mynaportal-web-card", access_ttl=LIFETIMES.access,
            refresh_ttl=LIFETIMES.refresh, now=NOW, certificate_id=None,
            shared_terminal=sessions.SharedTerminal("terminal-1", dt.timedelta(minutes=5)) if terminal else None)
    return factory, await web_sessions.sign_in(factory, pair, now=NOW)


async def _row(factory: async_sessionmaker[AsyncSession], session_id: str) -> PersonWebSession | None:
    async with factory() as session:
        return await session.get(PersonWebSession, hashlib.sha256(session_id.encode()).digest())


async def _token(factory: async_sessionmaker[AsyncSession], token_id: uuid.UUID) -> SessionToken:
    async with factory() as session:
        return await session.get_one(SessionToken, token_id)


async def test_a_session_resumes_with_its_person_and_is_touched_once_a_minute(
        engine: AsyncEngine, cipher: IndividualNumberCipher) -> None:
    factory, started = await _signed_in(engine, cipher)
    assert len(started.session_id) == 43 and len(started.csrf) == 32
    found = await web_sessions.resume(factory, started.session_id, LIFETIMES, now=NOW + TOUCH_EVERY / 2)
    assert found == started
    assert (await _row(factory, started.session_id)).last_seen_at == NOW  # type: ignore[union-attr]
    assert await web_sessions.resume(factory, started.session_id, LIFETIMES, now=NOW + TOUCH_EVERY) == started
    assert (await _row(factory, started.session_id)).last_seen_at == NOW + TOUCH_EVERY  # type: ignore[union-attr]
    assert await web_sessions.resume(factory, started.session_id + "x", LIFETIMES, now=NOW) is None
    assert await web_sessions.resume(factory, "x" * 101, LIFETIMES, now=NOW) is None


async def test_an_expired_access_token_is_renewed_on_the_server_once(engine: AsyncEngine,
                                                                      cipher: IndividualNumberCipher) -> None:
    factory, started = await _signed_in(engine, cipher)
    later = NOW + LIFETIMES.access  # the access token expired (not the web session: seen 10 minutes ago)
    assert await web_sessions.resume(factory, started.session_id, LIFETIMES, now=later - 5 * MINUTE) == started
    first, second = await asyncio.gather(
        web_sessions.resume(factory, started.session_id, LIFETIMES, now=later),
        web_sessions.resume(factory, started.session_id, LIFETIMES, now=later))
    assert first is not None and first == second  # two requests at once: one renewal, both see it
    assert first.principal.token_id != started.principal.token_id
    assert (first.session_id, first.csrf, first.principal.person_id) == (
        started.session_id, started.csrf, started.principal.person_id)
    row = await _row(factory, started.session_id)
    assert row is not None and (row.token_id, row.last_seen_at) == (first.principal.token_id, later)
    async with factory() as session:
        refresh = list(await session.execute(select(RefreshToken.id, RefreshToken.used_at, RefreshToken.revoked_at)
                                             .order_by(RefreshToken.created_at)))
    assert [(used, revoked) for _, used, revoked in refresh] == [(later, None), (None, None)]  # no reuse alarm
    assert row.refresh_token_id == refresh[1][0]
    renewed = await _token(factory, first.principal.token_id)
    assert (renewed.expires_at, renewed.revoked_at) == (later + LIFETIMES.access, None)


async def test_a_session_idle_for_thirty_minutes_ends_with_its_tokens(engine: AsyncEngine,
                                                                      cipher: IndividualNumberCipher) -> None:
    factory, started = await _signed_in(engine, cipher)
    assert await web_sessions.resume(factory, started.session_id, LIFETIMES, now=NOW + IDLE) is None
    assert await _row(factory, started.session_id) is None
    assert (await _token(factory, started.principal.token_id)).revoked_at == NOW + IDLE
    async with factory() as session:
        assert list(await session.scalars(select(RefreshToken.revoked_at))) == [NOW + IDLE]


async def test_a_revoked_token_ends_the_session_at_once(engine: AsyncEngine, cipher: IndividualNumberCipher) -> None:
    factory, started = await _signed_in(engine, cipher)
    async with factory() as session, session.begin():
        await sessions.end_session(session, started.principal.token_id, NOW + MINUTE)  # e.g. the app's sign-out
    assert await web_sessions.resume(factory, started.session_id, LIFETIMES, now=NOW + 2 * MINUTE) is None
    assert await _row(factory, started.session_id) is None


async def test_a_revoked_refresh_family_is_not_renewed(engine: AsyncEngine, cipher: IndividualNumberCipher) -> None:
    factory, started = await _signed_in(engine, cipher)
    async with factory() as session, session.begin():
        family = (await session.get_one(SessionToken, started.principal.token_id)).family_id
        await session.execute(update(RefreshToken).where(RefreshToken.family_id == family).values(revoked_at=NOW))
    assert await web_sessions.resume(factory, started.session_id, LIFETIMES, now=NOW + LIFETIMES.access) is None
    assert await _row(factory, started.session_id) is None


async def test_signing_out_deletes_the_row_and_ends_the_tokens(engine: AsyncEngine,
                                                               cipher: IndividualNumberCipher) -> None:
    factory, started = await _signed_in(engine, cipher)
    await web_sessions.sign_out(factory, started.session_id, now=NOW + MINUTE)
    assert await _row(factory, started.session_id) is None
    assert (await _token(factory, started.principal.token_id)).revoked_at == NOW + MINUTE
    assert await web_sessions.resume(factory, started.session_id, LIFETIMES, now=NOW + MINUTE) is None
    await web_sessions.sign_out(factory, started.session_id, now=NOW + MINUTE)  # again: nothing left, no error


async def test_a_shared_terminals_session_has_no_refresh_and_is_extended_on_use(
        engine: AsyncEngine, cipher: IndividualNumberCipher) -> None:
    factory, started = await _signed_in(engine, cipher, terminal=True)
    row = await _row(factory, started.session_id)
    assert row is not None and row.refresh_token_id is None
    used = NOW + 4 * MINUTE
    assert await web_sessions.resume(factory, started.session_id, LIFETIMES, now=used) == started
    assert (await _token(factory, started.principal.token_id)).expires_at == used + 5 * MINUTE
    # Unused for its 5 minutes: ended, not renewed (it has no refresh token).
    assert await web_sessions.resume(factory, started.session_id, LIFETIMES, now=used + 5 * MINUTE) is None
    assert await _row(factory, started.session_id) is None
