"""Registering agencies' TLS client certificates: pinned to one agency, idempotent, expired or non-client
certificates refused, revocation; and the check every agency request makes."""

from __future__ import annotations

import uuid

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from api.agencies.client_certificates import (
    check_client_certificate,
    list_client_certificates,
    register_client_certificate,
    revoke_client_certificate,
)
from api.agencies.models import Agency, AgencyClientCertificate, AgencyKind
from api.platform.db import create_session_factory
from api.platform.errors import ErrorCode, PortalError
from tests.api.platform.test_client_tls import _authority, _leaf

AUTHORITY = _authority("Agency CA")
CHIYODA = _leaf(AUTHORITY, "chiyoda-city", ExtendedKeyUsageOID.CLIENT_AUTH)


async def _agency(session: AsyncSession, slug: str) -> uuid.UUID:
    agency = Agency(slug=slug, name=slug, kind=AgencyKind.MUNICIPALITY)
    session.add(agency)
    await session.flush()
    return agency.id


async def test_a_certificate_is_pinned_to_one_agency_and_registering_again_changes_nothing(
        session: AsyncSession) -> None:
    chiyoda, yokohama = await _agency(session, "chiyoda"), await _agency(session, "yokohama")
    first = await register_client_certificate(session, chiyoda, CHIYODA.pem())
    der = CHIYODA.certificate.public_bytes(serialization.Encoding.DER)
    again = await register_client_certificate(session, chiyoda, der)  # DER is accepted too
    assert first == again
    assert first.fingerprint == CHIYODA.certificate.fingerprint(hashes.SHA256()).hex()
    assert first.subject == "CN=chiyoda-city,O=Mynaportal sandbox"
    with pytest.raises(PortalError) as taken:
        await register_client_certificate(session, yokohama, CHIYODA.pem())
    assert taken.value.code == ErrorCode.CLIENT_CERTIFICATE_MISMATCH
    assert await session.scalar(select(func.count()).select_from(AgencyClientCertificate)) == 1
    assert [row.fingerprint for row in await list_client_certificates(session, chiyoda)] == [first.fingerprint]
    assert await list_client_certificates(session, yokohama) == []


@pytest.mark.parametrize(("_case", "pem", "code"), [
    ("expired", _leaf(AUTHORITY, "old", ExtendedKeyUsageOID.CLIENT_AUTH, expired=True).pem(),
     ErrorCode.CERTIFICATE_EXPIRED),
    ("a server certificate", _leaf(AUTHORITY, "server", ExtendedKeyUsageOID.SERVER_AUTH).pem(),
     ErrorCode.CERTIFICATE_USAGE_INVALID),
    ("not a certificate", b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
     ErrorCode.CERTIFICATE_INVALID),
])
async def test_unusable_certificates_are_refused(session: AsyncSession, _case: str, pem: bytes,
                                                 code: ErrorCode) -> None:
    chiyoda = await _agency(session, "chiyoda")
    with pytest.raises(PortalError) as refused:
        await register_client_certificate(session, chiyoda, pem)
    assert refused.value.code == code
    assert await session.scalar(select(func.count()).select_from(AgencyClientCertificate)) == 0


async def test_the_check_binds_the_certificate_to_the_keys_agency(engine: AsyncEngine) -> None:
    factory = create_session_factory(engine)
    async with factory() as session, session.begin():
        chiyoda, yokohama = await _agency(session, "chiyoda"), await _agency(session, "yokohama")
        registered = await register_client_certificate(session, chiyoda, CHIYODA.pem())
    der = CHIYODA.certificate.public_bytes(serialization.Encoding.DER)
    await check_client_certificate(factory, chiyoda, der, required=True)  # the agency's own: no error
    await check_client_certificate(factory, chiyoda, None, required=False)  # development without one
    for agency, certificate, required, code in (
            (chiyoda, None, True, ErrorCode.CLIENT_CERTIFICATE_REQUIRED),
            (yokohama, der, True, ErrorCode.CLIENT_CERTIFICATE_MISMATCH),
            (yokohama, der, False, ErrorCode.CLIENT_CERTIFICATE_MISMATCH),  # one that is sent is always checked
            (chiyoda, b"unregistered", False, ErrorCode.CLIENT_CERTIFICATE_MISMATCH)):
        with pytest.raises(PortalError) as refused:
            await check_client_certificate(factory, agency, certificate, required=required)
        assert refused.value.code == code
    async with factory() as session, session.begin():
        assert not await revoke_client_certificate(session, yokohama, registered.fingerprint)  # not Yokohama's
        assert not await revoke_client_certificate(session, chiyoda, "not hex")
        assert await revoke_client_certificate(session, chiyoda, registered.fingerprint)
        assert not await revoke_client_certificate(session, chiyoda, registered.fingerprint)  # once
    with pytest.raises(PortalError) as revoked:
        await check_client_certificate(factory, chiyoda, der, required=True)
    assert revoked.value.code == ErrorCode.CLIENT_CERTIFICATE_MISMATCH
    async with factory() as session, session.begin():  # a revoked certificate cannot be registered again
        with pytest.raises(PortalError):
            await register_client_certificate(session, chiyoda, CHIYODA.pem())
