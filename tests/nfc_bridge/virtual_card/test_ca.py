from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from nfc_bridge.apdu import CommandAPDU, transmit
from nfc_bridge.card_info import Basic4Info
from nfc_bridge.jpki import Cert, Key, MyNumberCard, Pin
from nfc_bridge.virtual_card.ca import OID_NAME, CardCA
from nfc_bridge.virtual_card.card import VirtualCard
from nfc_bridge.virtual_card.store import CardData
from nfc_bridge.virtual_card.transport import VirtualTransport


def test_certificates_chain_to_the_ca(test_ca: CardCA, card_template: CardData) -> None:
    for cert_name, ca_name, root in (("auth_cert", "auth_ca_cert", test_ca.auth), ("sign_cert", "sign_ca_cert",
                                                                                  test_ca.sign)):
        cert = x509.load_der_x509_certificate(card_template.der(cert_name))
        ca = x509.load_der_x509_certificate(card_template.der(ca_name))
        assert ca == root.cert and cert.issuer == ca.subject
        cert.verify_directly_issued_by(ca)
        assert cert.signature_hash_algorithm is not None and cert.signature_hash_algorithm.name == "sha256"
    ou = [a.value for a in test_ca.auth.cert.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATIONAL_UNIT_NAME)]
    assert ou[0] == "JPKI for user authentication"
    san = x509.load_der_x509_certificate(card_template.der("sign_cert")).extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value
    names = [n for n in san if isinstance(n, x509.OtherName) and n.type_id == OID_NAME]
    assert names[0].value == b"\x0c" + bytes((len("山田　太郎".encode()),)) + "山田　太郎".encode()


def test_ca_save_load(test_ca: CardCA, tmp_path: Path) -> None:
    test_ca.save(tmp_path / "ca.pem")
    loaded = CardCA.load(tmp_path / "ca.pem")
    assert loaded.auth.cert == test_ca.auth.cert and loaded.sign.cert == test_ca.sign.cert


def test_next_generation_ecdsa_p384_card() -> None:
    ca = CardCA.generate("ec-p384")
    data = ca.issue_card(Basic4Info("鈴木　花子", "大阪府", dt.date(2001, 4, 1), "2"), "621498320257",
                         auth_pin="1111", sign_password="PASSW0RD", card_info_pin="2222")
    vcard = VirtualCard(data)
    card = MyNumberCard(VirtualTransport(vcard))
    card.verify_pin(Pin.AUTH, "1111")
    cert = x509.load_der_x509_certificate(card.read_certificate(Cert.AUTH))
    key = cert.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp384r1"
    # the EC card takes the bare hash (an assumption, see keys.EcCardKey)
    card.select_jpki()
    card.verify_pin(Pin.AUTH, "1111")
    card.select_ef(Key.AUTH.fid)
    digest = hashlib.sha384(b"m").digest()
    raw = transmit(card.transport, CommandAPDU(0x80, 0x2A, 0x00, 0x80, digest, le=256)).check().data
    der = encode_dss_signature(int.from_bytes(raw[:48], "big"), int.from_bytes(raw[48:], "big"))
    key.verify(der, b"m", ec.ECDSA(hashes.SHA384()))
