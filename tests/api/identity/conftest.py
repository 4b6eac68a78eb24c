"""Fixtures for identity tests: one sandbox CA per session, a portal whose revocation checks call the
portal's own OCSP/CRL endpoints in process, and cards issued by that CA driven through the card emulator."""

from __future__ import annotations

import base64
import datetime as dt
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from api.identity import authentication
from api.identity.cards import issue_virtual_card
from api.identity.sandbox_ca import SandboxCA
from api.identity.service import IdentityService, phone_credential_message
from api.people.individual_number import IndividualNumberCipher
from api.platform.db import PointRead, create_session_factory
from api.platform.settings import PROJECT_ROOT, Settings
from nfc_bridge.jpki import Key, MyNumberCard, Pin
from nfc_bridge.virtual_card.card import VirtualCard
from nfc_bridge.virtual_card.issuance import card_from_bundle
from nfc_bridge.virtual_card.personalise import SANDBOX_PINS
from nfc_bridge.virtual_card.store import CardData
from nfc_bridge.virtual_card.transport import VirtualTransport
from tests.api.conftest import Portal, operation, running_portal
from tests.conftest import TEST_DATA_KEY, TEST_LOOKUP_KEY, make_settings

PUBLIC_URL = "http://portal.test"
CLIENT = "jp.go.mynaportal.app"


@pytest.fixture(scope="session")
def ca_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sandbox") / "ca"
    SandboxCA.load_or_create(path, PUBLIC_URL)
    return path


@pytest.fixture(scope="session")
def sandbox_ca(ca_dir: Path) -> SandboxCA:
    return SandboxCA.load(ca_dir, PUBLIC_URL)


class OcspOutage(httpx.AsyncBaseTransport):
    """Wraps the in-process transport; while ``down`` the OCSP responder answers 503 (CRL still works)."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.down = False
        self.paths: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.path)
        if self.down and request.url.path.startswith("/pki/ocsp"):
            return httpx.Response(503)
        return await self.inner.handle_async_request(request)


@dataclass
class IdentityPortal:
    portal: Portal
    service: IdentityService
    transport: OcspOutage
    engine: AsyncEngine
    cipher: IndividualNumberCipher
    ca: SandboxCA
    now: dt.datetime

    async def gql(self, name: str, variables: dict[str, Any] | None = None, token: str | None = None) -> dict:
        return await self.portal.query(operation(name), variables, token=token)

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)

    async def card_for(self, person_id: uuid.UUID, **kwargs: Any) -> CardData:
        """A card issued by the portal and made by the bridge, with the sandbox PINs, as `make run` does."""
        async with create_session_factory(self.engine)() as session, session.begin():
            _, issuance = await issue_virtual_card(session, self.ca, self.cipher, person_id, **kwargs)
        return card_from_bundle(issuance.to_json(), SANDBOX_PINS)

    async def challenge(self, client: str = CLIENT) -> dict:
        result = await self.gql("StartCardLogin", {"clientId": client})
        return result["data"]["startCardLogin"]

    async def complete(self, challenge: dict, certificate: bytes, chain: list[bytes], signature: bytes,
                       client: str = CLIENT) -> dict:
        return await self.gql("CompleteCardLogin", {"input": {
            "challengeId": challenge["challengeId"], "clientId": client, "certificate": b64(certificate),
            "chain": [b64(c) for c in chain], "signature": b64(signature)}})

    async def card_login(self, data: CardData, client: str = CLIENT, challenge_client: str | None = None) -> dict:
        challenge = await self.challenge(challenge_client or client)
        signature = card_sign(data, Key.AUTH, base64.b64decode(challenge["toBeSigned"]))
        return await self.complete(challenge, data.der("auth_cert"), [data.der("auth_ca_cert")], signature, client)


def command_env(database_url: str, ca_dir: Path) -> dict[str, str]:
    """The environment of a `mynaportal` command or server process on the test's database and sandbox CA."""
    return {**os.environ, "MYNAPORTAL_DATABASE_URL": database_url,
            "MYNAPORTAL_DATA_KEY": base64.b64encode(TEST_DATA_KEY).decode(),
            "MYNAPORTAL_LOOKUP_KEY": base64.b64encode(TEST_LOOKUP_KEY).decode(),
            "MYNAPORTAL_SANDBOX_CA_DIR": str(ca_dir), "MYNAPORTAL_PUBLIC_URL": PUBLIC_URL,
            "MYNAPORTAL_OPERATIONS_DIR": str(PROJECT_ROOT / "graphql" / "operations"),
            "PYTHONPATH": str(PROJECT_ROOT)}


def b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


def card_sign(data: CardData, key: Key, message: bytes) -> bytes:
    """Sign through the card emulator: VERIFY the PIN, then `80 2A` over DigestInfo(SHA-256)."""
    card = MyNumberCard(VirtualTransport(VirtualCard(data)))
    card.select_jpki()
    card.verify_pin(key.pin, SANDBOX_PINS.auth_pin if key.pin is Pin.AUTH else SANDBOX_PINS.sign_password)
    return card.sign_data(key, message)


def phone_csr(key: ec.EllipticCurvePrivateKey) -> bytes:
    from cryptography.hazmat.primitives import serialization

    csr = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "phone")])).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.DER)


def phone_keys() -> tuple[ec.EllipticCurvePrivateKey, ec.EllipticCurvePrivateKey]:
    """A phone's two keys: authentication and signature."""
    return ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())


async def phone_credential_input(identity: IdentityPortal, data: CardData, auth_csr: bytes, sign_csr: bytes,
                                 token: str) -> dict:
    """IssuePhoneCredential's input: a fresh challenge from the portal, signed by the card with the two CSRs."""
    started = (await identity.gql("StartPhoneCredential", token=token))["data"]["startPhoneCredential"]
    message = phone_credential_message(base64.b64decode(started["nonce"]), auth_csr, sign_csr)
    return {"challengeId": started["challengeId"], "authenticationCsr": b64(auth_csr), "signatureCsr": b64(sign_csr),
            "cardSignCertificate": b64(data.der("sign_cert")), "chain": [b64(data.der("sign_ca_cert"))],
            "signature": b64(card_sign(data, Key.SIGN, message))}


def identity_service(settings: Settings, session_factory: async_sessionmaker[AsyncSession], ca: SandboxCA,
                     transport: httpx.AsyncBaseTransport) -> IdentityService:
    """What ``IdentityService.from_settings`` builds on the sandbox CA directory, from the session's CA as loaded
    once (loading its RSA keys again checks each key: ~0.2 s a test)."""
    ca = SandboxCA(ca.authorities, settings.public_url)
    return IdentityService(settings, session_factory, ca=ca, anchors=ca.roots, transport=transport)


@pytest.fixture
async def identity(engine: AsyncEngine, cipher: IndividualNumberCipher, database_url: str, ca_dir: Path,
                   sandbox_ca: SandboxCA) -> AsyncIterator[IdentityPortal]:
    settings = make_settings(database_url, sandbox_ca_dir=ca_dir, public_url=PUBLIC_URL,
                             revocation_max_age=dt.timedelta(0), login_limit_per_certificate=5)
    async with running_portal(engine, cipher, settings) as portal:
        transport = OcspOutage(httpx.ASGITransport(app=portal.app))
        service = identity_service(settings, portal.app.state.session_factory, sandbox_ca, transport)
        holder = IdentityPortal(portal, service, transport, engine, cipher, sandbox_ca,
                                dt.datetime.now(dt.UTC).replace(microsecond=0))
        service.clock = lambda: holder.now
        portal.app.state.identity.service = service
        yield holder


class CountedRead(PointRead):
    """A point read (the token lookup, ...), counting its reads."""

    def __init__(self, read: PointRead) -> None:
        super().__init__(read.statement)
        self.count = 0

    async def rows(self, engine: AsyncEngine, params: dict) -> list:  # type: ignore[type-arg]
        self.count += 1
        return await super().rows(engine, params)


@pytest.fixture
def lookups(monkeypatch: pytest.MonkeyPatch) -> CountedRead:
    counted = CountedRead(authentication._LOOKUP)
    monkeypatch.setattr(authentication, "_LOOKUP", counted)
    return counted
