"""A lost card or a replaced phone ends every session that came from its certificates, in the same transaction:
access and refresh tokens, TV sessions and TV sign-ins not yet collected, and a proxy acting through such a
session. Refresh re-checks the certificate.

Sessions on a shared terminal (a municipal counter, a public kiosk): short idle timeout extended on use, no
refresh token, ended by the terminal, and ended by the terminal's next login; signing out in general."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import func, select, update
from strawberry import relay

from api.identity.authentication import authenticate_person
from api.identity.cards import revoke_card
from api.identity.login_models import RefreshToken
from api.identity.models import SessionToken
from api.identity.pki_models import IssuedCertificate
from api.platform.auth import TokenRejected, hash_token
from api.platform.db import create_session_factory
from nfc_bridge.jpki import Key
from nfc_bridge.virtual_card.store import CardData
from tests.api.conftest import operation
from tests.api.identity.conftest import CLIENT, IdentityPortal, b64, card_sign, phone_credential_input, phone_csr
from tests.api.identity.test_login import VIEWER, code_of
from tests.api.identity.test_phone_and_device import _device_start, _phone_login, _poll

NOTICES = "query { notices(first: 1) { edges { node { id } } } }"


async def _issue_phone(identity: IdentityPortal, card: CardData, auth_key: ec.EllipticCurvePrivateKey,
                       token: str) -> dict:
    """The phone credential for ``auth_key`` (and a signature key of its own)."""
    given = await phone_credential_input(identity, card, phone_csr(auth_key),
                                         phone_csr(ec.generate_private_key(ec.SECP256R1())), token)
    return (await identity.gql("IssuePhoneCredential", {"input": given}, token=token))["data"]["issuePhoneCredential"]


async def _refresh(identity: IdentityPortal, refresh_token: str) -> dict:
    return await identity.gql("RefreshSession", {"refreshToken": refresh_token})


async def _tv_session(identity: IdentityPortal, approver: str) -> dict:
    started = await _device_start(identity)
    identity.advance(5)
    approved = await identity.gql("ApproveDeviceSignIn", {"userCode": started["user_code"]}, token=approver)
    assert approved["data"]["approveDeviceSignIn"]["approved"] is True
    status, tokens = await _poll(identity, started)
    assert status == 200
    return tokens


async def _certificate_of(identity: IdentityPortal, access_token: str) -> object:
    async with create_session_factory(identity.engine)() as session:
        return await session.scalar(select(SessionToken.certificate_id).where(
            SessionToken.token_hash == hash_token(access_token)))


async def test_reporting_the_card_lost_ends_every_session_from_it_on_the_next_request(
        identity: IdentityPortal) -> None:
    card = await identity.card_for(identity.portal.father)
    signed_in = (await identity.card_login(card))["data"]["completeCardLogin"]
    key = ec.generate_private_key(ec.SECP256R1())
    phone = await _issue_phone(identity, card, key, signed_in["accessToken"])
    on_phone = (await _phone_login(identity, key, phone))["data"]["completeCardLogin"]
    tv = await _tv_session(identity, on_phone["accessToken"])
    # Each session names its certificate: the card's, the phone's, and the TV the approving phone's.
    card_certificate = await _certificate_of(identity, signed_in["accessToken"])
    phone_certificate = await _certificate_of(identity, on_phone["accessToken"])
    assert None not in (card_certificate, phone_certificate) and card_certificate != phone_certificate
    assert await _certificate_of(identity, tv["access_token"]) == phone_certificate
    for token in (signed_in["accessToken"], on_phone["accessToken"]):  # in use: this worker keeps them
        assert (await identity.portal.query(VIEWER, token=token))["data"]["viewer"]["name"] == "山田 太郎"
    assert "errors" not in await identity.portal.query(NOTICES, token=tv["access_token"])

    lost = await identity.gql("ReportCardLost", token=signed_in["accessToken"])
    assert lost == {"data": {"reportCardLost": {"revokedCertificates": 4}}}

    for token in (signed_in["accessToken"], on_phone["accessToken"]):
        assert code_of(await identity.portal.query(VIEWER, token=token)) == "UNAUTHENTICATED"
    assert code_of(await identity.portal.query(NOTICES, token=tv["access_token"])) == "UNAUTHENTICATED"
    for refresh in (signed_in["refreshToken"], on_phone["refreshToken"]):
        assert code_of(await _refresh(identity, refresh)) == "REFRESH_TOKEN_INVALID"
    response = await identity.portal.client.post("/oauth/token", data={
        "grant_type": "refresh_token", "refresh_token": tv["refresh_token"]})
    assert (response.status_code, response.json()["error"]) == (400, "invalid_grant")
    # Every token from those certificates is revoked in the database; the dev session (no certificate) is not.
    async with create_session_factory(identity.engine)() as session:
        live = await session.scalars(select(SessionToken.certificate_id).where(SessionToken.revoked_at.is_(None)))
        assert list(live) == [None]
        assert list(await session.scalars(select(RefreshToken.id).where(RefreshToken.revoked_at.is_(None),
                                                                        RefreshToken.used_at.is_(None)))) == []
    assert (await identity.portal.query(VIEWER, token=identity.portal.father_token))["data"] is not None


async def test_a_tv_sign_in_approved_before_the_loss_gets_no_tokens_after_it(identity: IdentityPortal) -> None:
    card = await identity.card_for(identity.portal.father)
    signed_in = (await identity.card_login(card))["data"]["completeCardLogin"]
    started = await _device_start(identity)
    identity.advance(5)
    await identity.gql("ApproveDeviceSignIn", {"userCode": started["user_code"]}, token=signed_in["accessToken"])
    await identity.gql("ReportCardLost", token=identity.portal.father_token)
    status, answer = await _poll(identity, started)
    assert (status, answer["error"]) == (400, "access_denied")
    async with create_session_factory(identity.engine)() as session:
        assert await session.scalar(select(SessionToken.id).where(SessionToken.client == "tv-app")) is None


async def test_replacing_the_phone_ends_the_old_phones_sessions_only(identity: IdentityPortal) -> None:
    card = await identity.card_for(identity.portal.father)
    signed_in = (await identity.card_login(card))["data"]["completeCardLogin"]
    old_key = ec.generate_private_key(ec.SECP256R1())
    old = await _issue_phone(identity, card, old_key, signed_in["accessToken"])
    old_session = (await _phone_login(identity, old_key, old))["data"]["completeCardLogin"]
    assert (await identity.portal.query(VIEWER, token=old_session["accessToken"]))["data"] is not None

    new_key = ec.generate_private_key(ec.SECP256R1())
    await _issue_phone(identity, card, new_key, signed_in["accessToken"])
    assert code_of(await identity.portal.query(VIEWER, token=old_session["accessToken"])) == "UNAUTHENTICATED"
    assert code_of(await _refresh(identity, old_session["refreshToken"])) == "REFRESH_TOKEN_INVALID"
    assert (await identity.portal.query(VIEWER, token=signed_in["accessToken"]))["data"] is not None
    assert "refreshToken" in (await _refresh(identity, signed_in["refreshToken"]))["data"]["refreshSession"]


async def test_refresh_rechecks_the_certificate_and_ends_the_family(identity: IdentityPortal) -> None:
    card = await identity.card_for(identity.portal.father)
    signed_in = (await identity.card_login(card))["data"]["completeCardLogin"]
    # Revoked outside revoke_card (an operator's SQL): only the certificate row says so.
    async with create_session_factory(identity.engine)() as session, session.begin():
        await session.execute(update(IssuedCertificate).where(
            IssuedCertificate.id == await _certificate_of(identity, signed_in["accessToken"]))
            .values(revoked_at=identity.now, revocation_reason="keyCompromise"))
    assert code_of(await _refresh(identity, signed_in["refreshToken"])) == "CERTIFICATE_REVOKED"
    assert code_of(await identity.portal.query(VIEWER, token=signed_in["accessToken"])) == "UNAUTHENTICATED"
    async with create_session_factory(identity.engine)() as session:
        assert list(await session.scalars(select(RefreshToken.revoked_at).where(
            RefreshToken.token_hash == hash_token(signed_in["refreshToken"])))) == [identity.now]


async def test_a_proxy_acting_through_a_session_from_a_lost_card_is_refused(identity: IdentityPortal) -> None:
    card = await identity.card_for(identity.portal.father)
    signed_in = (await identity.card_login(card))["data"]["completeCardLogin"]
    child = {"personId": str(relay.GlobalID("Person", str(identity.portal.child)))}
    acting = await identity.portal.query(operation("ActingFor"), child, token=signed_in["accessToken"])
    assert acting["data"]["actingFor"]["name"] == "山田 一郎"
    await identity.gql("ReportCardLost", token=identity.portal.father_token)
    refused = await identity.portal.query(operation("ActingFor"), child, token=signed_in["accessToken"])
    assert code_of(refused) == "UNAUTHENTICATED"


async def test_a_card_revoked_while_its_login_is_checked_gets_no_session(
        identity: IdentityPortal, monkeypatch: pytest.MonkeyPatch) -> None:
    card = await identity.card_for(identity.portal.father)

    async def revoke() -> None:
        async with create_session_factory(identity.engine)() as session, session.begin():
            await revoke_card(session, identity.portal.father, now=identity.now)

    checked = identity.service.check_certificate

    async def checked_then_revoked(*args: object) -> object:
        path = await checked(*args)  # type: ignore[arg-type]
        await revoke()  # another request reports the card lost after this login's checks passed
        return path

    monkeypatch.setattr(identity.service, "check_certificate", checked_then_revoked)
    assert code_of(await identity.card_login(card)) == "CERTIFICATE_REVOKED"
    async with create_session_factory(identity.engine)() as session:
        assert await session.scalar(select(func.count()).select_from(SessionToken)
                                    .where(SessionToken.certificate_id.is_not(None))) == 0


async def test_refreshes_racing_the_report_leave_no_live_session(identity: IdentityPortal) -> None:
    card = await identity.card_for(identity.portal.father)
    pairs = [(await identity.card_login(card))["data"]["completeCardLogin"] for _ in range(4)]
    *refreshed, lost = await asyncio.gather(
        *(_refresh(identity, pair["refreshToken"]) for pair in pairs),
        identity.gql("ReportCardLost", token=identity.portal.father_token))
    assert lost == {"data": {"reportCardLost": {"revokedCertificates": 2}}}
    new_tokens = []
    for result in refreshed:
        if "errors" in result:
            assert code_of(result) in {"REFRESH_TOKEN_INVALID", "CERTIFICATE_REVOKED"}
        else:
            new_tokens.append(result["data"]["refreshSession"]["accessToken"])
    for token in new_tokens + [pair["accessToken"] for pair in pairs]:
        assert code_of(await identity.portal.query(VIEWER, token=token)) == "UNAUTHENTICATED"
    async with create_session_factory(identity.engine)() as session:
        for model in (SessionToken, RefreshToken):
            assert await session.scalar(select(func.count()).select_from(model).where(
                model.certificate_id.is_not(None), model.revoked_at.is_(None))) == 0


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
