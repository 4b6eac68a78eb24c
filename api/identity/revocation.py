"""Revocation status of a certificate: OCSP (RFC 6960), falling back to the CRL, cached with bounded staleness.

Fails closed: when no source answers, the status is unavailable and the login is refused. The cache holds only
answers from the responders: an OCSP answer until ``max_age`` or its ``nextUpdate``, whichever comes first, a CRL
likewise. This server's own revocations never wait for it (``IdentityService.check_certificate`` reads them
first).
"""

from __future__ import annotations

import datetime as dt
import enum
import secrets
from collections import OrderedDict
from collections.abc import Callable, Sequence

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509 import ocsp

CLOCK_SKEW = dt.timedelta(minutes=5)
MAX_CACHED = 100_000


class Status(enum.StrEnum):
    GOOD = "good"
    REVOKED = "revoked"


class RevocationUnavailable(Exception):
    """No configured source gave a verifiable answer."""


def _verify_signed_by(issuer: x509.Certificate, signature: bytes, data: bytes,
                      algorithm: hashes.HashAlgorithm | None) -> None:
    key = issuer.public_key()
    if algorithm is None:
        raise InvalidSignature("no hash algorithm")
    if isinstance(key, rsa.RSAPublicKey):
        key.verify(signature, data, padding.PKCS1v15(), algorithm)
    elif isinstance(key, ec.EllipticCurvePublicKey):
        key.verify(signature, data, ec.ECDSA(algorithm))
    else:
        raise InvalidSignature("unsupported issuer key")


def _urls(cert: x509.Certificate) -> tuple[list[str], list[str]]:
    ocsp_urls: list[str] = []
    crl_urls: list[str] = []
    try:
        aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
        ocsp_urls = [d.access_location.value for d in aia
                     if d.access_method == x509.AuthorityInformationAccessOID.OCSP
                     and isinstance(d.access_location, x509.UniformResourceIdentifier)]
    except x509.ExtensionNotFound:
        pass
    try:
        points = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
        crl_urls = [name.value for point in points for name in (point.full_name or [])
                    if isinstance(name, x509.UniformResourceIdentifier)]
    except x509.ExtensionNotFound:
        pass
    return ocsp_urls, crl_urls


class RevocationChecker:
    """Per-process cache of answers: (issuer key hash, serial) -> status, and CRLs by URL."""

    def __init__(
        self,
        *,
        sources: Sequence[str] = ("ocsp", "crl"),
        max_age: dt.timedelta = dt.timedelta(minutes=5),
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 3.0,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.sources = tuple(sources)
        self.max_age = max_age
        self.transport = transport
        self.timeout = timeout
        self.clock = clock
        # What was answered, and until when it may be used.
        self._statuses: OrderedDict[tuple[bytes, int], tuple[Status, dt.datetime]] = OrderedDict()
        self._crls: dict[str, tuple[x509.CertificateRevocationList, dt.datetime]] = {}
        self.fetches = 0  # network round trips, for tests and the benchmark

    def cached(self, cert: x509.Certificate, issuer: x509.Certificate) -> Status | None:
        key = (self._issuer_key(issuer), cert.serial_number)
        hit = self._statuses.get(key)
        if hit is None or self.clock() >= hit[1]:
            return None
        return hit[0]

    async def status(self, cert: x509.Certificate, issuer: x509.Certificate) -> Status:
        found = self.cached(cert, issuer)
        if found is not None:
            return found
        ocsp_urls, crl_urls = _urls(cert)
        problems: list[str] = []
        async with httpx.AsyncClient(transport=self.transport, timeout=self.timeout) as client:
            for source in self.sources:
                try:
                    if source == "ocsp" and ocsp_urls:
                        found, next_update = await self._ocsp(client, ocsp_urls[0], cert, issuer)
                    elif source == "crl" and crl_urls:
                        found, next_update = await self._crl(client, crl_urls[0], cert, issuer)
                    else:
                        continue
                except (httpx.HTTPError, ValueError, InvalidSignature, RevocationUnavailable) as error:
                    problems.append(f"{source}: {type(error).__name__}: {error}")
                    continue
                self._remember((self._issuer_key(issuer), cert.serial_number), found, next_update)
                return found
        raise RevocationUnavailable("; ".join(problems) or "the certificate names no revocation source")

    @staticmethod
    def _issuer_key(issuer: x509.Certificate) -> bytes:
        return x509.SubjectKeyIdentifier.from_public_key(issuer.public_key()).digest

    def _until(self, next_update: dt.datetime | None) -> dt.datetime:
        """An answer is used for at most ``max_age``, and never past the responder's ``nextUpdate``."""
        limit = self.clock() + self.max_age
        return limit if next_update is None else min(limit, next_update)

    def _remember(self, key: tuple[bytes, int], status: Status, next_update: dt.datetime | None) -> None:
        self._statuses[key] = (status, self._until(next_update))
        self._statuses.move_to_end(key)
        while len(self._statuses) > MAX_CACHED:
            self._statuses.popitem(last=False)

    async def _ocsp(self, client: httpx.AsyncClient, url: str, cert: x509.Certificate,
                    issuer: x509.Certificate) -> tuple[Status, dt.datetime | None]:
        """The status and the answer's nextUpdate."""
        nonce = secrets.token_bytes(16)
        request = (ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA1())  # noqa: S303 - the CertID hash every responder accepts
                   .add_extension(x509.OCSPNonce(nonce), critical=False).build())
        self.fetches += 1
        response = await client.post(url, content=request.public_bytes(serialization.Encoding.DER),
                                     headers={"content-type": "application/ocsp-request"})
        response.raise_for_status()
        answer = ocsp.load_der_ocsp_response(response.content)
        if answer.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
            raise RevocationUnavailable(f"OCSP {answer.response_status.name}")
        # Only the issuing CA itself may answer here (no delegated responders in this deployment).
        if answer.responder_key_hash not in (None, self._issuer_key(issuer)) or (
                answer.responder_name is not None and answer.responder_name != issuer.subject):
            raise RevocationUnavailable("OCSP response from an unexpected responder")
        _verify_signed_by(issuer, answer.signature, answer.tbs_response_bytes, answer.signature_hash_algorithm)
        nonces = [e.value for e in answer.extensions if isinstance(e.value, x509.OCSPNonce)]
        if nonces and nonces[0].nonce != nonce:
            raise RevocationUnavailable("OCSP nonce mismatch")
        single = next(iter(answer.responses))
        if single.serial_number != cert.serial_number:
            raise RevocationUnavailable("OCSP answered for another certificate")
        now = self.clock()
        if single.this_update_utc > now + CLOCK_SKEW or (
                single.next_update_utc is not None and single.next_update_utc < now - CLOCK_SKEW):
            raise RevocationUnavailable("stale OCSP response")
        if single.certificate_status == ocsp.OCSPCertStatus.GOOD:
            return Status.GOOD, single.next_update_utc
        if single.certificate_status == ocsp.OCSPCertStatus.REVOKED:
            return Status.REVOKED, single.next_update_utc
        raise RevocationUnavailable("OCSP: unknown certificate")

    async def _crl(self, client: httpx.AsyncClient, url: str, cert: x509.Certificate,
                   issuer: x509.Certificate) -> tuple[Status, dt.datetime | None]:
        """The status and the CRL's nextUpdate."""
        now = self.clock()
        cached = self._crls.get(url)
        if cached is None or now >= cached[1]:
            self.fetches += 1
            response = await client.get(url)
            response.raise_for_status()
            crl = x509.load_der_x509_crl(response.content)
            if crl.issuer != issuer.subject or not crl.is_signature_valid(issuer.public_key()):  # type: ignore[arg-type]
                raise RevocationUnavailable("CRL not signed by the issuer")
            if crl.next_update_utc is not None and crl.next_update_utc < now - CLOCK_SKEW:
                raise RevocationUnavailable("stale CRL")
            cached = (crl, self._until(crl.next_update_utc))
            self._crls[url] = cached
        crl = cached[0]
        status = Status.REVOKED if crl.get_revoked_certificate_by_serial_number(cert.serial_number) else Status.GOOD
        return status, crl.next_update_utc
