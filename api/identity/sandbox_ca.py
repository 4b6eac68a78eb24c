"""The sandbox JPKI certification authority: two roots, four intermediates, leaf issuance, CRL and OCSP.

Development only. Roots: user authentication and digital signature, as in JPKI. Intermediates under
them issue card certificates (card-auth, card-sign) and smartphone certificates (phone-auth,
phone-sign). Keys are generated on first run into a directory and kept; production refuses the
sandbox (settings) and its roots as trust anchors (``is_sandbox_certificate``).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID

SANDBOX_ORGANIZATION = "Mynaportal Sandbox JPKI"
# name -> (parent, organizational unit); roots have no parent.
AUTHORITIES: dict[str, tuple[str | None, str]] = {
    "auth-root": (None, "Sandbox root for user authentication"),
    "sign-root": (None, "Sandbox root for digital signature"),
    "card-auth": ("auth-root", "Card user authentication CA"),
    "card-sign": ("sign-root", "Card digital signature CA"),
    "phone-auth": ("auth-root", "Smartphone user authentication CA"),
    "phone-sign": ("sign-root", "Smartphone digital signature CA"),
}
CA_VALIDITY = dt.timedelta(days=20 * 365)
CRL_VALIDITY = dt.timedelta(hours=1)
OCSP_VALIDITY = dt.timedelta(minutes=10)

# Key usage per leaf profile: authentication signs challenges; signature certificates also carry non-repudiation.
_AUTH_USAGE = x509.KeyUsage(True, False, False, False, False, False, False, False, False)
_SIGN_USAGE = x509.KeyUsage(True, True, False, False, False, False, False, False, False)


@dataclass(frozen=True)
class Authority:
    name: str
    key: rsa.RSAPrivateKey
    cert: x509.Certificate

    def key_hash(self, algorithm: hashes.HashAlgorithm) -> bytes:
        """Hash of the public key bits, as OCSP requests name their issuer (RFC 6960 §4.1.1)."""
        digest = hashes.Hash(algorithm)
        digest.update(self.key.public_key().public_bytes(serialization.Encoding.DER,
                                                         serialization.PublicFormat.PKCS1))
        return digest.finalize()


def is_sandbox_certificate(cert: x509.Certificate) -> bool:
    organizations = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    return any(attribute.value == SANDBOX_ORGANIZATION for attribute in organizations)


def _name(name: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, SANDBOX_ORGANIZATION),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, AUTHORITIES[name][1]),
        x509.NameAttribute(NameOID.COMMON_NAME, f"sandbox {name}"),
    ])


def _generate(directory: Path) -> None:
    now = dt.datetime.now(dt.UTC)
    made: dict[str, Authority] = {}
    for name, (parent, _) in AUTHORITIES.items():
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        issuer = made[parent] if parent else None
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(name))
            .issuer_name(issuer.cert.subject if issuer else _name(name))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + CA_VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None if issuer is None else 0), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        )
        if issuer is not None:
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), critical=False)
        cert = builder.sign(issuer.key if issuer else key, hashes.SHA256())
        made[name] = Authority(name, key, cert)
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()) + cert.public_bytes(serialization.Encoding.PEM)
        path = directory / f"{name}.pem"
        path.write_bytes(pem)
        path.chmod(0o600)


class SandboxCA:
    def __init__(self, authorities: dict[str, Authority], public_url: str) -> None:
        self.authorities = authorities
        self.public_url = public_url.rstrip("/")

    @classmethod
    def load_or_create(cls, directory: Path, public_url: str) -> SandboxCA:
        directory = Path(directory)
        if not directory.exists():
            directory.parent.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}-"))
            try:
                _generate(staging)
                # rename is atomic: of two processes starting together, one CA wins and both load it.
                os.rename(staging, directory)
            except OSError:
                shutil.rmtree(staging, ignore_errors=True)
                if not directory.exists():
                    raise
        return cls.load(directory, public_url)

    @classmethod
    def load(cls, directory: Path, public_url: str) -> SandboxCA:
        authorities = {}
        for name in AUTHORITIES:
            data = (Path(directory) / f"{name}.pem").read_bytes()
            key = serialization.load_pem_private_key(data, password=None)
            if not isinstance(key, rsa.RSAPrivateKey):
                raise ValueError(f"sandbox CA {name}: unexpected key type")
            authorities[name] = Authority(name, key, x509.load_pem_x509_certificate(data))
        return cls(authorities, public_url)

    @property
    def roots(self) -> list[x509.Certificate]:
        return [a.cert for name, a in self.authorities.items() if AUTHORITIES[name][0] is None]

    @property
    def intermediates(self) -> list[x509.Certificate]:
        return [a.cert for name, a in self.authorities.items() if AUTHORITIES[name][0] is not None]

    def ocsp_url(self) -> str:
        return f"{self.public_url}/pki/ocsp"

    def crl_url(self, issuer: str) -> str:
        return f"{self.public_url}/pki/crl/{issuer}.crl"

    def issue(
        self,
        issuer: str,
        public_key: object,
        *,
        subject: x509.Name | None = None,
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
        extra: Iterable[x509.ExtensionType] = (),
    ) -> x509.Certificate:
        """A leaf certificate from the intermediate ``issuer`` (card-auth, card-sign, phone-auth, phone-sign)."""
        if AUTHORITIES.get(issuer, (None,))[0] is None:
            raise ValueError(f"{issuer!r} is not an issuing intermediate")
        authority = self.authorities[issuer]
        now = dt.datetime.now(dt.UTC)
        serial = x509.random_serial_number()
        builder = (
            x509.CertificateBuilder()
            # The authentication certificate carries no name: a serial-like CN only, as JPKI does.
            .subject_name(subject or x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
                                                x509.NameAttribute(NameOID.COMMON_NAME, f"{serial:X}"[:24])]))
            .issuer_name(authority.cert.subject)
            .public_key(public_key)  # type: ignore[arg-type]
            .serial_number(serial)
            .not_valid_before(not_before or now - dt.timedelta(minutes=5))
            .not_valid_after(not_after or now + dt.timedelta(days=5 * 365))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_SIGN_USAGE if issuer.endswith("-sign") else _AUTH_USAGE, critical=True)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(authority.key.public_key()),
                           critical=False)
            .add_extension(x509.AuthorityInformationAccess([x509.AccessDescription(
                x509.AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(self.ocsp_url()))]),
                critical=False)
            .add_extension(x509.CRLDistributionPoints([x509.DistributionPoint(
                [x509.UniformResourceIdentifier(self.crl_url(issuer))], None, None, None)]), critical=False)
        )
        for extension in extra:
            builder = builder.add_extension(extension, critical=False)
        return builder.sign(authority.key, hashes.SHA256())

    def crl(self, issuer: str, revoked: Iterable[tuple[int, dt.datetime, str | None]],
            now: dt.datetime | None = None) -> bytes:
        """DER CRL of ``issuer``: (serial, revoked at, reason) for every revoked certificate it issued."""
        authority = self.authorities[issuer]
        now = now or dt.datetime.now(dt.UTC)
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(authority.cert.subject)
            .last_update(now)
            .next_update(now + CRL_VALIDITY)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(authority.key.public_key()),
                           critical=False)
        )
        for serial, revoked_at, reason in revoked:
            entry = x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(revoked_at)
            if reason:
                entry = entry.add_extension(x509.CRLReason(x509.ReasonFlags(reason)), critical=False)
            builder = builder.add_revoked_certificate(entry.build())
        return builder.sign(authority.key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)

    def authority_for_key_hash(self, key_hash: bytes, algorithm: hashes.HashAlgorithm) -> Authority | None:
        for name, authority in self.authorities.items():
            if AUTHORITIES[name][0] is not None and authority.key_hash(algorithm) == key_hash:
                return authority
        return None


def ocsp_error(status: ocsp.OCSPResponseStatus) -> bytes:
    return ocsp.OCSPResponseBuilder.build_unsuccessful(status).public_bytes(serialization.Encoding.DER)


def ocsp_answer(
    authority: Authority,
    request: ocsp.OCSPRequest,
    status: ocsp.OCSPCertStatus,
    *,
    revoked_at: dt.datetime | None = None,
    reason: str | None = None,
    now: dt.datetime | None = None,
) -> bytes:
    """A signed OCSP response; the issuing CA answers for its own certificates (RFC 6960 §4.2.2.2)."""
    now = now or dt.datetime.now(dt.UTC)
    builder = ocsp.OCSPResponseBuilder().add_response_by_hash(
        issuer_name_hash=request.issuer_name_hash,
        issuer_key_hash=request.issuer_key_hash,
        serial_number=request.serial_number,
        algorithm=request.hash_algorithm,
        cert_status=status,
        this_update=now,
        next_update=now + OCSP_VALIDITY,
        revocation_time=revoked_at if status is ocsp.OCSPCertStatus.REVOKED else None,
        revocation_reason=x509.ReasonFlags(reason) if status is ocsp.OCSPCertStatus.REVOKED and reason else None,
    ).responder_id(ocsp.OCSPResponderEncoding.HASH, authority.cert)
    for extension in request.extensions:
        if isinstance(extension.value, x509.OCSPNonce):
            builder = builder.add_extension(extension.value, critical=False)
    return builder.sign(authority.key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


__all__ = ["AUTHORITIES", "Authority", "SandboxCA", "is_sandbox_certificate",
           "ocsp_answer", "ocsp_error"]
