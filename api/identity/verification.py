"""Certificate path and signature verification against configured trust anchors (no network here).

The chain: leaf -> intermediates (sent by the client or configured) -> a trust anchor; every link's
signature, validity dates and CA flag; the leaf's key usage. Revocation is checked by the caller
through ``RevocationChecker`` with the leaf and its issuer returned here.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from api.platform.errors import PortalError

MAX_CHAIN = 4
MAX_CERTIFICATE_BYTES = 8192
MAX_CACHED_PATHS = 1024  # checked paths kept per verifier (a card signing again: corrections, several children)
MAX_CACHED_ISSUERS = 64  # chain certificates as sent, parsed: the few CAs every card of a generation names


class Usage(enum.StrEnum):
    AUTHENTICATION = "authentication"  # digitalSignature
    SIGNATURE = "signature"  # digitalSignature + nonRepudiation


@dataclass(frozen=True)
class CheckedPath:
    leaf: x509.Certificate
    issuer: x509.Certificate
    fingerprint: bytes  # SHA-256 of the leaf's DER


def load_certificate(der: bytes) -> x509.Certificate:
    if not der or len(der) > MAX_CERTIFICATE_BYTES:
        raise PortalError("CERTIFICATE_INVALID", "The certificate is empty or too large.")
    try:
        return x509.load_der_x509_certificate(der)
    except ValueError as error:
        raise PortalError("CERTIFICATE_INVALID", "The certificate is not a DER X.509 certificate.") from error


# The hash that goes with each EC curve; next-generation cards (from 2026) sign with P-384 and SHA-384.
_EC_HASHES: dict[type[ec.EllipticCurve], type[hashes.HashAlgorithm]] = {
    ec.SECP256R1: hashes.SHA256, ec.SECP384R1: hashes.SHA384}
P384_RAW_SIGNATURE = 96  # r || s, 48 bytes each, big-endian


def verify_signature(cert: x509.Certificate, message: bytes, signature: bytes, *, prehashed: bool = False) -> None:
    """RSA keys (today's card): PKCS#1 v1.5 with SHA-256. EC P-256 keys (the phone): ECDSA with SHA-256, DER.
    EC P-384 keys (next-generation cards): ECDSA with SHA-384, the card's raw r || s (96 bytes).

    ``prehashed``: ``message`` is already a SHA-256 digest (a relying party's signing transaction registers only
    the digest of its document), signed as such by every kind of key."""
    key = cert.public_key()
    try:
        if prehashed and len(message) != hashes.SHA256.digest_size:
            raise InvalidSignature("a prehashed message is a SHA-256 digest")
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, message, padding.PKCS1v15(),
                       utils.Prehashed(hashes.SHA256()) if prehashed else hashes.SHA256())
        elif isinstance(key, ec.EllipticCurvePublicKey) and type(key.curve) in _EC_HASHES:
            if isinstance(key.curve, ec.SECP384R1):
                signature = _der_of_raw(signature)
            algorithm = utils.Prehashed(hashes.SHA256()) if prehashed else _EC_HASHES[type(key.curve)]()
            key.verify(signature, message, ec.ECDSA(algorithm))
        else:
            raise InvalidSignature("unsupported key type")
    except InvalidSignature as error:
        raise PortalError("SIGNATURE_INVALID", "The signature does not match the certificate's key.") from error


def _der_of_raw(signature: bytes) -> bytes:
    if len(signature) != P384_RAW_SIGNATURE:
        raise InvalidSignature("a P-384 signature is 96 bytes of r || s")
    half = P384_RAW_SIGNATURE // 2
    return encode_dss_signature(int.from_bytes(signature[:half], "big"), int.from_bytes(signature[half:], "big"))


class ChainVerifier:
    """A path once checked (parsing, every link's signature, CA flags, the leaf's usage: what a certificate is
    and who issued it never change) is kept, keyed by the exact bytes sent and the usage; each use checks the
    path's dates again. Revocation is never cached here."""

    def __init__(self, anchors: Iterable[x509.Certificate], intermediates: Iterable[x509.Certificate] = ()) -> None:
        self.anchors = list(anchors)
        self._anchor_fingerprints = {a.fingerprint(hashes.SHA256()) for a in self.anchors}
        self.intermediates = list(intermediates)
        self._parsed: OrderedDict[bytes, x509.Certificate] = OrderedDict()
        self._checked: OrderedDict[tuple[bytes, tuple[bytes, ...], Usage],
                                   tuple[CheckedPath, list[x509.Certificate]]] = OrderedDict()

    def check(self, leaf_der: bytes, chain_der: Sequence[bytes], usage: Usage, now: dt.datetime) -> CheckedPath:
        key = (bytes(leaf_der), tuple(bytes(der) for der in chain_der), usage)
        found = self._checked.get(key)
        if found is not None:
            checked, path = found
            for cert in path:
                _check_dates(cert, now)
            self._checked.move_to_end(key)
            return checked
        checked, path = self._check(leaf_der, chain_der, usage, now)
        self._checked[key] = (checked, path)
        while len(self._checked) > MAX_CACHED_PATHS:
            self._checked.popitem(last=False)
        return checked

    def _check(self, leaf_der: bytes, chain_der: Sequence[bytes], usage: Usage, now: dt.datetime
               ) -> tuple[CheckedPath, list[x509.Certificate]]:
        leaf = load_certificate(leaf_der)
        if len(chain_der) > MAX_CHAIN:
            raise PortalError("CERTIFICATE_INVALID", f"At most {MAX_CHAIN} chain certificates.")
        candidates = [self._chain_certificate(der) for der in chain_der] + self.intermediates + self.anchors
        _check_dates(leaf, now)
        _check_leaf_usage(leaf, usage)
        path = [leaf]
        current = leaf
        for _ in range(MAX_CHAIN + 1):
            if current.fingerprint(hashes.SHA256()) in self._anchor_fingerprints:
                return CheckedPath(leaf, path[1] if len(path) > 1 else leaf,
                                   hashlib.sha256(leaf_der).digest()), path
            issuer = _issuer_of(current, candidates)
            if issuer is None:
                raise PortalError("CERTIFICATE_UNTRUSTED", "The certificate does not chain to a trusted root.")
            _check_dates(issuer, now)
            _check_ca(issuer)
            path.append(issuer)
            current = issuer
        raise PortalError("CERTIFICATE_UNTRUSTED", "The certificate chain is too long.")


    def _chain_certificate(self, der: bytes) -> x509.Certificate:
        found = self._parsed.get(der)
        if found is None:
            found = self._parsed[bytes(der)] = load_certificate(der)
            while len(self._parsed) > MAX_CACHED_ISSUERS:
                self._parsed.popitem(last=False)
        return found


def _issuer_of(cert: x509.Certificate, candidates: Sequence[x509.Certificate]) -> x509.Certificate | None:
    for candidate in candidates:
        if candidate.subject != cert.issuer or candidate is cert:
            continue
        try:
            cert.verify_directly_issued_by(candidate)
        except (ValueError, TypeError, InvalidSignature):
            continue
        return candidate
    return None


def _check_dates(cert: x509.Certificate, now: dt.datetime) -> None:
    if now > cert.not_valid_after_utc:
        raise PortalError("CERTIFICATE_EXPIRED", "The certificate has expired.")
    if now < cert.not_valid_before_utc:
        raise PortalError("CERTIFICATE_EXPIRED", "The certificate is not valid yet.")


def _check_ca(cert: x509.Certificate) -> None:
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        constraints = None
    if constraints is None or not constraints.ca:
        raise PortalError("CERTIFICATE_UNTRUSTED", "A certificate in the chain is not a CA.")


def _check_leaf_usage(cert: x509.Certificate, usage: Usage) -> None:
    try:
        key_usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound as error:
        raise PortalError("CERTIFICATE_USAGE_INVALID", "The certificate lacks key usage.") from error
    allowed = key_usage.digital_signature and not constraints.ca
    if usage is Usage.SIGNATURE:
        allowed = allowed and key_usage.content_commitment
    else:
        allowed = allowed and not key_usage.content_commitment
    if not allowed:
        raise PortalError("CERTIFICATE_USAGE_INVALID", f"The certificate is not for {usage.value}.")
