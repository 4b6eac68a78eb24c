"""Open live feeds end when their credential does, over a real graphql-transport-ws connection: a session signed
out or ended by a card reported lost (this process: at once), a session revoked elsewhere (another worker, an
operator's SQL: within the guard's second), a proxy grant revoked or expired. The feeds of others go on."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from api.app import create_app
from api.identity.loss_reports import report_lost
from api.identity.models import SessionToken
from api.identity.pki_models import Card, CertificateProfile, IssuedCertificate
from api.identity.tokens import issue_token, revoke_token
from api.platform.auth import hash_token
from api.platform.db import create_session_factory, dispose_engine, utcnow
from api.proxies.models import ProxyGrant
from api.proxies.service import grant_proxy, revoke_grant
from tests.api.conftest import Portal, operation
from tests.api.schema.test_history import person
from tests.api.schema.test_notices import serving, subscribe
from tests.conftest import make_settings
from tests.schema_cache import shared_schema

RECORD_ADDED = operation("RecordAdded")
NOTICE_ADDED = operation("NoticeAdded")


@dataclass
class Feed:
    socket: Any

    async def ended(self) -> tuple[float, dict[str, Any]]:
        """Seconds until the feed's last word, and that word's error; then the server completes the operation."""
        started = time.perf_counter()
        message = json.loads(await asyncio.wait_for(self.socket.recv(), 5))
        elapsed = time.perf_counter() - started
        assert message["type"] == "next", message
        assert message["payload"]["data"] is None
        [error] = message["payload"]["errors"]
        complete = json.loads(await asyncio.wait_for(self.socket.recv(), 5))
        assert (complete["type"], complete["id"]) == ("complete", message["id"])
        return elapsed, error

    async def silent(self, seconds: float) -> None:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(self.socket.recv(), seconds)


@pytest.fixture
async def served(database_url: str) -> AsyncIterator[str]:
    settings = make_settings(database_url)
    app = create_app(settings, owns_process=False, schema=shared_schema(settings))
    async with serving(app) as url:
        yield url
    await dispose_engine(app.state.engine)


async def _open(url: str, token: str, query: str, variables: dict[str, Any] | None = None) -> Feed:
    socket = await subscribe(url, token)
    assert json.loads(await socket.recv())["type"] == "connection_ack"
    await socket.send(json.dumps({"id": "1", "type": "subscribe",
                                  "payload": {"query": query, "variables": variables or {}}}))
    feed = Feed(socket)
    await feed.silent(0.3)  # open, and nothing said yet
    return feed


async def _token(engine: AsyncEngine, who: object, **kwargs: Any) -> str:
    async with create_session_factory(engine)() as session, session.begin():
        return await issue_token(session, who, ttl=timedelta(minutes=15), **kwargs)  # type: ignore[arg-type]


async def test_signing_out_ends_open_feeds_at_once(portal: Portal, engine: AsyncEngine, served: str) -> None:
    token = await _token(engine, portal.father)
    record, notices = await _open(served, token, RECORD_ADDED), await _open(served, token, NOTICE_ADDED)
    other = await _open(served, portal.father_token, RECORD_ADDED)  # his other device's session
    async with create_session_factory(engine)() as session, session.begin():
        assert await revoke_token(session, token)
    for feed in (record, notices):
        elapsed, error = await feed.ended()
        assert (error["extensions"]["code"], error["extensions"]["reason"]) == ("UNAUTHENTICATED", "SESSION_REVOKED")
        assert error["message"].startswith("The session was revoked")
        assert elapsed < 0.5, elapsed  # this process committed it: the guard looked at once
    await other.silent(1.2)  # the session that was not revoked stays open
    for feed in (record, notices, other):
        await feed.socket.close()


async def test_a_session_revoked_elsewhere_ends_within_a_second(portal: Portal, engine: AsyncEngine,
                                                                 served: str) -> None:
    token = await _token(engine, portal.father)
    feed = await _open(served, token, RECORD_ADDED)
    # Another worker, the CLI or an operator's SQL: nothing in this process hears of it.
    async with engine.begin() as connection:
        await connection.execute(update(SessionToken).where(SessionToken.token_hash == hash_token(token))
                                 .values(revoked_at=utcnow()))
    elapsed, error = await feed.ended()
    assert (error["extensions"]["code"], error["extensions"]["reason"]) == ("UNAUTHENTICATED", "SESSION_REVOKED")
    assert elapsed < 1.6, elapsed  # one batched check a second, plus its read
    await feed.socket.close()


async def test_an_expired_session_ends_its_feed(portal: Portal, engine: AsyncEngine, served: str) -> None:
    token = await _token(engine, portal.father)
    feed = await _open(served, token, NOTICE_ADDED)
    async with engine.begin() as connection:
        await connection.execute(update(SessionToken).where(SessionToken.token_hash == hash_token(token))
                                 .values(expires_at=utcnow() - timedelta(seconds=1)))
    _, error = await feed.ended()
    assert (error["extensions"]["code"], error["extensions"]["reason"]) == ("UNAUTHENTICATED", "SESSION_EXPIRED")
    await feed.socket.close()


async def test_a_card_reported_lost_ends_the_feeds_of_its_sessions(portal: Portal, engine: AsyncEngine,
                                                                    served: str) -> None:
    async with create_session_factory(engine)() as session, session.begin():
        card = Card(person_id=portal.father)
        session.add(card)
        await session.flush()
        certificate = IssuedCertificate(fingerprint=secrets.token_bytes(32), issuer="test", serial="01",
                                        profile=CertificateProfile.CARD_AUTH, person_id=portal.father, card_id=card.id,
                                        not_after=datetime.now(UTC) + timedelta(days=365))
        session.add(certificate)
        await session.flush()
    card_token = await _token(engine, portal.father, certificate_id=certificate.id)
    from_card = await _open(served, card_token, RECORD_ADDED)
    async with create_session_factory(engine)() as session, session.begin():
        assert await report_lost(session, portal.father, now=utcnow()) == 1
    elapsed, error = await from_card.ended()
    assert (error["extensions"]["code"], error["extensions"]["reason"]) == ("UNAUTHENTICATED", "SESSION_REVOKED")
    assert elapsed < 0.5, elapsed
    await from_card.socket.close()


async def test_a_proxys_feed_ends_with_the_grant(portal: Portal, engine: AsyncEngine, served: str) -> None:
    factory = create_session_factory(engine)
    async with factory() as session, session.begin():
        first = await grant_proxy(session, principal_id=portal.father, proxy_id=portal.mother,
                                  scopes=["records:read"], valid_until=date.today() + timedelta(days=3),
                                  today=date.today())
    mother = await _token(engine, portal.mother)
    revoked = await _open(served, mother, RECORD_ADDED, {"personId": person(portal.father)})
    own = await _open(served, mother, RECORD_ADDED)  # her own record: no grant involved
    async with factory() as session, session.begin():
        await revoke_grant(session, principal_id=portal.father, grant_id=first.id)
    elapsed, error = await revoked.ended()
    assert (error["extensions"]["code"], error["extensions"]["reason"]) == ("NOT_AUTHORIZED_FOR_PERSON",
                                                                            "GRANT_REVOKED")
    assert elapsed < 0.5, elapsed
    # A grant that runs out (valid through yesterday, as the date turns) ends its feed as well.
    async with factory() as session, session.begin():
        second = await grant_proxy(session, principal_id=portal.father, proxy_id=portal.mother,
                                   scopes=["records:read"], valid_until=date.today() + timedelta(days=3),
                                   today=date.today())
    expiring = await _open(served, mother, RECORD_ADDED, {"personId": person(portal.father)})
    async with engine.begin() as connection:
        await connection.execute(update(ProxyGrant).where(ProxyGrant.id == second.id)
                                 .values(valid_until=date.today() - timedelta(days=1)))
    elapsed, error = await expiring.ended()
    assert error["extensions"]["reason"] == "GRANT_EXPIRED"
    assert elapsed < 1.6, elapsed
    await own.silent(0.2)  # her session is fine: her own feed stays open
    for feed in (revoked, expiring, own):
        await feed.socket.close()
