"""Issuing sandbox cards and smartphone credentials, and revoking them (the card reported lost).

The link from certificate to person is made here, at issuance: ``issued_certificates`` keeps the
SHA-256 of each certificate with its person, card and phone credential.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import uuid
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from api.identity.pki_models import Card, CertificateProfile, IssuedCertificate, PhoneCredential
from api.identity.sandbox_ca import SandboxCA
from api.people.individual_number import IndividualNumberCipher
from api.people.models import Person, Sex
from api.platform.errors import PortalError
from nfc_bridge.card_info import Basic4Info
from nfc_bridge.virtual_card.ca import CardCA, Root
from nfc_bridge.virtual_card.store import CardData

DEMO_AUTH_PIN = "1234"
DEMO_SIGN_PASSWORD = "ABC123"  # noqa: S105 - the documented sandbox default, printed by `make run`
DEMO_CARD_INFO_PIN = "5678"


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def _record(card: Card, cert: x509.Certificate, issuer: str, profile: CertificateProfile,
            phone_credential_id: uuid.UUID | None = None) -> IssuedCertificate:
    return IssuedCertificate(
        fingerprint=hashlib.sha256(_der(cert)).digest(), issuer=issuer, serial=f"{cert.serial_number:x}",
        profile=profile, person_id=card.person_id, card_id=card.id, phone_credential_id=phone_credential_id,
        not_after=cert.not_valid_after_utc,
    )


async def issue_virtual_card(
    session: AsyncSession,
    ca: SandboxCA,
    cipher: IndividualNumberCipher,
    person_id: uuid.UUID,
    *,
    auth_pin: str = DEMO_AUTH_PIN,
    sign_password: str = DEMO_SIGN_PASSWORD,
    card_info_pin: str = DEMO_CARD_INFO_PIN,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
) -> tuple[Card, CardData]:
    """A virtual card file for the person, its certificates from the sandbox card intermediates."""
    person = await session.get(Person, person_id)
    if person is None:
        raise PortalError("NOT_FOUND", "No such person.")
    holder = Basic4Info(person.name, person.address, person.birth_date, "1" if person.sex is Sex.MALE else "2")
    auth_ca, sign_ca = ca.authorities["card-auth"], ca.authorities["card-sign"]
    # The bridge's card builder makes the keys, PIN records and card-info data; the certificates are
    # then re-issued here with OCSP/CRL addresses and the validity the caller asked for.
    data = CardCA(Root(auth_ca.key, auth_ca.cert), Root(sign_ca.key, sign_ca.cert)).issue_card(
        holder, cipher.decrypt(person.individual_number_ciphertext), auth_pin=auth_pin,
        sign_password=sign_password, card_info_pin=card_info_pin)
    card = Card(person_id=person_id)
    session.add(card)
    await session.flush()
    certificates = {}
    for name, issuer, profile in (("auth", "card-auth", CertificateProfile.CARD_AUTH),
                                  ("sign", "card-sign", CertificateProfile.CARD_SIGN)):
        original = x509.load_der_x509_certificate(data.der(f"{name}_cert"))
        extra = [ext.value for ext in original.extensions if isinstance(ext.value, x509.SubjectAlternativeName)]
        cert = ca.issue(issuer, original.public_key(), subject=original.subject, not_before=not_before,
                        not_after=not_after or original.not_valid_after_utc, extra=extra)
        certificates[name] = cert
        session.add(_record(card, cert, issuer, profile))
    data.auth_cert = base64.b64encode(_der(certificates["auth"])).decode()
    data.sign_cert = base64.b64encode(_der(certificates["sign"])).decode()
    data.auth_ca_cert = base64.b64encode(_der(auth_ca.cert)).decode()
    data.sign_ca_cert = base64.b64encode(_der(sign_ca.cert)).decode()
    await session.flush()
    return card, data


async def revoke_card(session: AsyncSession, person_id: uuid.UUID, *, now: dt.datetime,
                      reason: str = "keyCompromise") -> int:
    """The person reports their card lost: the card, its certificates and its phone credentials are
    revoked. Returns the number of certificates newly revoked (0 when there was nothing to revoke)."""
    cards = list(await session.scalars(
        update(Card).where(Card.person_id == person_id, Card.revoked_at.is_(None))
        .values(revoked_at=now).returning(Card.id)))
    if not cards:
        return 0
    await session.execute(update(PhoneCredential).where(PhoneCredential.card_id.in_(cards),
                                                        PhoneCredential.revoked_at.is_(None)).values(revoked_at=now))
    revoked = await session.scalars(
        update(IssuedCertificate).where(IssuedCertificate.card_id.in_(cards), IssuedCertificate.revoked_at.is_(None))
        .values(revoked_at=now, revocation_reason=reason).returning(IssuedCertificate.id))
    return len(list(revoked))


@dataclass(frozen=True)
class PhoneCertificates:
    credential_id: uuid.UUID
    auth_certificate: bytes
    sign_certificate: bytes
    chain: tuple[bytes, ...]  # phone-auth and phone-sign intermediates


def load_csr(der: bytes) -> x509.CertificateSigningRequest:
    try:
        csr = x509.load_der_x509_csr(der)
    except ValueError as error:
        raise PortalError("CSR_INVALID", "The CSR is not a DER PKCS#10 request.") from error
    key = csr.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise PortalError("CSR_INVALID", "The phone key must be EC P-256.")
    if not csr.is_signature_valid:
        raise PortalError("CSR_INVALID", "The CSR is not signed by its own key (proof of possession).")
    return csr


async def issue_phone_credential(
    session: AsyncSession, ca: SandboxCA, card: Card, csr: x509.CertificateSigningRequest, *, now: dt.datetime
) -> PhoneCertificates:
    """Issue the phone's two certificates, revoking the previous phone's (one phone at a time)."""
    previous = list(await session.scalars(
        update(PhoneCredential).where(PhoneCredential.person_id == card.person_id, PhoneCredential.revoked_at.is_(None))
        .values(revoked_at=now).returning(PhoneCredential.id)))
    if previous:
        await session.execute(
            update(IssuedCertificate).where(IssuedCertificate.phone_credential_id.in_(previous),
                                            IssuedCertificate.revoked_at.is_(None))
            .values(revoked_at=now, revocation_reason="superseded"))
    credential = PhoneCredential(person_id=card.person_id, card_id=card.id, issued_at=now)
    session.add(credential)
    await session.flush()  # the partial unique index refuses a concurrent second phone here
    card_not_after = await session.scalar(
        select(IssuedCertificate.not_after).where(IssuedCertificate.card_id == card.id,
                                                  IssuedCertificate.profile == CertificateProfile.CARD_SIGN))
    not_after = min(card_not_after or now + dt.timedelta(days=5 * 365), now + dt.timedelta(days=5 * 365))
    issued = {}
    for issuer, profile in (("phone-auth", CertificateProfile.PHONE_AUTH),
                            ("phone-sign", CertificateProfile.PHONE_SIGN)):
        cert = ca.issue(issuer, csr.public_key(), not_after=not_after)
        session.add(_record(card, cert, issuer, profile, credential.id))
        issued[issuer] = cert
    await session.flush()
    return PhoneCertificates(credential.id, _der(issued["phone-auth"]), _der(issued["phone-sign"]),
                             (_der(ca.authorities["phone-auth"].cert), _der(ca.authorities["phone-sign"].cert)))
