"""Card login through GraphQL with the card emulator, the sandbox CA and the portal's own OCSP/CRL."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib

from sqlalchemy import func, select

from api.identity.models import SessionToken
from api.platform.db import create_session_factory
from nfc_bridge.card_info import Basic4Info
from nfc_bridge.jpki import Key
from nfc_bridge.virtual_card.ca import CardCA
from tests.api.identity.conftest import CLIENT, IdentityPortal, card_sign

VIEWER = "query { viewer { name } }"


def code_of(result: dict) -> str:
    [error] = result["errors"]
    return error["extensions"]["code"]


async def test_card_login_issues_a_working_session_and_rotating_refresh_tokens(identity: IdentityPortal) -> None:
    card = await identity.card_for(identity.portal.father)
    result = await identity.card_login(card)
    signed_in = result["data"]["completeCardLogin"]
    assert signed_in["tokenType"] == "Bearer"
    assert signed_in["expiresIn"] == 900
    assert signed_in["scopes"] == ["applications:write", "certificates:request", "family:read", "notices:read",
                                   "notices:write", "payments:read", "payments:write", "profile:read", "records:read"]
    assert (await identity.portal.query(VIEWER, token=signed_in["accessToken"])) == \
        {"data": {"viewer": {"name": "山田 太郎"}}}

    rotated = (await identity.gql("RefreshSession", {"refreshToken": signed_in["refreshToken"]}))
    fresh = rotated["data"]["refreshSession"]
    assert fresh["refreshToken"] != signed_in["refreshToken"]
    assert (await identity.portal.query(VIEWER, token=fresh["accessToken"]))["data"]["viewer"]["name"] == "山田 太郎"

    # Reusing the spent refresh token ends the whole family: both access tokens and the new refresh token.
    reused = await identity.gql("RefreshSession", {"refreshToken": signed_in["refreshToken"]})
    assert code_of(reused) == "REFRESH_TOKEN_REUSED"
    for token in (signed_in["accessToken"], fresh["accessToken"]):
        assert code_of(await identity.portal.query(VIEWER, token=token)) == "UNAUTHENTICATED"
    assert code_of(await identity.gql("RefreshSession", {"refreshToken": fresh["refreshToken"]})) == \
        "REFRESH_TOKEN_INVALID"


async def test_a_replayed_challenge_is_refused(identity: IdentityPortal) -> None:
    card = await identity.card_for(identity.portal.father)
    challenge = await identity.challenge()
    signature = card_sign(card, Key.AUTH, base64.b64decode(challenge["toBeSigned"]))
    first = await identity.complete(challenge, card.der("auth_cert"), [card.der("auth_ca_cert")], signature)
    assert "accessToken" in first["data"]["completeCardLogin"]
    replay = await identity.complete(challenge, card.der("auth_cert"), [card.der("auth_ca_cert")], signature)
    assert code_of(replay) == "CHALLENGE_USED"


async def test_concurrent_completions_of_one_challenge_sign_in_once(identity: IdentityPortal) -> None:
    card = await identity.card_for(identity.portal.father)
    challenge = await identity.challenge()
    signature = card_sign(card, Key.AUTH, base64.b64decode(challenge["toBeSigned"]))
    results = await asyncio.gather(*(identity.complete(challenge, card.der("auth_cert"), [card.der("auth_ca_cert")],
                                                       signature) for _ in range(3)))
    assert sorted("errors" in r for r in results) == [False, True, True]
    assert sorted(code_of(r) for r in results if "errors" in r) == ["CHALLENGE_USED", "CHALLENGE_USED"]
    async with create_session_factory(identity.engine)() as session:
        # One token from the fixture, one from the single successful login.
        assert await session.scalar(select(func.count()).select_from(SessionToken)) == 2


async def test_an_expired_challenge_is_refused(identity: IdentityPortal) -> None:
    card = await identity.card_for(identity.portal.father)
    challenge = await identity.challenge()
    signature = card_sign(card, Key.AUTH, base64.b64decode(challenge["toBeSigned"]))
    identity.advance(121)
    result = await identity.complete(challenge, card.der("auth_cert"), [card.der("auth_ca_cert")], signature)
    assert code_of(result) == "CHALLENGE_EXPIRED"


async def test_another_clients_challenge_is_refused(identity: IdentityPortal) -> None:
    card = await identity.card_for(identity.portal.father)
    result = await identity.card_login(card, client=CLIENT, challenge_client="jp.example.other-app")
    assert code_of(result) == "CHALLENGE_CLIENT_MISMATCH"


async def test_a_certificate_from_an_untrusted_ca_is_refused(identity: IdentityPortal) -> None:
    foreign = CardCA.generate().issue_card(
        Basic4Info("山田 太郎", "東京都", dt.date(1985, 4, 1), "1"), "621498320257", auth_pin="1234",
        sign_password="ABC123", card_info_pin="5678")
    assert code_of(await identity.card_login(foreign)) == "CERTIFICATE_UNTRUSTED"


async def test_a_card_this_server_revoked_is_refused_before_any_responder(identity: IdentityPortal) -> None:
    card = await identity.card_for(identity.portal.father)
    lost = await identity.gql("ReportCardLost", token=identity.portal.father_token)
    assert lost == {"data": {"reportCardLost": {"revokedCertificates": 2}}}
    identity.transport.down = True  # nor does it need the responder to be up
    assert code_of(await identity.card_login(card)) == "CERTIFICATE_REVOKED"
    assert identity.transport.paths == []


async def test_a_good_cached_ocsp_answer_does_not_let_a_card_revoked_here_in(identity: IdentityPortal) -> None:
    identity.service.revocation.max_age = dt.timedelta(minutes=5)
    card = await identity.card_for(identity.portal.father)
    assert "accessToken" in (await identity.card_login(card))["data"]["completeCardLogin"]
    assert identity.service.revocation.fetches == 1  # "good", cached for 5 minutes
    await identity.gql("ReportCardLost", token=identity.portal.father_token)
    assert code_of(await identity.card_login(card)) == "CERTIFICATE_REVOKED"
    assert identity.service.revocation.fetches == 1


async def test_a_good_card_logs_in_through_the_crl_when_ocsp_is_down(identity: IdentityPortal) -> None:
    card = await identity.card_for(identity.portal.father)
    identity.transport.down = True
    assert "accessToken" in (await identity.card_login(card))["data"]["completeCardLogin"]


async def test_an_expired_certificate_is_refused(identity: IdentityPortal) -> None:
    past = identity.now - dt.timedelta(days=400)
    card = await identity.card_for(identity.portal.father, not_before=past,
                                   not_after=identity.now - dt.timedelta(days=1))
    assert code_of(await identity.card_login(card)) == "CERTIFICATE_EXPIRED"


async def test_a_signature_by_another_key_is_refused(identity: IdentityPortal) -> None:
    card = await identity.card_for(identity.portal.father)
    other = await identity.card_for(identity.portal.mother)
    challenge = await identity.challenge()
    signature = card_sign(other, Key.AUTH, base64.b64decode(challenge["toBeSigned"]))
    result = await identity.complete(challenge, card.der("auth_cert"), [card.der("auth_ca_cert")], signature)
    assert code_of(result) == "SIGNATURE_INVALID"


async def test_the_signature_certificate_cannot_log_in(identity: IdentityPortal) -> None:
    card = await identity.card_for(identity.portal.father)
    challenge = await identity.challenge()
    signature = card_sign(card, Key.SIGN, base64.b64decode(challenge["toBeSigned"]))
    result = await identity.complete(challenge, card.der("sign_cert"), [card.der("sign_ca_cert")], signature)
    assert code_of(result) == "CERTIFICATE_USAGE_INVALID"


async def test_login_attempts_are_rate_limited_per_certificate(identity: IdentityPortal) -> None:
    card = await identity.card_for(identity.portal.father)
    for _ in range(5):  # the fixture allows 5 per certificate per window
        challenge = await identity.challenge()
        result = await identity.complete(challenge, card.der("auth_cert"), [card.der("auth_ca_cert")], b"\x00" * 256)
        assert code_of(result) == "SIGNATURE_INVALID"
    limited = await identity.card_login(card)
    [error] = limited["errors"]
    assert error["extensions"]["code"] == "RATE_LIMITED"
    assert 1 <= error["extensions"]["retryAfter"] <= 300
    # Six attempts counted against the certificate (the limit is 5) and against the client (of 300).
    service = identity.service
    assert await service.limiter.remaining(service.certificate_limit, "login-certificate",
                                           hashlib.sha256(card.der("auth_cert")).hexdigest()) == 0
    assert await service.limiter.remaining(service.client_limit, "login-client", CLIENT) == 300 - 6


async def test_garbage_input_gets_clear_codes(identity: IdentityPortal) -> None:
    challenge = await identity.challenge()
    bad_base64 = await identity.gql("CompleteCardLogin", {"input": {
        "challengeId": challenge["challengeId"], "clientId": CLIENT, "certificate": "%%%", "signature": "AA=="}})
    assert code_of(bad_base64) == "BAD_USER_INPUT"
    not_a_cert = await identity.complete(challenge, b"not a certificate", [], b"x")
    assert code_of(not_a_cert) == "CERTIFICATE_INVALID"
    unknown = await identity.gql("CompleteCardLogin", {"input": {
        "challengeId": "not-a-uuid", "clientId": CLIENT, "certificate": "AA==", "signature": "AA=="}})
    assert code_of(unknown) == "CHALLENGE_UNKNOWN"
