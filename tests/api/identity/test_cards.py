"""Issuing a sandbox card: the bundle the card maker receives (standard PEM and card facts, no PINs), the
certificates recorded for the person, and a lost card revoked."""

from __future__ import annotations

import hashlib
import json

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import select

from api.identity.cards import ISSUANCE_FORMAT, OID_JPKI_NAME, issue_virtual_card, revoke_card
from api.identity.pki_models import CertificateProfile, IssuedCertificate
from api.people.models import Person
from api.platform.db import create_session_factory, utcnow
from tests.api.identity.conftest import IdentityPortal


async def test_the_bundle_holds_keys_certificates_and_card_facts_but_no_pins(identity: IdentityPortal) -> None:
    async with create_session_factory(identity.engine)() as session, session.begin():
        card, issuance = await issue_virtual_card(session, identity.ca, identity.cipher, identity.portal.father)
        person = await session.get(Person, identity.portal.father)
        assert person is not None
        recorded = list(await session.scalars(select(IssuedCertificate).where(IssuedCertificate.card_id == card.id)
                                              .order_by(IssuedCertificate.issuer)))
    bundle = json.loads(issuance.to_json())
    assert sorted(bundle) == ["auth_ca_certificate", "auth_certificate", "auth_key", "card_info", "format",
                              "sign_ca_certificate", "sign_certificate", "sign_key"]
    assert bundle["format"] == ISSUANCE_FORMAT
    info = bundle["card_info"]
    assert {k: v for k, v in info.items() if k != "security_code"} == {
        "individual_number": identity.cipher.decrypt(person.individual_number_ciphertext, 1), "name": "山田 太郎",
        "address": person.address, "birth_date": "1985-04-01", "sex": "1",
        "expiry_year": utcnow().year + 5}
    assert len(info["security_code"]) == 4 and info["security_code"].isdigit()

    certificates = {}
    for purpose in ("auth", "sign"):
        cert = x509.load_pem_x509_certificate(bundle[f"{purpose}_certificate"].encode())
        key = serialization.load_pem_private_key(bundle[f"{purpose}_key"].encode(), password=None)
        assert key.public_key() == cert.public_key()
        ca = x509.load_pem_x509_certificate(bundle[f"{purpose}_ca_certificate"].encode())
        assert ca == identity.ca.authorities[f"card-{purpose}"].cert
        cert.verify_directly_issued_by(ca)
        assert cert.not_valid_after_utc.date().isoformat() == f"{utcnow().year + 5}-04-01"
        certificates[purpose] = cert
    # Only the signature certificate names the holder (JPKI's otherName attributes).
    assert not [e for e in certificates["auth"].extensions if isinstance(e.value, x509.SubjectAlternativeName)]
    names = [n for n in certificates["sign"].extensions.get_extension_for_class(x509.SubjectAlternativeName).value
             if isinstance(n, x509.OtherName) and n.type_id == OID_JPKI_NAME]
    assert [n.value for n in names] == [b"\x0c" + bytes((len("山田 太郎".encode()),)) + "山田 太郎".encode()]

    assert [(r.issuer, r.profile, r.person_id) for r in recorded] == [
        ("card-auth", CertificateProfile.CARD_AUTH, identity.portal.father),
        ("card-sign", CertificateProfile.CARD_SIGN, identity.portal.father)]
    assert [r.fingerprint for r in recorded] == [
        hashlib.sha256(certificates[p].public_bytes(serialization.Encoding.DER)).digest() for p in ("auth", "sign")]


async def test_a_lost_card_revokes_its_certificates_once(identity: IdentityPortal) -> None:
    async with create_session_factory(identity.engine)() as session, session.begin():
        await issue_virtual_card(session, identity.ca, identity.cipher, identity.portal.father)
    async with create_session_factory(identity.engine)() as session, session.begin():
        assert await revoke_card(session, identity.portal.father, now=identity.now) == 2
        assert await revoke_card(session, identity.portal.father, now=identity.now) == 0
        reasons = list(await session.scalars(select(IssuedCertificate.revocation_reason)))
    assert reasons == ["keyCompromise", "keyCompromise"]
