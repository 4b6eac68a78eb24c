"""Sessions on a shared terminal (a municipal counter, a public kiosk): short idle timeout extended on use, no
refresh token, ended by the terminal, and ended by the terminal's next login; signing out in general."""

from __future__ import annotations

import base64
import datetime as dt

import pytest
from sqlalchemy import select

from api.identity.authentication import authenticate_person
from api.identity.models import SessionToken
from api.platform.auth import TokenRejected, hash_token
from api.platform.db import create_session_factory
from nfc_bridge.jpki import Key
from nfc_bridge.virtual_card.store import CardData
from tests.api.identity.conftest import CLIENT, IdentityPortal, b64, card_sign
from tests.api.identity.test_login import VIEWER, code_of

IDLE = dt.timedelta(minutes=5)  # the default MYNAPORTAL_SHARED_TERMINAL_IDLE_TIMEOUT


async def _login(identity: IdentityPortal, card: CardData, terminal: str | None) -> dict:
    challenge = await identity.challenge()
    signature = card_sign(card, Key.AUTH, base64.b64decode(challenge["toBeSigned"]))
    given = {"challengeId": challenge["challengeId"], "clientId": CLIENT, "certificate": b64(card.der("auth_cert")),
             "chain": [b64(card.der("auth_ca_cert"))], "signature": b64(signature)}
    if terminal is not None:
        given["sharedTerminalId"] = terminal
    result = await identity.gql("CompleteCardLogin", {"input": given})
    assert "errors" not in result, result
    return result["data"]["completeCardLogin"]


async def _row(identity: IdentityPortal, token: str) -> SessionToken:
    async with create_session_factory(identity.engine)() as session:
        return await session.scalar(select(SessionToken).where(SessionToken.token_hash == hash_token(token)))


async def _works(identity: IdentityPortal, token: str) -> bool:
    result = await identity.portal.query(VIEWER, token=token)
    if "errors" in result:
        assert code_of(result) == "UNAUTHENTICATED"
        return False
    return True


async def test_a_shared_terminal_session_has_no_refresh_token_and_ends_when_idle(identity: IdentityPortal) -> None:
    card = await identity.card_for(identity.portal.father)
    signed_in = await _login(identity, card, "chiyoda-counter-3")
    assert (signed_in["refreshToken"], signed_in["expiresIn"]) == (None, 300)
    token = signed_in["accessToken"]
    row = await _row(identity, token)
    assert (row.idle_timeout_seconds, row.terminal_id, row.family_id) == (300, "chiyoda-counter-3", None)
    assert row.expires_at == identity.now + IDLE
    assert await _works(identity, token)

    # Used within the idle time: extended (not on every request: at most every 30 s).
    started = identity.now
    await authenticate_person(identity.engine, token, now=started + dt.timedelta(seconds=20))
    assert (await _row(identity, token)).expires_at == started + IDLE
    used = started + dt.timedelta(minutes=4)
    await authenticate_person(identity.engine, token, now=used)
    assert (await _row(identity, token)).expires_at == used + IDLE
    await authenticate_person(identity.engine, token, now=used + IDLE - dt.timedelta(seconds=1))
    # Left alone for the idle time: ended, and a late use does not revive it.
    late = used + IDLE - dt.timedelta(seconds=1) + IDLE
    with pytest.raises(TokenRejected, match="expired"):
        await authenticate_person(identity.engine, token, now=late)
    assert (await _row(identity, token)).expires_at == used + IDLE - dt.timedelta(seconds=1) + IDLE


async def test_an_ordinary_session_is_not_extended(identity: IdentityPortal) -> None:
    card = await identity.card_for(identity.portal.father)
    signed_in = await _login(identity, card, None)
    assert signed_in["refreshToken"].startswith("mpr_")
    before = (await _row(identity, signed_in["accessToken"])).expires_at
    await authenticate_person(identity.engine, signed_in["accessToken"], now=identity.now + dt.timedelta(minutes=14))
    row = await _row(identity, signed_in["accessToken"])
    assert (row.expires_at, row.idle_timeout_seconds, row.terminal_id) == (before, None, None)


async def test_the_terminal_ends_the_session(identity: IdentityPortal) -> None:
    card = await identity.card_for(identity.portal.father)
    token = (await _login(identity, card, "kiosk-1"))["accessToken"]
    assert await identity.gql("EndSession", token=token) == {"data": {"endSession": True}}
    assert not await _works(identity, token)
    assert code_of(await identity.gql("EndSession", token=token)) == "UNAUTHENTICATED"


async def test_signing_out_ends_the_refresh_family_too(identity: IdentityPortal) -> None:
    card = await identity.card_for(identity.portal.father)
    signed_in = await _login(identity, card, None)
    assert await identity.gql("EndSession", token=signed_in["accessToken"]) == {"data": {"endSession": True}}
    assert not await _works(identity, signed_in["accessToken"])
    refreshed = await identity.gql("RefreshSession", {"refreshToken": signed_in["refreshToken"]})
    assert code_of(refreshed) == "REFRESH_TOKEN_INVALID"


async def test_the_next_residents_login_ends_the_previous_residents_session(identity: IdentityPortal) -> None:
    fathers_card = await identity.card_for(identity.portal.father)
    mothers_card = await identity.card_for(identity.portal.mother)
    # The helper forgot to sign the father out at counter 3; the same resident is signed in at counter 4.
    father = (await _login(identity, fathers_card, "counter-3"))["accessToken"]
    elsewhere = (await _login(identity, fathers_card, "counter-4"))["accessToken"]
    assert await _works(identity, father)
    mother = (await _login(identity, mothers_card, "counter-3"))["accessToken"]
    assert not await _works(identity, father)
    assert await _works(identity, mother) and await _works(identity, elsewhere)
    result = await identity.portal.query(VIEWER, token=mother)
    assert result["data"]["viewer"]["name"] == "山田 花子"


async def test_a_bad_terminal_id_is_refused(identity: IdentityPortal) -> None:
    card = await identity.card_for(identity.portal.father)
    challenge = await identity.challenge()
    signature = card_sign(card, Key.AUTH, base64.b64decode(challenge["toBeSigned"]))
    result = await identity.gql("CompleteCardLogin", {"input": {
        "challengeId": challenge["challengeId"], "clientId": CLIENT, "certificate": b64(card.der("auth_cert")),
        "chain": [b64(card.der("auth_ca_cert"))], "signature": b64(signature), "sharedTerminalId": "端末"}})
    assert code_of(result) == "BAD_USER_INPUT"
