"""A small JPKI-like CA for tests and demos: two roots (user authentication, digital signature)
that issue a virtual card's certificates. The server's sandbox CA is a separate concern."""

from __future__ import annotations

import base64
import datetime as dt
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from nfc_bridge.card_info import Basic4Info, is_valid_individual_number
from nfc_bridge.virtual_card.keys import generate_key
from nfc_bridge.virtual_card.personalise import TOKEN_CARD, CardContents, CardPins, personalise
from nfc_bridge.virtual_card.store import CardData, CardInfoData

# OIDs of the personal attributes in the signature certificate's subjectAltName (jpki.md §1.2)
OID_NAME = x509.ObjectIdentifier("1.2.392.200149.8.5.5.1")
OID_SEX = x509.ObjectIdentifier("1.2.392.200149.8.5.5.3")
OID_BIRTH_DATE = x509.ObjectIdentifier("1.2.392.200149.8.5.5.4")
OID_ADDRESS = x509.ObjectIdentifier("1.2.392.200149.8.5.5.5")

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
PURPOSES = {"auth": "JPKI for user authentication", "sign": "JPKI for digital signature"}


def _hash_for(key: PrivateKey) -> hashes.HashAlgorithm:
    return hashes.SHA384() if isinstance(key, ec.EllipticCurvePrivateKey) else hashes.SHA256()


def _utf8_der(text: str) -> bytes:
    raw = text.encode("utf-8")
    if len(raw) < 0x80:
        return b"\x0c" + bytes((len(raw),)) + raw
    n = len(raw).to_bytes((len(raw).bit_length() + 7) // 8, "big")
    return b"\x0c" + bytes((0x80 | len(n),)) + n + raw


@dataclass
class Root:
    key: PrivateKey
    cert: x509.Certificate


@dataclass
class CardCA:
    auth: Root
    sign: Root
    algorithm: str = "rsa2048"

    @classmethod
    def generate(cls, algorithm: str = "rsa2048", organization: str = "JPKI-TEST") -> CardCA:
        roots = {}
        now = dt.datetime.now(dt.UTC)
        for purpose, ou in PURPOSES.items():
            key = generate_key(algorithm)
            name = x509.Name([
                x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
                x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou),
                x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME,
                                   "Japan Agency for Local Authority Information Systems"),
            ])
            cert = (
                x509.CertificateBuilder().subject_name(name).issuer_name(name)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=3650))
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                               critical=True)
                .sign(key, _hash_for(key))
            )
            roots[purpose] = Root(key, cert)
        return cls(roots["auth"], roots["sign"], algorithm)

    def save(self, path: Path) -> None:
        """PEM bundle: auth key, auth cert, sign key, sign cert (a test CA: keys unencrypted)."""
        parts = []
        for root in (self.auth, self.sign):
            parts.append(root.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                serialization.NoEncryption()))
            parts.append(root.cert.public_bytes(serialization.Encoding.PEM))
        Path(path).write_bytes(b"".join(parts))
        Path(path).chmod(0o600)

    @classmethod
    def load(cls, path: Path) -> CardCA:
        text = Path(path).read_bytes()
        blocks = [b"-----BEGIN" + b for b in text.split(b"-----BEGIN")[1:]]
        if len(blocks) != 4:
            raise ValueError("a CA file holds 4 PEM blocks: auth key, auth cert, sign key, sign cert")
        roots = []
        for key_pem, cert_pem in ((blocks[0], blocks[1]), (blocks[2], blocks[3])):
            key = serialization.load_pem_private_key(key_pem, password=None)
            if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
                raise ValueError("unsupported CA key type")
            roots.append(Root(key, x509.load_pem_x509_certificate(cert_pem)))
        algorithm = "ec-p384" if isinstance(roots[0].key, ec.EllipticCurvePrivateKey) else "rsa2048"
        return cls(roots[0], roots[1], algorithm)

    def _issue(self, root: Root, public_key: object, subject: x509.Name, sign_use: bool,
               san: x509.SubjectAlternativeName | None, not_after: dt.datetime) -> x509.Certificate:
        now = dt.datetime.now(dt.UTC)
        builder = (
            x509.CertificateBuilder().subject_name(subject).issuer_name(root.cert.subject)
            .public_key(public_key).serial_number(x509.random_serial_number())  # type: ignore[arg-type]
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, sign_use, False, False, False, False, False, False, False),
                           critical=True)
        )
        if san is not None:
            builder = builder.add_extension(san, critical=False)
        return builder.sign(root.key, _hash_for(root.key))

    def issue_card(self, person: Basic4Info, individual_number: str, *, auth_pin: str, sign_password: str,
                   card_info_pin: str, token: str = TOKEN_CARD, expiry_year: int | None = None,
                   security_code: str | None = None) -> CardData:
        """A complete virtual card file for ``person``. PINs are only hashed into the file."""
        if not is_valid_individual_number(individual_number):
            raise ValueError("invalid individual number (check digit)")
        pins = CardPins(auth_pin, sign_password, card_info_pin)
        pins.check()  # before the slow key generation
        today = dt.date.today()
        expiry_year = expiry_year or today.year + 5
        security_code = security_code or f"{secrets.randbelow(10_000):04d}"
        not_after = dt.datetime(expiry_year, person.birth_date.month, min(person.birth_date.day, 28), tzinfo=dt.UTC)
        auth_key, sign_key = generate_key(self.algorithm), generate_key(self.algorithm)
        serial_cn = secrets.token_hex(12).upper()
        auth_cert = self._issue(
            self.auth, auth_key.public_key(),
            x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
                       x509.NameAttribute(NameOID.COMMON_NAME, serial_cn)]),
            False, None, not_after)
        san = x509.SubjectAlternativeName([
            x509.OtherName(OID_NAME, _utf8_der(person.name)),
            x509.OtherName(OID_SEX, _utf8_der(person.sex)),
            x509.OtherName(OID_BIRTH_DATE, _utf8_der(person.birth_date.strftime("%Y%m%d"))),
            x509.OtherName(OID_ADDRESS, _utf8_der(person.address)),
        ])
        sign_cert = self._issue(
            self.sign, sign_key.public_key(),
            x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
                       x509.NameAttribute(NameOID.COMMON_NAME, secrets.token_hex(12).upper())]),
            True, san, not_after)

        def pem(key: PrivateKey) -> str:
            return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption()).decode()

        def b64(cert: x509.Certificate) -> str:
            return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()

        contents = CardContents(
            auth_key_pem=pem(auth_key), sign_key_pem=pem(sign_key),
            auth_cert=b64(auth_cert), auth_ca_cert=b64(self.auth.cert),
            sign_cert=b64(sign_cert), sign_ca_cert=b64(self.sign.cert),
            card_info=CardInfoData(individual_number, person.name, person.address,
                                   person.birth_date.isoformat(), person.sex, expiry_year, security_code),
        )
        return personalise(contents, pins, token)
