"""Mutual TLS on the agency API, over real TLS on loopback: a sandbox CA made here issues the listener's server
certificate and the agencies' client certificates; the app runs in production mode behind the TLS terminator.

good certificate -> served; no certificate -> CLIENT_CERTIFICATE_REQUIRED; another agency's certificate ->
CLIENT_CERTIFICATE_MISMATCH; an expired or untrusted certificate -> the TLS handshake fails (OpenSSL's alert),
and the request never reaches the app."""

from __future__ import annotations

import hashlib
import ipaddress
import ssl
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from api.agencies.client_certificates import register_client_certificate, revoke_client_certificate
from api.agencies.credentials import agency_by_slug, issue_agency_key
from api.agencies.models import AgencyPersonCode
from api.app import create_app
from api.demo import seed_demo
from api.exchange.models import ExchangeRecord
from api.notices.models import Notice
from api.people.individual_number import IndividualNumberCipher
from api.platform.client_tls import VERIFIED_PEERS, peer_certificate, serve_agency_listener, server_context
from api.platform.db import create_session_factory
from api.platform.errors import PROBLEM_MEDIA_TYPE
from tests.conftest import make_settings

NOW = datetime.now(UTC)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Mynaportal sandbox"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


@dataclass
class Issued:
    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    def pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def write(self, directory: Path, stem: str) -> tuple[Path, Path]:
        cert, key = directory / f"{stem}.pem", directory / f"{stem}.key"
        cert.write_bytes(self.pem())
        key.write_bytes(self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        return cert, key


def _authority(common_name: str) -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = (x509.CertificateBuilder().subject_name(_name(common_name)).issuer_name(_name(common_name))
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(NOW - timedelta(days=1)).not_valid_after(NOW + timedelta(days=30))
                   .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                   .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                                  critical=True)
                   .sign(key, hashes.SHA256()))
    return Issued(certificate, key)


def _leaf(issuer: Issued, common_name: str, usage: x509.ObjectIdentifier, *, expired: bool = False,
          ip: str | None = None) -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    start, end = (NOW - timedelta(days=10), NOW - timedelta(days=1)) if expired else \
        (NOW - timedelta(days=1), NOW + timedelta(days=7))
    builder = (x509.CertificateBuilder().subject_name(_name(common_name)).issuer_name(issuer.certificate.subject)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(start).not_valid_after(end)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.ExtendedKeyUsage([usage]), critical=False))
    if ip is not None:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]),
                                        critical=False)
    return Issued(builder.sign(issuer.key, hashes.SHA256()), key)


@dataclass
class Sandbox:
    directory: Path
    ca: Path
    server: tuple[Path, Path]
    clients: dict[str, Issued]  # "chiyoda", "yokohama", "expired", "untrusted"

    def client_context(self, who: str | None) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca))
        if who is not None:
            context.load_cert_chain(*self.clients[who].write(self.directory, who))
        return context


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Sandbox:
    directory = tmp_path_factory.mktemp("agency-tls")
    authority, stranger = _authority("Agency CA"), _authority("Someone else's CA")
    ca = directory / "agency-ca.pem"
    ca.write_bytes(authority.pem())
    server = _leaf(authority, "agency listener", ExtendedKeyUsageOID.SERVER_AUTH, ip="127.0.0.1")
    client = ExtendedKeyUsageOID.CLIENT_AUTH
    clients = {"chiyoda": _leaf(authority, "chiyoda-city", client), "yokohama": _leaf(authority, "yokohama-city",
               client), "expired": _leaf(authority, "chiyoda-city", client, expired=True),
               "untrusted": _leaf(stranger, "chiyoda-city", client)}
    return Sandbox(directory, ca, server.write(directory, "server"), clients)


@dataclass
class Listener:
    url: str
    sandbox: Sandbox
    keys: dict[str, str]
    ids: dict[str, uuid.UUID]
    father_code: str
    engine: AsyncEngine

    async def records(self, who: str | None, slug: str = "chiyoda-city") -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.url, verify=self.sandbox.client_context(who)) as client:
            return await client.get("/exchange/records", headers={"authorization": f"Bearer {self.keys[slug]}"})

    async def ask(self, who: str | None) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.url, verify=self.sandbox.client_context(who)) as client:
            return await client.post("/exchange/requests", headers={
                "authorization": f"Bearer {self.keys['chiyoda-city']}"}, json={
                "personCode": self.father_code, "duty": "child_allowance", "provider": "yokohama-city",
                "items": ["local_tax"]})


@pytest.fixture
async def listener(engine: AsyncEngine, cipher: IndividualNumberCipher, database_url: str,
                   sandbox: Sandbox) -> AsyncIterator[Listener]:
    """The portal in production mode (client certificates required) behind the agency TLS listener; Chiyoda
    and Yokohama each registered their certificate."""
    keys, ids = {}, {}
    async with create_session_factory(engine)() as session, session.begin():
        seed = await seed_demo(session, cipher)
        for slug, who in (("chiyoda-city", "chiyoda"), ("yokohama-city", "yokohama")):
            agency = await agency_by_slug(session, slug)
            assert agency is not None
            ids[slug] = agency.id
            keys[slug] = await issue_agency_key(session, agency.id, label="tls")
            await register_client_certificate(session, agency.id, sandbox.clients[who].pem())
        father_code = await session.scalar(select(AgencyPersonCode.code).where(
            AgencyPersonCode.agency_id == ids["chiyoda-city"], AgencyPersonCode.person_id == seed.people[0]))
    settings = make_settings(database_url, agency_client_certificates="required")
    app = create_app(settings, owns_process=False)
    context = server_context(sandbox.server[0], sandbox.server[1], sandbox.ca)
    async with LifespanManager(app) as running, serve_agency_listener(running.app, context, "127.0.0.1",
                                                                      lifespan="off") as (host, port):
        yield Listener(f"https://{host}:{port}", sandbox, keys, ids, father_code, engine)
    assert len(VERIFIED_PEERS) == 0  # every relay connection forgot its certificate when it closed


async def _exchange_records(engine: AsyncEngine) -> int:
    async with create_session_factory(engine)() as session:
        return int(await session.scalar(select(func.count()).select_from(ExchangeRecord)) or 0)


async def test_the_agencys_own_certificate_opens_the_api(listener: Listener) -> None:
    response = await listener.ask("chiyoda")
    assert response.status_code == 200, response.text
    assert response.json()["provider"] == "yokohama-city"
    records = await listener.records("chiyoda")
    assert records.status_code == 200
    assert [record["queryId"] for record in records.json()["records"]] == [response.json()["queryId"]]


async def test_without_a_client_certificate_production_refuses_with_a_problem(listener: Listener) -> None:
    response = await listener.ask(None)
    assert (response.status_code, response.headers["content-type"]) == (401, PROBLEM_MEDIA_TYPE)
    assert response.json()["code"] == "CLIENT_CERTIFICATE_REQUIRED"
    assert await _exchange_records(listener.engine) == 0  # refused before the hub: no exchange, no record


async def test_another_agencys_certificate_is_refused(listener: Listener) -> None:
    response = await listener.ask("yokohama")  # Yokohama's certificate with Chiyoda's API key
    assert (response.status_code, response.json()["code"]) == (403, "CLIENT_CERTIFICATE_MISMATCH")
    assert await _exchange_records(listener.engine) == 0
    # The same certificate with its own agency's key is fine.
    assert (await listener.records("yokohama", slug="yokohama-city")).status_code == 200


@pytest.mark.parametrize("who", ["expired", "untrusted"])
async def test_an_expired_or_untrusted_certificate_fails_the_handshake(listener: Listener, who: str) -> None:
    # TLS 1.2 fails the handshake itself; with TLS 1.3 the client finishes first and reads the server's alert.
    with pytest.raises((httpx.ConnectError, httpx.ReadError)):
        await listener.ask(who)
    assert await _exchange_records(listener.engine) == 0  # nothing reached the app


async def test_a_revoked_certificate_is_refused_at_the_next_request(listener: Listener) -> None:
    async with create_session_factory(listener.engine)() as session, session.begin():
        fingerprint = x509.load_pem_x509_certificate(listener.sandbox.clients["chiyoda"].pem()) \
            .fingerprint(hashes.SHA256()).hex()
        assert await revoke_client_certificate(session, listener.ids["chiyoda-city"], fingerprint)
    response = await listener.records("chiyoda")
    assert (response.status_code, response.json()["code"]) == (403, "CLIENT_CERTIFICATE_MISMATCH")


def test_the_asgi_tls_extension_is_read_as_well(sandbox: Sandbox) -> None:
    pem = sandbox.clients["chiyoda"].pem().decode()
    der = sandbox.clients["chiyoda"].certificate.public_bytes(serialization.Encoding.DER)
    assert peer_certificate({"extensions": {"tls": {"client_cert_chain": [pem]}}, "client": ("1.2.3.4", 5)}) == der
    # A chain the server could not verify is no identity; nor is a client address no relay connection has.
    assert peer_certificate({"extensions": {"tls": {"client_cert_chain": [pem], "client_cert_error": "x"}},
                             "client": ("127.0.0.1", 1)}) is None
    assert peer_certificate({"client": ("127.0.0.1", 0)}) is None


# Every agency API, not only the exchange: (method, path, body) of one harmless call each, reaching the handler.
AGENCY_APIS = {
    "payments": ("GET", "/payments/v1/payments", None),
    "corrections": ("GET", "/selfinfo/v1/corrections", None),
    "applications inbox": ("GET", "/applications/inbox", None),
}


async def _call(listener: Listener, who: str | None, api: str) -> httpx.Response:
    method, path, body = AGENCY_APIS[api]
    async with httpx.AsyncClient(base_url=listener.url, verify=listener.sandbox.client_context(who)) as client:
        return await client.request(method, path, json=body,
                                    headers={"authorization": f"Bearer {listener.keys['chiyoda-city']}"})


@pytest.mark.parametrize("api", sorted(AGENCY_APIS))
async def test_every_agency_rest_api_needs_the_agencys_certificate(listener: Listener, api: str) -> None:
    refused = await _call(listener, None, api)
    assert (refused.status_code, refused.headers["content-type"]) == (401, PROBLEM_MEDIA_TYPE), refused.text
    assert refused.json()["code"] == "CLIENT_CERTIFICATE_REQUIRED"
    mismatched = await _call(listener, "yokohama", api)  # Yokohama's certificate with Chiyoda's key
    assert (mismatched.status_code, mismatched.json()["code"]) == (403, "CLIENT_CERTIFICATE_MISMATCH")
    served = await _call(listener, "chiyoda", api)
    assert served.status_code == 200, served.text


def _persisted(name: str) -> dict[str, object]:
    document = (Path(__file__).parents[3] / "graphql" / "operations" / "agency" / f"{name}.graphql").read_bytes()
    return {"persistedQuery": {"version": 1, "sha256Hash": hashlib.sha256(document).hexdigest()}}


async def _publish(listener: Listener, who: str | None, reference: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=listener.url, verify=listener.sandbox.client_context(who)) as client:
        response = await client.post("/graphql", headers={"authorization": f"Bearer {listener.keys['chiyoda-city']}"},
                                     json={"extensions": _persisted("NoticePublish"), "variables": {"input": {
                                         "audience": "SEGMENT", "category": "CHILD_REARING", "title": "児童手当",
                                         "body": "現況届の提出", "segment": {"hasChildUnder": 18},
                                         "reference": reference}}})
    assert response.status_code == 200, response.text
    return dict(response.json())


async def _notices(engine: AsyncEngine) -> int:
    async with create_session_factory(engine)() as session:
        return int(await session.scalar(select(func.count()).select_from(Notice)) or 0)


async def test_the_agency_graphql_api_needs_the_agencys_certificate(listener: Listener) -> None:
    before = await _notices(listener.engine)
    refused = await _publish(listener, None, "tls-1")
    assert refused["data"] is None
    assert [error["extensions"]["code"] for error in refused["errors"]] == ["CLIENT_CERTIFICATE_REQUIRED"]
    mismatched = await _publish(listener, "yokohama", "tls-1")
    assert [error["extensions"]["code"] for error in mismatched["errors"]] == ["CLIENT_CERTIFICATE_MISMATCH"]
    assert await _notices(listener.engine) == before  # refused before the notice: nothing published
    published = await _publish(listener, "chiyoda", "tls-1")
    assert "errors" not in published, published
    assert published["data"]["noticePublish"]["recipientCount"] == 2
    assert await _notices(listener.engine) == before + 1
