"""Issuing sandbox cards and smartphone credentials, and revoking them (the card reported lost).

The link from certificate to person is made here, at issuance: ``issued_certificates`` keeps the
SHA-256 of each certificate with its person, card and phone credential.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
import uuid
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from api.identity.pki_models import Card, CertificateProfile, IssuedCertificate, PhoneCredential
from api.identity.sandbox_ca import SandboxCA
from api.identity.sessions import end_certificate_sessions
from api.people.individual_number import IndividualNumberCipher
from api.people.models import Person, Sex
from api.platform.errors import PortalError

# The card maker (`myna-bridge virtual-card load`) reads this format; nfc_bridge/virtual_card/issuance.py
# documents it. Only standard encodings cross: PEM keys and certificates, and the facts printed on the card.
ISSUANCE_FORMAT = "mynaportal-card-issuance/1"
# JPKI's personal attributes in the signature certificate's subjectAltName, as otherName UTF8Strings.
OID_JPKI_NAME = x509.ObjectIdentifier("1.2.392.200149.8.5.5.1")
OID_JPKI_SEX = x509.ObjectIdentifier("1.2.392.200149.8.5.5.3")
OID_JPKI_BIRTH_DATE = x509.ObjectIdentifier("1.2.392.200149.8.5.5.4")
OID_JPKI_ADDRESS = x509.ObjectIdentifier("1.2.392.200149.8.5.5.5")
CARD_LIFETIME_YEARS = 5


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


CardKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def _pem(value: x509.Certificate | CardKey) -> str:
    if isinstance(value, x509.Certificate):
        return value.public_bytes(serialization.Encoding.PEM).decode()
    return value.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                               serialization.NoEncryption()).decode()


def _utf8_string(text: str) -> bytes:
    """DER UTF8String, the value of a JPKI otherName."""
    raw = text.encode("utf-8")
    if len(raw) < 0x80:
        return b"\x0c" + bytes((len(raw),)) + raw
    length = len(raw).to_bytes((len(raw).bit_length() + 7) // 8, "big")
    return b"\x0c" + bytes((0x80 | len(length),)) + length + raw


def _record(card: Card, cert: x509.Certificate, issuer: str, profile: CertificateProfile,
            phone_credential_id: uuid.UUID | None = None) -> IssuedCertificate:
    return IssuedCertificate(
        fingerprint=hashlib.sha256(_der(cert)).digest(), issuer=issuer, serial=f"{cert.serial_number:x}",
        profile=profile, person_id=card.person_id, card_id=card.id, phone_credential_id=phone_credential_id,
        not_after=cert.not_valid_after_utc,
    )


@dataclass(frozen=True)
class CardIssuance:
    """What the sandbox issuer hands the card maker: the card's keys and certificates and the facts printed
    on the card. No PINs: the holder sets them when the card is made."""

    auth_key: CardKey
    auth_certificate: x509.Certificate
    auth_ca_certificate: x509.Certificate
    sign_key: CardKey
    sign_certificate: x509.Certificate
    sign_ca_certificate: x509.Certificate
    individual_number: str
    name: str
    address: str
    birth_date: dt.date
    sex: str  # JIS X 0303: 1 male, 2 female
    expiry_year: int
    security_code: str  # printed on the card; part of the card-info AP's collation number B

    def to_json(self) -> str:
        """The issuance bundle `mynaportal sandbox issue-card` writes."""
        return json.dumps({
            "format": ISSUANCE_FORMAT,
            "auth_key": _pem(self.auth_key), "auth_certificate": _pem(self.auth_certificate),
            "auth_ca_certificate": _pem(self.auth_ca_certificate),
            "sign_key": _pem(self.sign_key), "sign_certificate": _pem(self.sign_certificate),
            "sign_ca_certificate": _pem(self.sign_ca_certificate),
            "card_info": {"individual_number": self.individual_number, "name": self.name, "address": self.address,
                          "birth_date": self.birth_date.isoformat(), "sex": self.sex,
                          "expiry_year": self.expiry_year, "security_code": self.security_code},
        }, indent=2, ensure_ascii=False)


async def issue_virtual_card(
    session: AsyncSession,
    ca: SandboxCA,
    cipher: IndividualNumberCipher,
    person_id: uuid.UUID,
    *,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    next_generation: bool = False,
) -> tuple[Card, CardIssuance]:
    """A new card for the person: two key pairs and their certificates from the sandbox card intermediates,
    valid until the card's expiry (the birthday in its fifth year) unless ``not_after`` says otherwise.
    Today's cards hold RSA-2048 keys; ``next_generation`` ones (from 2026) EC P-384 keys."""
    person = await session.get(Person, person_id)
    if person is None:
        raise PortalError("NOT_FOUND", "No such person.")
    sex = "1" if person.sex is Sex.MALE else "2"
    expiry_year = dt.date.today().year + CARD_LIFETIME_YEARS
    expires = dt.datetime(expiry_year, person.birth_date.month, min(person.birth_date.day, 28), tzinfo=dt.UTC)
    attributes = x509.SubjectAlternativeName([
        x509.OtherName(OID_JPKI_NAME, _utf8_string(person.name)),
        x509.OtherName(OID_JPKI_SEX, _utf8_string(sex)),
        x509.OtherName(OID_JPKI_BIRTH_DATE, _utf8_string(person.birth_date.strftime("%Y%m%d"))),
        x509.OtherName(OID_JPKI_ADDRESS, _utf8_string(person.address)),
    ])
    card = Card(person_id=person_id)
    session.add(card)
    await session.flush()
    keys, certificates = {}, {}
    # Only the signature certificate names the holder; the authentication one carries a serial-like CN.
    for name, issuer, profile, extra in (("auth", "card-auth", CertificateProfile.CARD_AUTH, []),
                                         ("sign", "card-sign", CertificateProfile.CARD_SIGN, [attributes])):
        keys[name] = ec.generate_private_key(ec.SECP384R1()) if next_generation \
            else rsa.generate_private_key(public_exponent=65537, key_size=2048)
        certificates[name] = ca.issue(issuer, keys[name].public_key(), not_before=not_before,
                                      not_after=not_after or expires, extra=extra)
        session.add(_record(card, certificates[name], issuer, profile))
    await session.flush()
    return card, CardIssuance(
        auth_key=keys["auth"], auth_certificate=certificates["auth"],
        auth_ca_certificate=ca.authorities["card-auth"].cert,
        sign_key=keys["sign"], sign_certificate=certificates["sign"],
        sign_ca_certificate=ca.authorities["card-sign"].cert,
        individual_number=cipher.decrypt(person.individual_number_ciphertext, person.number_key_generation),
        name=person.name,
        address=person.address, birth_date=person.birth_date, sex=sex, expiry_year=expiry_year,
        security_code=f"{secrets.randbelow(10_000):04d}",
    )


async def revoke_card(session: AsyncSession, person_id: uuid.UUID, *, now: dt.datetime,
                      reason: str = "keyCompromise") -> int:
    """The person reports their card lost: the card, its certificates and its phone credentials are
    revoked, and every session that came from them ends in this transaction. Returns the number of
    certificates newly revoked (0 when there was nothing to revoke)."""
    cards = list(await session.scalars(
        update(Card).where(Card.person_id == person_id, Card.revoked_at.is_(None))
        .values(revoked_at=now).returning(Card.id)))
    if not cards:
        return 0
    await session.execute(update(PhoneCredential).where(PhoneCredential.card_id.in_(cards),
                                                        PhoneCredential.revoked_at.is_(None)).values(revoked_at=now))
    revoked = list(await session.scalars(
        update(IssuedCertificate).where(IssuedCertificate.card_id.in_(cards), IssuedCertificate.revoked_at.is_(None))
        .values(revoked_at=now, revocation_reason=reason).returning(IssuedCertificate.id)))
    await end_certificate_sessions(session, revoked, now)
    return len(revoked)


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


def require_distinct_keys(auth_csr: x509.CertificateSigningRequest, sign_csr: x509.CertificateSigningRequest) -> None:
    """The phone's authentication and signature certificates need two key pairs, as the card has: a key that
    signs login challenges must not also make legally binding signatures."""
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if auth_csr.public_key().public_bytes(*spki) == sign_csr.public_key().public_bytes(*spki):
        raise PortalError("CSR_KEY_SHARED", "The authentication and signature CSRs must use two different keys.")


async def issue_phone_credential(
    session: AsyncSession, ca: SandboxCA, card: Card, auth_csr: x509.CertificateSigningRequest,
    sign_csr: x509.CertificateSigningRequest, *, now: dt.datetime
) -> PhoneCertificates:
    """Issue the phone's two certificates (one per key), revoking the previous phone's (one phone at a time) and
    ending the sessions that came from them."""
    previous = list(await session.scalars(
        update(PhoneCredential).where(PhoneCredential.person_id == card.person_id, PhoneCredential.revoked_at.is_(None))
        .values(revoked_at=now).returning(PhoneCredential.id)))
    if previous:
        superseded = await session.scalars(
            update(IssuedCertificate).where(IssuedCertificate.phone_credential_id.in_(previous),
                                            IssuedCertificate.revoked_at.is_(None))
            .values(revoked_at=now, revocation_reason="superseded").returning(IssuedCertificate.id))
        await end_certificate_sessions(session, list(superseded), now)
    credential = PhoneCredential(person_id=card.person_id, card_id=card.id, issued_at=now)
    session.add(credential)
    await session.flush()  # the partial unique index refuses a concurrent second phone here
    card_not_after = await session.scalar(
        select(IssuedCertificate.not_after).where(IssuedCertificate.card_id == card.id,
                                                  IssuedCertificate.profile == CertificateProfile.CARD_SIGN))
    not_after = min(card_not_after or now + dt.timedelta(days=5 * 365), now + dt.timedelta(days=5 * 365))
    issued = {}
    for issuer, profile, csr in (("phone-auth", CertificateProfile.PHONE_AUTH, auth_csr),
                                 ("phone-sign", CertificateProfile.PHONE_SIGN, sign_csr)):
        cert = ca.issue(issuer, csr.public_key(), not_after=not_after)
        session.add(_record(card, cert, issuer, profile, credential.id))
        issued[issuer] = cert
    await session.flush()
    return PhoneCertificates(credential.id, _der(issued["phone-auth"]), _der(issued["phone-sign"]),
                             (_der(ca.authorities["phone-auth"].cert), _der(ca.authorities["phone-sign"].cert)))
