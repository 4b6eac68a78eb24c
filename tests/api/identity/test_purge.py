"""`purge` deletes exactly the login state that can no longer be used, in batches, on both databases."""

from __future__ import annotations

import datetime as dt
import secrets

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from api.identity.login_models import DeviceAuthorization, DeviceGrantStatus, LoginChallenge
from api.identity.models import SessionToken
from api.identity.purge import Purged, purge
from api.identity.web_sessions import IDLE, PersonWebSession
from api.people.individual_number import IndividualNumberCipher
from api.platform.db import create_session_factory
from tests.factories import individual_number, make_municipality, make_person

NOW = dt.datetime(2026, 12, 5, 3, 0, tzinfo=dt.UTC)
S = dt.timedelta(seconds=1)


def _challenge(label: str, expires_at: dt.datetime, used: bool = False) -> LoginChallenge:
    return LoginChallenge(nonce=secrets.token_bytes(32), client_id=label, created_at=expires_at - 120 * S,
                          expires_at=expires_at, used_at=expires_at - S if used else None)


def _grant(label: str, status: DeviceGrantStatus, expires_at: dt.datetime) -> DeviceAuthorization:
    return DeviceAuthorization(device_code_hash=secrets.token_bytes(32), user_code=label, client_id=label,
                               scopes="notices:read", status=status, interval_seconds=5,
                               created_at=expires_at - 600 * S, expires_at=expires_at)


async def test_purge_deletes_exactly_the_expired_rows(engine: AsyncEngine, cipher: IndividualNumberCipher) -> None:
    factory = create_session_factory(engine)
    async with factory() as session, session.begin():
        await make_municipality(session)
        person = await make_person(session, cipher, number=individual_number("12345678901"))
        session.add_all([_challenge(f"gone-{i}", NOW - i * S) for i in range(5)])  # NOW itself is expired
        session.add_all([_challenge("live", NOW + S), _challenge("used-live", NOW + S, used=True)])
        session.add_all([
            _grant("PEND-GONE", DeviceGrantStatus.PENDING, NOW),
            _grant("APPR-GONE", DeviceGrantStatus.APPROVED, NOW - S),
            _grant("USED-LIVE", DeviceGrantStatus.CONSUMED, NOW + 60 * S),
            _grant("PEND-LIVE", DeviceGrantStatus.PENDING, NOW + S),
            _grant("DENY-LIVE", DeviceGrantStatus.DENIED, NOW + S),  # the TV still learns it was denied
            _grant("APPR-LIVE", DeviceGrantStatus.APPROVED, NOW + S),
        ])
        tokens = {}
        for label, expires, revoked in (("old", NOW - dt.timedelta(days=1), None),
                                        ("recent", NOW - dt.timedelta(days=1) + S, None),
                                        ("live", NOW + S, None), ("signed-out", NOW + S, NOW - S)):
            tokens[label] = SessionToken(token_hash=secrets.token_bytes(32), person_id=person.id, scopes="x",
                                         client=label, created_at=expires - S, expires_at=expires, revoked_at=revoked)
            session.add(tokens[label])
        await session.flush()
        # Web sessions: idle for IDLE (gone), one second less (kept), of a revoked token (gone), of a token the
        # purge deletes (gone with it, by the foreign key: not counted as a web session).
        for label, token, seen in (("idle", "live", NOW - IDLE), ("active", "live", NOW - IDLE + S),
                                   ("revoked", "signed-out", NOW), ("of-old", "old", NOW)):
            session.add(PersonWebSession(id_hash=label.encode().ljust(32, b"."), token_id=tokens[token].id,
                                         refresh_token_id=None, csrf=label, created_at=seen, last_seen_at=seen))

    done = await purge(factory, now=NOW, batch=2)
    assert done == Purged(challenges=5, device_grants=3, access_tokens=1, web_sessions=2)
    async with factory() as session:
        assert sorted(await session.scalars(select(LoginChallenge.client_id))) == ["live", "used-live"]
        assert sorted(await session.scalars(select(DeviceAuthorization.user_code))) == [
            "APPR-LIVE", "DENY-LIVE", "PEND-LIVE"]
        assert sorted(await session.scalars(select(SessionToken.client))) == ["live", "recent", "signed-out"]
        assert list(await session.scalars(select(PersonWebSession.csrf))) == ["active"]
    # Nothing left to purge: a second run deletes nothing.
    assert await purge(factory, now=NOW, batch=2) == Purged(0, 0, 0, 0)


async def test_purge_refuses_a_batch_below_one(engine: AsyncEngine) -> None:
    with pytest.raises(ValueError, match="batch"):
        await purge(create_session_factory(engine), now=NOW, batch=0)
