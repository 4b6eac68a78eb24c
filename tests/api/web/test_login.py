"""The web portal's card login (Web eID design) through the app's routes: the token the local helper makes,
verified by the identity domain for the portal's own origin; relayed or replayed signatures refused."""

from __future__ import annotations

import base64
import hashlib
import re

import httpx
from sqlalchemy import func, select, update

from api.identity.cards import revoke_card
from api.identity.challenges import origin_bound_message
from api.identity.login_models import RefreshToken
from api.identity.models import SessionToken
from api.identity.web_sessions import PersonWebSession
from api.platform.auth import hash_token
from api.platform.db import create_session_factory, utcnow
from api.web.cookies import COOKIE, LOGIN_COOKIE
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


async def session_csrf(client: httpx.AsyncClient) -> str:
    """The signed-in session's form token, from the home page's sign-out form."""
    home = await client.get("/web/")
    assert home.status_code == 200
    return re.search(r'name="csrf" value="([^"]+)"', home.text).group(1)  # type: ignore[union-attr]


async def _signed_in(identity: IdentityPortal, client: httpx.AsyncClient, **extra: object) -> None:
    card = await identity.card_for(identity.portal.father)
    csrf, challenge = await _start(client)
    done = await client.post("/web/login/card", json=_token(card, PUBLIC_URL, challenge, **extra),
                             headers={"x-csrf-token": csrf})
    assert done.status_code == 200


async def _web_sessions(identity: IdentityPortal) -> list[PersonWebSession]:
    async with create_session_factory(identity.engine)() as session:
        return list(await session.scalars(select(PersonWebSession)))


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
        assert again.status_code == 403  # the login page's form token ended with the sign-in
        again = await client.post("/web/login/card", json=token, headers={"x-csrf-token": await session_csrf(client)})
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


async def test_the_cookies_hold_no_token_and_the_row_refers_to_the_tokens_by_id(identity: IdentityPortal) -> None:
    async with _client(identity) as client:
        await _signed_in(identity, client)
        session_id = client.cookies[COOKIE]
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", session_id)  # 32 random bytes, nothing else
        login_cookie = client.cookies[LOGIN_COOKIE]
        body = base64.urlsafe_b64decode(login_cookie.rsplit(".", 1)[0] + "==")
        assert b"mpt_" not in body and b"mpr_" not in body and b"token" not in body and b"refresh" not in body
    async with create_session_factory(identity.engine)() as session:
        [token] = (await session.scalars(select(SessionToken).where(
            SessionToken.client == "mynaportal-web-card"))).all()
        [refresh] = (await session.scalars(select(RefreshToken).where(
            RefreshToken.family_id == token.family_id))).all()
    [row] = await _web_sessions(identity)
    assert row.id_hash == hashlib.sha256(session_id.encode()).digest()
    assert (row.token_id, row.refresh_token_id) == (token.id, refresh.id)
    assert token.token_hash != hash_token(session_id) and row.id_hash != token.token_hash


async def test_a_cookie_replayed_after_sign_out_is_refused(identity: IdentityPortal) -> None:
    async with _client(identity) as client:
        await _signed_in(identity, client)
        session_id = client.cookies[COOKIE]
        out = await client.post("/web/logout", data={"csrf": await session_csrf(client)})
        assert (out.status_code, out.headers["location"]) == (303, "/web/login")
        assert f'{COOKIE}=""' in out.headers["set-cookie"]  # deleted in the browser too
    assert await _web_sessions(identity) == []
    async with create_session_factory(identity.engine)() as session:
        [(revoked, family_revoked)] = (await session.execute(
            select(SessionToken.revoked_at.is_not(None), func.count(RefreshToken.id).filter(
                RefreshToken.revoked_at.is_(None))).join(RefreshToken, RefreshToken.family_id ==
                                                          SessionToken.family_id).group_by(SessionToken.id))).all()
    assert (revoked, family_revoked) == (True, 0)
    async with _client(identity) as replaying:
        replaying.cookies.set(COOKIE, session_id)
        replayed = await replaying.get("/web/")
        assert (replayed.status_code, replayed.headers["location"]) == (303, "/web/login")
        assert f'{COOKIE}=""' in replayed.headers["set-cookie"]


async def test_revoking_the_card_ends_the_web_session_at_once(identity: IdentityPortal) -> None:
    async with _client(identity) as client:
        await _signed_in(identity, client)
        assert (await client.get("/web/")).status_code == 200
        async with create_session_factory(identity.engine)() as session, session.begin():
            assert await revoke_card(session, identity.portal.father, now=utcnow()) > 0
        refused = await client.get("/web/")
        assert (refused.status_code, refused.headers["location"]) == (303, "/web/login")
    assert await _web_sessions(identity) == []


async def test_a_shared_terminals_next_login_ends_the_previous_web_session(identity: IdentityPortal) -> None:
    async with _client(identity) as first, _client(identity) as second:
        await _signed_in(identity, first, sharedTerminal=True)
        assert "共用端末" in (await first.get("/web/")).text
        # The next resident on the same terminal (its id is in the login cookie, which outlives each session).
        second.cookies.set(LOGIN_COOKIE, first.cookies[LOGIN_COOKIE], domain="portal.test", path="/web")
        await _signed_in(identity, second, sharedTerminal=True)
        assert (await second.get("/web/")).status_code == 200
        ended = await first.get("/web/")
        assert (ended.status_code, ended.headers["location"]) == (303, "/web/login")
    [row] = await _web_sessions(identity)
    async with create_session_factory(identity.engine)() as session:
        terminals = (await session.execute(select(SessionToken.id, SessionToken.terminal_id).where(
            SessionToken.client == "mynaportal-web-card", SessionToken.revoked_at.is_(None)))).all()
    assert [token_id for token_id, _ in terminals] == [row.token_id] and terminals[0][1] is not None


async def test_signing_in_makes_a_new_form_token_and_the_old_one_is_refused(identity: IdentityPortal) -> None:
    card = await identity.card_for(identity.portal.father)
    async with _client(identity) as client:
        before, challenge = await _start(client)
        done = await client.post("/web/login/card", json=_token(card, PUBLIC_URL, challenge),
                                 headers={"x-csrf-token": before})
        assert done.status_code == 200
        after = await session_csrf(client)
        assert after != before
        refused = await client.post("/web/logout", data={"csrf": before})  # the login page's token, planted or not
        assert refused.status_code == 403
        assert (await client.get("/web/")).status_code == 200  # still signed in
        out = await client.post("/web/logout", data={"csrf": after})
        assert out.status_code == 303


async def test_an_expired_access_token_is_renewed_on_the_server_and_the_cookie_stays(
        identity: IdentityPortal) -> None:
    async with _client(identity) as client:
        await _signed_in(identity, client)
        session_id = client.cookies[COOKIE]
        [before] = await _web_sessions(identity)
        async with create_session_factory(identity.engine)() as session, session.begin():
            await session.execute(update(SessionToken).where(SessionToken.id == before.token_id)
                                  .values(expires_at=utcnow()))
        home = await client.get("/web/")
        assert home.status_code == 200 and "set-cookie" not in home.headers  # the same id: nothing to send
        assert client.cookies[COOKIE] == session_id
    [after] = await _web_sessions(identity)
    assert after.token_id != before.token_id and after.refresh_token_id != before.refresh_token_id
    async with create_session_factory(identity.engine)() as session:
        spent = await session.get_one(RefreshToken, before.refresh_token_id)
        renewed = await session.get_one(SessionToken, after.token_id)
    assert spent.used_at is not None and spent.revoked_at is None
    assert (renewed.client, renewed.revoked_at, renewed.certificate_id is not None) == (
        "mynaportal-web-card", None, True)
