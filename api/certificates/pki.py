"""The keys certificates are signed with: a municipal CA's root, one signing certificate per municipality (the
市区町村長's), and the portal's time-stamping authority (RFC 3161). Loaded once per process.

Development generates a sandbox set on first use (``Settings.certificate_pki_dir``); production loads the
directory it is given and refuses any sandbox certificate in it. Files: ``root.pem`` (certificate),
``tsa.pem`` and ``signer-<municipality code>.pem`` (private key + certificate + chain up to the root).
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
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SANDBOX_ORGANIZATION = "Mynaportal Sandbox Municipal CA"
_VALIDITY = dt.timedelta(days=3650)


class PkiUnavailable(RuntimeError):
    """No key for this municipality (or no key set at all): certificates cannot be issued."""


@dataclass(frozen=True)
class KeyPair:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate


@dataclass(frozen=True)
class CertificatePki:
    root: x509.Certificate
    tsa: KeyPair
    signers: dict[str, KeyPair]  # by municipality code

    def signer(self, municipality_code: str) -> KeyPair:
        found = self.signers.get(municipality_code)
        if found is None:
            raise PkiUnavailable(f"no signing key for municipality {municipality_code}")
        return found

    @property
    def is_sandbox(self) -> bool:
        return any(is_sandbox(c) for c in (self.root, self.tsa.cert, *(p.cert for p in self.signers.values())))


def is_sandbox(cert: x509.Certificate) -> bool:
    return any(a.value == SANDBOX_ORGANIZATION for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME))


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, SANDBOX_ORGANIZATION),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _issue(subject: x509.Name, key: ec.EllipticCurvePrivateKey, issuer: KeyPair | None, *, ca: bool,
           eku: x509.ObjectIdentifier | None = None, now: dt.datetime) -> x509.Certificate:
    builder = (x509.CertificateBuilder().subject_name(subject)
               .issuer_name(issuer.cert.subject if issuer else subject)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + _VALIDITY)
               .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))
    if ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=False, content_commitment=False, key_encipherment=False, data_encipherment=False,
            key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False),
            critical=True)
    else:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=eku is None, key_encipherment=False, data_encipherment=False,
            key_agreement=False, key_cert_sign=False, crl_sign=False, encipher_only=False, decipher_only=False),
            critical=True)
    if issuer is not None:
        builder = builder.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
            issuer.key.public_key()), critical=False)
    if eku is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([eku]), critical=True)
    return builder.sign(issuer.key if issuer else key, hashes.SHA256())


def _pem(pair: KeyPair, chain: Iterable[x509.Certificate]) -> bytes:
    key = pair.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())
    return key + b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (pair.cert, *chain))


def generate_sandbox(directory: Path, municipalities: dict[str, str]) -> None:
    """Write a sandbox set: a root, the TSA, and a signer per municipality (code → name, e.g. 千代田区)."""
    now = dt.datetime.now(dt.UTC)
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = KeyPair(root_key, _issue(_name("Sandbox Municipal Root CA"), root_key, None, ca=True, now=now))
    (directory / "root.pem").write_bytes(root.cert.public_bytes(serialization.Encoding.PEM))
    # The root's key stays in the directory only so that development can add a municipality later.
    (directory / "root-key.pem").write_bytes(_pem(root, ()))
    tsa_key = ec.generate_private_key(ec.SECP256R1())
    tsa = KeyPair(tsa_key, _issue(_name("Mynaportal Sandbox Time-Stamping Authority"), tsa_key, root, ca=False,
                                  eku=ExtendedKeyUsageOID.TIME_STAMPING, now=now))
    (directory / "tsa.pem").write_bytes(_pem(tsa, (root.cert,)))
    for code, name in municipalities.items():
        _write_signer(directory, root, code, name, now)


def _write_signer(directory: Path, root: KeyPair, code: str, name: str, now: dt.datetime) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    pair = KeyPair(key, _issue(_name(f"{name}長 ({code})"), key, root, ca=False, now=now))
    staged = directory / f".signer-{code}-{os.getpid()}.pem"
    staged.write_bytes(_pem(pair, (root.cert,)))
    try:  # link fails if another process got there first: then its key is the one (every process loads it)
        os.link(staged, directory / f"signer-{code}.pem")
    except FileExistsError:
        pass
    finally:
        staged.unlink()


def _load_pair(path: Path) -> KeyPair:
    data = path.read_bytes()
    key = serialization.load_pem_private_key(data, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{path.name}: an EC private key is expected")
    return KeyPair(key, x509.load_pem_x509_certificates(data)[0])


def load(directory: Path, *, production: bool) -> CertificatePki:
    directory = Path(directory)
    pki = CertificatePki(
        root=x509.load_pem_x509_certificate((directory / "root.pem").read_bytes()),
        tsa=_load_pair(directory / "tsa.pem"),
        signers={p.stem.removeprefix("signer-"): _load_pair(p) for p in sorted(directory.glob("signer-*.pem"))},
    )
    if production and pki.is_sandbox:
        raise RuntimeError("production refuses sandbox certificate keys (MYNAPORTAL_CERTIFICATE_PKI_DIR)")
    return pki


def load_or_create_sandbox(directory: Path, municipalities: dict[str, str]) -> CertificatePki:
    """The sandbox set, generated on first use (atomically: of two processes starting together one set wins);
    municipalities added since get their signer from the stored root."""
    directory = Path(directory)
    if not directory.exists():
        directory.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}-"))
        try:
            generate_sandbox(staging, municipalities)
            os.rename(staging, directory)
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
            if not directory.exists():
                raise
    missing = {c: n for c, n in municipalities.items() if not (directory / f"signer-{c}.pem").exists()}
    if missing:
        root = _load_pair(directory / "root-key.pem")
        now = dt.datetime.now(dt.UTC)
        for code, name in missing.items():
            _write_signer(directory, root, code, name, now)
    return load(directory, production=False)
