"""The web portal's card login (Web eID design) through the app's routes: the token the local helper makes,
verified by the identity domain for the portal's own origin; relayed or replayed signatures refused."""

from __future__ import annotations

import base64
import re

import httpx
from sqlalchemy import select

from api.identity.challenges import origin_bound_message
from api.identity.models import SessionToken
from api.platform.db import create_session_factory
from nfc_bridge.helper import signed_data
from nfc_bridge.jpki import Key
from nfc_bridge.virtual_card.store import CardData
from tests.api.identity.conftest import PUBLIC_URL, IdentityPortal, card_sign


async def _start(client: httpx.AsyncClient) -> tuple[str, str]:
    page = await client.get("/web/login")
    assert page.status_code == 200
    csrf = re.search(r'data-csrf="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    started = await client.post("/web/login/card/challenge", headers={"x-csrf-token": csrf})
    assert started.status_code == 200
    body = started.json()
    assert body["origin"] == PUBLIC_URL
    return csrf, body["challenge"]


def _token(card: CardData, origin: str, challenge: str, **extra: object) -> dict:
    signature = card_sign(card, Key.AUTH, signed_data(origin, challenge))
    encode = lambda raw: base64.b64encode(raw).decode()  # noqa: E731
    return {"format": "web-eid:1.0", "appVersion": "test", "algorithm": "RS256", "signature": encode(signature),
            "unverifiedCertificate": encode(card.der("auth_cert")),
            "certificateChain": [encode(card.der("auth_ca_cert"))], **extra}


def _client(identity: IdentityPortal) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=identity.portal.app), base_url=PUBLIC_URL)


def test_the_helper_signs_what_the_server_rebuilds() -> None:
    nonce = bytes(range(32))
    challenge = base64.urlsafe_b64encode(nonce).rstrip(b"=").decode()
    assert signed_data("https://myna.example", challenge) == origin_bound_message("https://myna.example", nonce)
    assert len(origin_bound_message("https://myna.example", nonce)) == 64


async def test_a_card_login_signs_in_once_and_its_challenge_is_spent(identity: IdentityPortal) -> None:
    card = await identity.card_for(identity.portal.father)
    async with _client(identity) as client:
        csrf, challenge = await _start(client)
        token = _token(card, PUBLIC_URL, challenge)
        done = await client.post("/web/login/card", json=token, headers={"x-csrf-token": csrf})
        assert done.status_code == 200 and done.json() == {"next": "/web/"}
        cookie = done.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie  # development
        home = await client.get("/web/")
        assert home.status_code == 200 and "<h1>ホーム</h1>" in home.text
        assert "default-src 'none'" in home.headers["content-security-policy"]
        again = await client.post("/web/login/card", json=token, headers={"x-csrf-token": csrf})
        assert again.status_code == 404  # this browser holds no challenge any more: CHALLENGE_UNKNOWN


async def test_a_signature_made_for_another_origin_is_refused(identity: IdentityPortal) -> None:
    card = await identity.card_for(identity.portal.father)
    async with _client(identity) as client:
        csrf, challenge = await _start(client)
        relayed = _token(card, "https://myna-portal.example", challenge)  # a look-alike site's page asked
        refused = await client.post("/web/login/card", json=relayed, headers={"x-csrf-token": csrf})
        assert refused.status_code == 401  # SIGNATURE_INVALID
        assert (await client.get("/web/")).status_code == 303  # not signed in
    async with create_session_factory(identity.engine)() as session:
        assert (await session.scalars(select(SessionToken.client).where(
            SessionToken.client == "mynaportal-web-card"))).all() == []


async def test_a_login_without_the_form_token_is_refused_before_the_card_is_checked(
        identity: IdentityPortal) -> None:
    card = await identity.card_for(identity.portal.father)
    async with _client(identity) as client:
        _, challenge = await _start(client)
        refused = await client.post("/web/login/card", json=_token(card, PUBLIC_URL, challenge),
                                    headers={"x-csrf-token": "forged"})
        assert refused.status_code == 403
        assert (await client.get("/web/")).status_code == 303


async def test_a_shared_terminal_login_gets_an_idle_timeout_and_no_refresh_token(identity: IdentityPortal) -> None:
    card = await identity.card_for(identity.portal.father)
    async with _client(identity) as client:
        csrf, challenge = await _start(client)
        done = await client.post("/web/login/card", json=_token(card, PUBLIC_URL, challenge, sharedTerminal=True),
                                 headers={"x-csrf-token": csrf})
        assert done.status_code == 200
        home = await client.get("/web/")
        assert "共用端末" in home.text
    async with create_session_factory(identity.engine)() as session:
        [(idle, terminal)] = (await session.execute(select(SessionToken.idle_timeout_seconds,
                                                           SessionToken.terminal_id).where(
            SessionToken.client == "mynaportal-web-card"))).all()
    assert idle == 300 and terminal is not None and len(terminal) == 16
