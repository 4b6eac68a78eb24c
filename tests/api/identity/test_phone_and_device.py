"""The smartphone credential (issuance, login, one phone at a time, revocation cascade) and TV sign-in
(RFC 8628: approved, denied, expired, slow_down)."""

from __future__ import annotations

import base64
import datetime as dt
import uuid

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from api.identity.tokens import issue_token
from api.platform.db import create_session_factory
from nfc_bridge.virtual_card.store import CardData
from tests.api.identity.conftest import IdentityPortal, b64, phone_credential_input, phone_csr, phone_keys
from tests.api.identity.test_login import VIEWER, code_of

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


async def _phone_login(identity: IdentityPortal, key: ec.EllipticCurvePrivateKey, issued: dict) -> dict:
    challenge = await identity.challenge()
    signature = key.sign(base64.b64decode(challenge["toBeSigned"]), ec.ECDSA(hashes.SHA256()))
    return await identity.complete(challenge, base64.b64decode(issued["authenticationCertificate"]),
                                   [base64.b64decode(c) for c in issued["chain"]], signature)


async def _issue(identity: IdentityPortal, card: CardData, keys: tuple[ec.EllipticCurvePrivateKey, ...]) -> dict:
    token = identity.portal.father_token
    given = await phone_credential_input(identity, card, phone_csr(keys[0]), phone_csr(keys[1]), token)
    return await identity.gql("IssuePhoneCredential", {"input": given}, token=token)


def _public(cert_b64: str) -> bytes:
    cert = x509.load_der_x509_certificate(base64.b64decode(cert_b64))
    return cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


async def test_phone_credential_logs_in_and_one_phone_at_a_time(identity: IdentityPortal) -> None:
    card = await identity.card_for(identity.portal.father)
    token = identity.portal.father_token
    first_keys = phone_keys()
    first = (await _issue(identity, card, first_keys))["data"]["issuePhoneCredential"]
    assert len(first["chain"]) == 2
    # Two certificates, two keys: each certificate carries the key of its own CSR.
    assert _public(first["authenticationCertificate"]) == phone_csr_key(first_keys[0])
    assert _public(first["signatureCertificate"]) == phone_csr_key(first_keys[1])
    signed_in = (await _phone_login(identity, first_keys[0], first))["data"]["completeCardLogin"]
    assert (await identity.portal.query(VIEWER, token=signed_in["accessToken"]))["data"]["viewer"]["name"] == \
        "山田 太郎"
    # The signature key cannot log in (its certificate is for signing).
    assert code_of(await _phone_login(identity, first_keys[1], {**first, "authenticationCertificate":
                                                               first["signatureCertificate"]})) == \
        "CERTIFICATE_USAGE_INVALID"

    second_keys = phone_keys()
    second = (await _issue(identity, card, second_keys))["data"]["issuePhoneCredential"]
    assert code_of(await _phone_login(identity, first_keys[0], first)) == "CERTIFICATE_REVOKED"
    assert "accessToken" in (await _phone_login(identity, second_keys[0], second))["data"]["completeCardLogin"]

    # Revoking the card revokes its phone credential too.
    lost = await identity.gql("ReportCardLost", token=token)
    assert lost == {"data": {"reportCardLost": {"revokedCertificates": 4}}}
    assert code_of(await _phone_login(identity, second_keys[0], second)) == "CERTIFICATE_REVOKED"


def phone_csr_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


async def test_a_replayed_phone_credential_request_is_refused_and_the_phone_kept(identity: IdentityPortal) -> None:
    card = await identity.card_for(identity.portal.father)
    token = identity.portal.father_token
    keys = phone_keys()
    given = await phone_credential_input(identity, card, phone_csr(keys[0]), phone_csr(keys[1]), token)
    issued = (await identity.gql("IssuePhoneCredential", {"input": given}, token=token))["data"]["issuePhoneCredential"]
    # The very same request again (a captured one replayed): refused, and the current phone still signs in.
    assert code_of(await identity.gql("IssuePhoneCredential", {"input": given}, token=token)) == "CHALLENGE_USED"
    assert "accessToken" in (await _phone_login(identity, keys[0], issued))["data"]["completeCardLogin"]
    # The card's signature over one challenge does not carry over to another.
    fresh = await phone_credential_input(identity, card, phone_csr(keys[0]), phone_csr(keys[1]), token)
    moved = {**fresh, "signature": given["signature"]}
    assert code_of(await identity.gql("IssuePhoneCredential", {"input": moved}, token=token)) == "SIGNATURE_INVALID"
    # Another person's challenge is not this person's.
    mothers = (await identity.gql("StartPhoneCredential", token=await _token_of(identity, identity.portal.mother)))
    stolen = {**fresh, "challengeId": mothers["data"]["startPhoneCredential"]["challengeId"]}
    assert code_of(await identity.gql("IssuePhoneCredential", {"input": stolen}, token=token)) == \
        "CHALLENGE_CLIENT_MISMATCH"
    assert code_of(await identity.gql("IssuePhoneCredential", {"input": fresh}, token=token)) == "CHALLENGE_USED"
    late = await phone_credential_input(identity, card, phone_csr(keys[0]), phone_csr(keys[1]), token)
    identity.advance(121)
    assert code_of(await identity.gql("IssuePhoneCredential", {"input": late}, token=token)) == "CHALLENGE_EXPIRED"
    assert "accessToken" in (await _phone_login(identity, keys[0], issued))["data"]["completeCardLogin"]


async def _token_of(identity: IdentityPortal, person: uuid.UUID) -> str:
    async with create_session_factory(identity.engine)() as session, session.begin():
        return await issue_token(session, person, ttl=dt.timedelta(hours=1), now=identity.now)


async def test_phone_credential_needs_this_persons_card_two_keys_and_valid_csrs(identity: IdentityPortal) -> None:
    token = identity.portal.father_token
    mothers_card = await identity.card_for(identity.portal.mother)
    assert code_of(await _issue(identity, mothers_card, phone_keys())) == "CARD_NOT_FOUND"
    card = await identity.card_for(identity.portal.father)
    key = ec.generate_private_key(ec.SECP256R1())
    assert code_of(await _issue(identity, card, (key, key))) == "CSR_KEY_SHARED"
    other = ec.generate_private_key(ec.SECP256R1())
    broken = {**await phone_credential_input(identity, card, phone_csr(key), phone_csr(other), token),
              "signatureCsr": b64(b"not a csr")}
    assert code_of(await identity.gql("IssuePhoneCredential", {"input": broken}, token=token)) == "CSR_INVALID"
    given = await phone_credential_input(identity, card, phone_csr(key), phone_csr(other), token)
    swapped = {**given, "authenticationCsr": given["signatureCsr"], "signatureCsr": given["authenticationCsr"]}
    assert code_of(await identity.gql("IssuePhoneCredential", {"input": swapped}, token=token)) == \
        "SIGNATURE_INVALID"
    assert code_of(await identity.gql("IssuePhoneCredential", {"input": {**given, "challengeId": "x"}},
                                      token=token)) == "CHALLENGE_UNKNOWN"


async def _device_start(identity: IdentityPortal) -> dict:
    response = await identity.portal.client.post("/oauth/device_authorization", data={"client_id": "tv-app"})
    assert response.status_code == 200
    return response.json()


async def _poll(identity: IdentityPortal, started: dict, client_id: str = "tv-app") -> tuple[int, dict]:
    response = await identity.portal.client.post("/oauth/token", data={
        "grant_type": DEVICE_GRANT, "device_code": started["device_code"], "client_id": client_id})
    return response.status_code, response.json()


async def test_tv_sign_in_approved_gets_a_notices_only_session(identity: IdentityPortal) -> None:
    started = await _device_start(identity)
    assert started["verification_uri"] == "http://portal.test/device"
    assert started["verification_uri_complete"] == f"http://portal.test/device?user_code={started['user_code']}"
    assert (started["expires_in"], started["interval"], started["scope"]) == (600, 5, "notices:read profile:name")
    assert started["qr_code"].startswith("data:image/svg+xml")
    assert await _poll(identity, started) == (400, {"error": "authorization_pending",
                                                     "error_description": "Waiting for approval on the phone."})
    identity.advance(5)
    approved = await identity.gql("ApproveDeviceSignIn", {"userCode": started["user_code"].lower()},
                                  token=identity.portal.father_token)
    assert approved == {"data": {"approveDeviceSignIn": {"userCode": started["user_code"], "approved": True}}}
    status, tokens = await _poll(identity, started)
    assert (status, tokens["scope"], tokens["token_type"]) == (200, "notices:read profile:name", "Bearer")
    # A TV shows who is signed in (its own persisted TvViewer) and nothing else of the profile.
    tv_viewer = await identity.gql("TvViewer", token=tokens["access_token"])
    assert tv_viewer["data"]["viewer"]["name"] == "山田 太郎" and "errors" not in tv_viewer
    for field in ("nameKana", "birthDate", "sex", "address", "email", "phone", "maskedIndividualNumber",
                  "municipality { name }"):
        refused = await identity.portal.query(f"{{ viewer {{ name {field} }} }}", token=tokens["access_token"])
        assert code_of(refused) == "FORBIDDEN", field
        assert refused["data"] in (None, {"viewer": {"name": "山田 太郎", field: None}}), field
    # Nor approve another TV.
    assert code_of(await identity.gql("ApproveDeviceSignIn", {"userCode": started["user_code"]},
                                      token=tokens["access_token"])) == "FORBIDDEN"
    identity.advance(5)
    assert (await _poll(identity, started))[1]["error"] == "invalid_grant"  # tokens are handed out once


async def test_tv_sign_in_denied_expired_and_too_fast(identity: IdentityPortal) -> None:
    denied = await _device_start(identity)
    await identity.gql("DenyDeviceSignIn", {"userCode": denied["user_code"]}, token=identity.portal.father_token)
    assert (await _poll(identity, denied))[1]["error"] == "access_denied"
    again = await identity.gql("ApproveDeviceSignIn", {"userCode": denied["user_code"]},
                               token=identity.portal.father_token)
    assert code_of(again) == "DEVICE_CODE_DECIDED"

    fast = await _device_start(identity)
    assert (await _poll(identity, fast))[1]["error"] == "authorization_pending"
    assert (await _poll(identity, fast))[1]["error"] == "slow_down"
    identity.advance(5)
    assert (await _poll(identity, fast))[1]["error"] == "slow_down"  # the interval grew to 10 s, now 15 s
    identity.advance(15)
    assert (await _poll(identity, fast))[1]["error"] == "authorization_pending"

    identity.advance(601)
    assert (await _poll(identity, fast))[1]["error"] == "expired_token"
    late = await identity.gql("ApproveDeviceSignIn", {"userCode": fast["user_code"]},
                              token=identity.portal.father_token)
    assert code_of(late) == "DEVICE_CODE_EXPIRED"
    assert code_of(await identity.gql("ApproveDeviceSignIn", {"userCode": "BCDF-GHJK"},
                                      token=identity.portal.father_token)) == "DEVICE_CODE_UNKNOWN"


async def test_a_tv_cannot_ask_for_payment_scopes(identity: IdentityPortal) -> None:
    response = await identity.portal.client.post("/oauth/device_authorization",
                                                 data={"client_id": "tv-app", "scope": "payments:write"})
    assert (response.status_code, response.json()["error"]) == (400, "invalid_scope")


async def test_a_tv_may_show_payments_due_and_only_the_web_portal_gets_a_full_session(
        identity: IdentityPortal) -> None:
    client = identity.portal.client
    tv = await client.post("/oauth/device_authorization",
                           data={"client_id": "tv-app", "scope": "notices:read payments:read"})
    assert tv.status_code == 200 and tv.json()["scope"] == "notices:read payments:read"
    for client_id in ("tv-app", "mynaportal-web-impostor"):
        refused = await client.post("/oauth/device_authorization",
                                    data={"client_id": client_id, "scope": "payments:write"})
        assert (refused.status_code, refused.json()["error"]) == (400, "invalid_scope")
    web = await client.post("/oauth/device_authorization",
                            data={"client_id": "mynaportal-web", "scope": "payments:write records:read"})
    assert web.status_code == 200 and web.json()["scope"] == "payments:write records:read"


async def test_a_browser_sign_in_is_shown_with_where_it_came_from_and_needs_an_explicit_confirmation(
        identity: IdentityPortal) -> None:
    """RFC 8628 §5.4 (remote phishing): a code that would give a full session lives 2 minutes, the app sees where it
    was asked from, and approving it needs the person to confirm the screen is theirs."""
    father = identity.portal.father_token
    started = (await identity.portal.client.post(
        "/oauth/device_authorization", data={"client_id": "mynaportal-web", "scope": "payments:write records:read"},
        headers={"user-agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/156"})).json()
    assert started["expires_in"] == 120
    shown = await identity.gql("DeviceSignIn", {"userCode": started["user_code"]}, token=father)
    asked_at = identity.now
    assert shown == {"data": {"deviceSignIn": {
        "userCode": started["user_code"], "kind": "BROWSER", "scopes": ["payments:write", "records:read"],
        "fullAccess": True, "requestedAt": asked_at.isoformat(),
        "expiresAt": (asked_at + dt.timedelta(seconds=120)).isoformat(),
        "requesterAddress": "127.0.0.1", "requesterBrowser": "Mozilla/5.0 (X11; Linux x86_64) Chrome/156"}}}

    unconfirmed = await identity.gql("ApproveDeviceSignIn", {"userCode": started["user_code"]}, token=father)
    assert code_of(unconfirmed) == "DEVICE_CONFIRMATION_REQUIRED"
    identity.advance(5)
    assert (await _poll(identity, started, "mynaportal-web"))[1]["error"] == "authorization_pending"  # undecided
    confirmed = await identity.gql("ApproveDeviceSignIn", {"userCode": started["user_code"],
                                                           "confirmInFrontOfIt": True}, token=father)
    assert confirmed == {"data": {"approveDeviceSignIn": {"userCode": started["user_code"], "approved": True}}}
    identity.advance(5)
    status, tokens = await _poll(identity, started, "mynaportal-web")
    assert (status, tokens["scope"]) == (200, "payments:write records:read")
    assert code_of(await identity.gql("DeviceSignIn", {"userCode": started["user_code"]},
                                      token=father)) == "DEVICE_CODE_DECIDED"


async def test_a_tv_sign_in_is_described_as_a_tv_and_late_or_unknown_codes_are_refused(
        identity: IdentityPortal) -> None:
    father = identity.portal.father_token
    started = await _device_start(identity)
    shown = (await identity.gql("DeviceSignIn", {"userCode": started["user_code"].lower()}, token=father))
    assert {key: shown["data"]["deviceSignIn"][key] for key in ("kind", "scopes", "fullAccess")} == {
        "kind": "TV", "scopes": ["notices:read", "profile:name"], "fullAccess": False}
    assert code_of(await identity.gql("DeviceSignIn", {"userCode": "BCDF-GHJK"}, token=father)) == "DEVICE_CODE_UNKNOWN"
    identity.advance(601)
    assert code_of(await identity.gql("DeviceSignIn", {"userCode": started["user_code"]},
                                      token=father)) == "DEVICE_CODE_EXPIRED"
    assert code_of(await identity.gql("DeviceSignIn", {"userCode": started["user_code"]})) == "UNAUTHENTICATED"
