"""Signing transactions (the sign scope, api.oidc.signing): the relying party opens one with its private_key_jwt,
the person signs the digest with the virtual card's signature key through GraphQL, the relying party takes the
signature and certificate and checks them with cryptography on its own; and the refused paths."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import secrets
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from authlib.oauth2.rfc7523 import private_key_jwt_sign
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from api.exchange.models import ExchangeRecord
from api.identity.cards import revoke_card
from api.identity.sandbox_ca import SandboxCA
from api.oidc.clients import pairwise_subject
from api.oidc.models import OidcClient, OidcLoginRequest, OidcSignTransaction
from api.people.individual_number import IndividualNumberCipher
from api.platform.db import create_session_factory
from nfc_bridge.jpki import Key
from tests.api.conftest import running_portal
from tests.api.identity.conftest import (  # noqa: F401
    IdentityPortal,
    OcspOutage,
    ca_dir,
    card_sign,
    identity_service,
    sandbox_ca,
)
from tests.api.oidc.conftest import REDIRECT, RelyingParty, Started, add_client, approve, finish, start
from tests.api.oidc.conftest import code_of as redirect_parameters
from tests.conftest import make_settings

ISSUER = PUBLIC_URL = "http://127.0.0.1:8000"  # Authlib wants https, or loopback (tests.api.oidc.conftest's)


@pytest.fixture
async def identity(engine: AsyncEngine, cipher: IndividualNumberCipher, database_url: str, ca_dir: Path,  # noqa: F811
                   sandbox_ca: SandboxCA) -> AsyncIterator[IdentityPortal]:  # noqa: F811
    """tests/api/identity's portal with the sandbox CA, at the OpenID Provider's loopback issuer."""
    settings = make_settings(database_url, sandbox_ca_dir=ca_dir, public_url=ISSUER,
                             revocation_max_age=dt.timedelta(0))
    async with running_portal(engine, cipher, settings) as portal:
        transport = OcspOutage(httpx.ASGITransport(app=portal.app))
        service = identity_service(settings, portal.app.state.session_factory, sandbox_ca, transport)
        holder = IdentityPortal(portal, service, transport, engine, cipher, sandbox_ca,
                                dt.datetime.now(dt.UTC).replace(microsecond=0))
        service.clock = lambda: holder.now
        portal.app.state.identity.service = service
        yield holder

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
DOCUMENT = "契約書: e-Tax (sandbox) 電子申告の委任 2026-12-05".encode()
SCOPES = ("openid", "name", "sign")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


async def client_post(identity: IdentityPortal, rp: RelyingParty, path: str, body: dict[str, str]) -> httpx.Response:
    assertion = private_key_jwt_sign(rp.key, rp.client_id, f"{PUBLIC_URL}{path}", alg="ES256")
    return await identity.portal.client.post(path, data={
        **body, "client_assertion_type": ASSERTION_TYPE, "client_assertion": assertion})


async def open_transaction(identity: IdentityPortal, rp: RelyingParty, digest: bytes = b"") -> dict[str, Any]:
    response = await client_post(identity, rp, "/oidc/sign", {
        "digest": b64url(digest or hashlib.sha256(DOCUMENT).digest()), "title": "電子申告の委任契約"})
    assert response.status_code == 201, response.text
    return response.json()


async def sign(identity: IdentityPortal, short_code: str, material: dict[str, Any],
               token: str | None = None) -> dict[str, Any]:
    return await identity.gql("OidcSign", {"input": {"shortCode": short_code, **material}},
                              token=token or identity.portal.father_token)


async def card_material(identity: IdentityPortal, person: Any, document: bytes = DOCUMENT) -> dict[str, Any]:
    card = await identity.card_for(person)
    return {"certificate": b64(card.der("sign_cert")), "chain": [b64(card.der("sign_ca_cert"))],
            "signature": b64(card_sign(card, Key.SIGN, document))}


def code_of(answer: dict[str, Any]) -> str:
    assert answer.get("errors"), answer
    return answer["errors"][0]["extensions"]["code"]


async def count(identity: IdentityPortal, what: Any, *where: Any) -> int:
    async with create_session_factory(identity.engine)() as session:
        return await session.scalar(select(func.count()).select_from(what).where(*where))


async def test_sign_transaction_end_to_end(identity: IdentityPortal) -> None:
    rp = await add_client(identity.portal, "etaxsign", "e-Tax (sandbox)", scopes=SCOPES)
    opened = await open_transaction(identity, rp)
    assert sorted(opened) == ["expires_in", "short_code", "transaction_id"]
    assert opened["expires_in"] == 300
    pending = await client_post(identity, rp, "/oidc/sign/result", {"transaction_id": opened["transaction_id"]})
    assert pending.json() == {"transaction_id": opened["transaction_id"], "status": "pending"}

    shown = await identity.gql("OidcSignRequest", {"shortCode": opened["short_code"]},
                               token=identity.portal.father_token)
    assert "errors" not in shown, shown
    request = shown["data"]["oidcSignRequest"]
    assert (request["clientName"], request["title"], request["status"]) == ("e-Tax (sandbox)", "電子申告の委任契約",
                                                                            "pending")
    assert request["digest"] == b64url(hashlib.sha256(DOCUMENT).digest())

    material = await card_material(identity, identity.portal.father)
    signed = await sign(identity, opened["short_code"], material)
    assert "errors" not in signed, signed
    assert signed["data"]["oidcSign"]["status"] == "signed"

    result = (await client_post(identity, rp, "/oidc/sign/result",
                                {"transaction_id": opened["transaction_id"]})).json()
    assert result["status"] == "signed"
    assert result["certificate"] == material["certificate"]
    assert result["certificate_chain"] == material["chain"]
    # The relying party checks the signature over its own document with the certificate, independently.
    certificate = x509.load_der_x509_certificate(base64.b64decode(result["certificate"]))
    signature = base64.urlsafe_b64decode(result["signature"] + "=" * (-len(result["signature"]) % 4))
    certificate.public_key().verify(signature, DOCUMENT, padding.PKCS1v15(), hashes.SHA256())
    async with create_session_factory(identity.engine)() as session:
        client = await session.scalar(select(OidcClient).where(OidcClient.client_id == rp.client_id))
        record = await session.scalar(select(ExchangeRecord).where(ExchangeRecord.duty == "oidc:sign"))
    assert result["sub"] == pairwise_subject(client.pairwise_salt, identity.portal.father)
    # On the person's record: the client received a signature and its certificate.
    assert (record.person_id, record.requester_agency_id, record.item_names) == (
        identity.portal.father, client.agency_id, ["signature", "signature_certificate"])
    assert record.log_leaf_id is not None


async def test_a_transaction_is_signed_once(identity: IdentityPortal) -> None:
    rp = await add_client(identity.portal, "etaxsign", "e-Tax (sandbox)", scopes=SCOPES)
    opened = await open_transaction(identity, rp)
    material = await card_material(identity, identity.portal.father)
    assert "errors" not in await sign(identity, opened["short_code"], material)
    assert code_of(await sign(identity, opened["short_code"], material)) == "OIDC_SIGN_USED"
    assert await count(identity, ExchangeRecord, ExchangeRecord.duty == "oidc:sign") == 1


async def test_another_persons_card_is_refused(identity: IdentityPortal) -> None:
    rp = await add_client(identity.portal, "etaxsign", "e-Tax (sandbox)", scopes=SCOPES)
    opened = await open_transaction(identity, rp)
    mothers = await card_material(identity, identity.portal.mother)
    assert code_of(await sign(identity, opened["short_code"], mothers)) == "OIDC_SIGNER_NOT_PERSON"
    result = await client_post(identity, rp, "/oidc/sign/result", {"transaction_id": opened["transaction_id"]})
    assert result.json()["status"] == "pending"
    assert await count(identity, ExchangeRecord, ExchangeRecord.duty == "oidc:sign") == 0


async def test_revoked_certificate_is_refused(identity: IdentityPortal) -> None:
    rp = await add_client(identity.portal, "etaxsign", "e-Tax (sandbox)", scopes=SCOPES)
    opened = await open_transaction(identity, rp)
    material = await card_material(identity, identity.portal.father)
    async with create_session_factory(identity.engine)() as session, session.begin():
        assert await revoke_card(session, identity.portal.father, now=identity.now) == 2
    assert code_of(await sign(identity, opened["short_code"], material)) == "CERTIFICATE_REVOKED"
    assert await count(identity, OidcSignTransaction, OidcSignTransaction.signature.is_not(None)) == 0


async def test_signature_over_another_document_or_with_the_auth_key(identity: IdentityPortal) -> None:
    rp = await add_client(identity.portal, "etaxsign", "e-Tax (sandbox)", scopes=SCOPES)
    opened = await open_transaction(identity, rp)
    other = await card_material(identity, identity.portal.father, document=b"another document")
    assert code_of(await sign(identity, opened["short_code"], other)) == "SIGNATURE_INVALID"
    card = await identity.card_for(identity.portal.father)
    auth = {"certificate": b64(card.der("auth_cert")), "chain": [b64(card.der("auth_ca_cert"))],
            "signature": b64(card_sign(card, Key.AUTH, DOCUMENT))}
    assert code_of(await sign(identity, opened["short_code"], auth)) == "CERTIFICATE_USAGE_INVALID"


async def test_digest_of_the_wrong_length_is_refused(identity: IdentityPortal) -> None:
    rp = await add_client(identity.portal, "etaxsign", "e-Tax (sandbox)", scopes=SCOPES)
    for digest in (hashlib.sha1(DOCUMENT, usedforsecurity=False).digest(), hashlib.sha512(DOCUMENT).digest()):
        response = await client_post(identity, rp, "/oidc/sign", {"digest": b64url(digest), "title": "契約"})
        assert response.status_code == 400
        assert response.json() == {"error": "invalid_request", "error_description":
                                   f"'digest' is a SHA-256 digest: 32 bytes, not {len(digest)}."}
    no_title = await client_post(identity, rp, "/oidc/sign", {"digest": b64url(hashlib.sha256(b"x").digest())})
    assert no_title.json()["error"] == "invalid_request"
    assert await count(identity, OidcSignTransaction) == 0


async def test_only_clients_with_the_sign_scope_and_only_their_own_results(identity: IdentityPortal) -> None:
    rp = await add_client(identity.portal, "etaxsign", "e-Tax (sandbox)", scopes=SCOPES)
    other = await add_client(identity.portal, "nenkin", "ねんきんネット (sandbox)", scopes=("openid", "name"))
    refused = await client_post(identity, other, "/oidc/sign", {
        "digest": b64url(hashlib.sha256(DOCUMENT).digest()), "title": "契約"})
    assert refused.json() == {"error": "invalid_request",
                              "error_description": "This client is not registered for the sign scope."}
    opened = await open_transaction(identity, rp)
    stolen = await client_post(identity, other, "/oidc/sign/result", {"transaction_id": opened["transaction_id"]})
    assert (stolen.status_code, stolen.json()["error"]) == (400, "invalid_request")
    unauthenticated = await identity.portal.client.post("/oidc/sign", data={
        "digest": b64url(hashlib.sha256(DOCUMENT).digest()), "title": "契約", "client_id": rp.client_id})
    assert unauthenticated.json()["error"] == "invalid_client"
    assert await count(identity, OidcSignTransaction) == 1


async def test_unknown_short_code(identity: IdentityPortal) -> None:
    answer = await identity.gql("OidcSignRequest", {"shortCode": "ZZZZ-ZZZZ"}, token=identity.portal.father_token)
    assert code_of(answer) == "NOT_FOUND"


# -- sign tied to an authorization request (scope sign + sign_transaction_id, デジタル認証アプリ's profile) ----------
async def _authorize(identity: IdentityPortal, rp: RelyingParty, transaction_id: str | None,
                     scope: str = "openid name sign") -> tuple[Any, str, httpx.Response | Started]:
    """The browser's authorization request; the login page (Started) or the refusal redirected to the client."""
    oauth = rp.oauth(identity.portal, scope)
    verifier = secrets.token_urlsafe(48)
    extra = {"sign_transaction_id": transaction_id} if transaction_id else {}
    url, _ = oauth.create_authorization_url(f"{ISSUER}/oidc/authorize", code_verifier=verifier, nonce="n-1", **extra)
    page = await identity.portal.client.get(url.removeprefix(ISSUER))
    await oauth.aclose()
    return oauth, verifier, (await start(identity.portal, url) if page.status_code == 200 else page)


async def test_sign_tied_to_the_login(identity: IdentityPortal) -> None:
    rp = await add_client(identity.portal, "etaxsign", "e-Tax (sandbox)", scopes=SCOPES)
    opened = await open_transaction(identity, rp)
    _, verifier, started = await _authorize(identity, rp, opened["transaction_id"])
    assert isinstance(started, Started)
    shown = await identity.gql("OidcLogin", {"shortCode": started.short_code}, token=identity.portal.father_token)
    request = shown["data"]["oidcLogin"]["signRequest"]
    assert (request["shortCode"], request["title"], request["status"]) == (opened["short_code"], "電子申告の委任契約",
                                                                           "pending")
    # Approving before signing is refused; nothing is decided.
    assert code_of(await approve(identity.portal, started.short_code)) == "OIDC_SIGN_REQUIRED"
    assert "errors" not in await sign(identity, request["shortCode"], await card_material(identity,
                                                                                         identity.portal.father))
    assert "errors" not in await approve(identity.portal, started.short_code)
    code = redirect_parameters(await finish(identity.portal, started))["code"]
    token = await client_post(identity, rp, "/oidc/token", {
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier})
    assert token.status_code == 200, token.text
    result = token.json()["sign_result"]
    assert (result["transaction_id"], result["status"]) == (opened["transaction_id"], "signed")
    certificate = x509.load_der_x509_certificate(base64.b64decode(result["certificate"]))
    signature = base64.urlsafe_b64decode(result["signature"] + "=" * (-len(result["signature"]) % 4))
    certificate.public_key().verify(signature, DOCUMENT, padding.PKCS1v15(), hashes.SHA256())
    assert result["sub"] == jwt.decode(token.json()["id_token"], KeySet.import_key_set(
        (await identity.portal.client.get("/oidc/jwks")).json())).claims["sub"]


async def test_sign_scope_refusals_at_the_authorization_endpoint(identity: IdentityPortal) -> None:
    rp = await add_client(identity.portal, "etaxsign", "e-Tax (sandbox)", scopes=SCOPES)
    other = await add_client(identity.portal, "nenkin", "ねんきんネット (sandbox)", scopes=SCOPES)
    unsigned = (await open_transaction(identity, rp))["transaction_id"]
    others = (await open_transaction(identity, other))["transaction_id"]
    signed = await open_transaction(identity, rp)
    assert "errors" not in await sign(identity, signed["short_code"], await card_material(identity,
                                                                                          identity.portal.father))
    cases = [
        (None, "openid name sign", "The sign scope needs 'sign_transaction_id' (open one at the signing endpoint)."),
        (unsigned, "openid name", "'sign_transaction_id' goes with the sign scope."),
        (others, "openid name sign", "No such transaction for this client."),
        ("not-a-uuid", "openid name sign", "No such transaction for this client."),
        (signed["transaction_id"], "openid name sign", "The signing transaction was signed already or has expired."),
    ]
    for transaction_id, scope, description in cases:
        _, _, refused = await _authorize(identity, rp, transaction_id, scope)
        assert isinstance(refused, httpx.Response)
        assert redirect_parameters(refused)["error"] == "invalid_request"
        assert redirect_parameters(refused)["error_description"] == description
    assert await count(identity, OidcLoginRequest) == 0


async def test_a_client_without_the_sign_scope_cannot_ask_for_it(identity: IdentityPortal) -> None:
    rp = await add_client(identity.portal, "nenkin", "ねんきんネット (sandbox)", scopes=("openid", "name"))
    _, _, refused = await _authorize(identity, rp, str(uuid.uuid4()))
    assert redirect_parameters(refused)["error_description"] == "This client is not registered for the sign scope."
