"""Agencies' TLS client certificates (mutual TLS on the agency API), pinned by SHA-256 fingerprint.

An agency registers the certificate its system presents; the portal binds it to that agency. A request that
carries both an API key and a verified client certificate is accepted only when both belong to the same agency;
in production (or when the settings require it) a request without a client certificate is refused.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.agencies.models import AgencyClientCertificate
from api.platform.db import PointRead, utcnow
from api.platform.errors import ErrorCode, PortalError


@dataclass(frozen=True)
class RegisteredCertificate:
    agency_id: uuid.UUID
    fingerprint: str  # hex SHA-256 of the DER certificate
    subject: str
    not_after: datetime


def fingerprint_of(der: bytes) -> bytes:
    return hashlib.sha256(der).digest()


def _parse(pem_or_der: bytes) -> tuple[x509.Certificate, bytes]:
    try:
        certificate = (x509.load_pem_x509_certificate(pem_or_der) if pem_or_der.lstrip().startswith(b"-----")
                       else x509.load_der_x509_certificate(pem_or_der))
    except ValueError as error:
        raise PortalError(ErrorCode.CERTIFICATE_INVALID, "This is not an X.509 certificate.") from error
    from cryptography.hazmat.primitives.serialization import Encoding
    return certificate, certificate.public_bytes(Encoding.DER)


async def register_client_certificate(session: AsyncSession, agency_id: uuid.UUID,
                                      pem_or_der: bytes) -> RegisteredCertificate:
    """Pin a certificate to the agency (again: the same answer). One certificate belongs to one agency only;
    an expired one, or one whose extended key usage excludes TLS client authentication, is refused."""
    certificate, der = _parse(pem_or_der)
    if certificate.not_valid_after_utc <= utcnow():
        raise PortalError(ErrorCode.CERTIFICATE_EXPIRED, "This certificate has expired.")
    try:
        usages = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        usages = None
    if usages is not None and ExtendedKeyUsageOID.CLIENT_AUTH not in usages:
        raise PortalError(ErrorCode.CERTIFICATE_USAGE_INVALID, "This certificate is not for TLS client "
                          "authentication (extended key usage clientAuth).")
    fingerprint = fingerprint_of(der)
    row = await session.scalar(select(AgencyClientCertificate)
                               .where(AgencyClientCertificate.fingerprint == fingerprint))
    if row is not None and (row.agency_id != agency_id or row.revoked_at is not None):
        raise PortalError(ErrorCode.CLIENT_CERTIFICATE_MISMATCH,
                          "This certificate is registered to another agency or was revoked.")
    if row is None:
        row = AgencyClientCertificate(agency_id=agency_id, fingerprint=fingerprint,
                                      subject=certificate.subject.rfc4514_string()[:500],
                                      not_after=certificate.not_valid_after_utc)
        session.add(row)
        await session.flush()
    return RegisteredCertificate(row.agency_id, row.fingerprint.hex(), row.subject, row.not_after)


async def list_client_certificates(session: AsyncSession, agency_id: uuid.UUID) -> list[RegisteredCertificate]:
    rows = await session.scalars(select(AgencyClientCertificate).where(
        AgencyClientCertificate.agency_id == agency_id, AgencyClientCertificate.revoked_at.is_(None))
        .order_by(AgencyClientCertificate.registered_at))
    return [RegisteredCertificate(row.agency_id, row.fingerprint.hex(), row.subject, row.not_after) for row in rows]


async def revoke_client_certificate(session: AsyncSession, agency_id: uuid.UUID, fingerprint_hex: str) -> bool:
    """From now on the certificate opens nothing (the next request on any connection is refused)."""
    try:
        fingerprint = bytes.fromhex(fingerprint_hex.replace(":", ""))
    except ValueError:
        return False
    result = await session.execute(
        update(AgencyClientCertificate)
        .where(AgencyClientCertificate.agency_id == agency_id, AgencyClientCertificate.fingerprint == fingerprint,
               AgencyClientCertificate.revoked_at.is_(None))
        .values(revoked_at=utcnow()).returning(AgencyClientCertificate.id))
    return result.first() is not None


# Each agency request with a client certificate: one indexed read on a kept connection.
_OWNER = PointRead(select(AgencyClientCertificate.agency_id, AgencyClientCertificate.not_after,
                          AgencyClientCertificate.revoked_at)
                   .where(AgencyClientCertificate.fingerprint == bindparam("fingerprint")))


async def check_client_certificate(session_factory: async_sessionmaker[AsyncSession], agency_id: uuid.UUID,
                                   certificate: bytes | None, *, required: bool) -> None:
    """The API key's agency (``agency_id``) against the verified client certificate of the connection (DER, or
    None): PortalError CLIENT_CERTIFICATE_REQUIRED when one is required and missing, CLIENT_CERTIFICATE_MISMATCH
    when it is not a live certificate of that agency. A certificate, when sent, is always checked."""
    if certificate is None:
        if required:
            raise PortalError(ErrorCode.CLIENT_CERTIFICATE_REQUIRED, "The agency API needs the agency's "
                              "registered TLS client certificate (mutual TLS on the agency listener).")
        return
    row = await _OWNER.first(session_factory.kw["bind"], {"fingerprint": fingerprint_of(certificate)})
    if row is None or row[0] != agency_id or row[2] is not None or row[1] <= utcnow():
        raise PortalError(ErrorCode.CLIENT_CERTIFICATE_MISMATCH, "The TLS client certificate is not a registered, "
                          "live certificate of the agency this API key belongs to.")
