"""Making one certificate: its text from the registers, its PDF, the municipality's signature and timestamp.

``CertificateIssuer`` is built once per process (fonts parsed, keys loaded); the database work stays with the
caller, and no transaction is held while a document is drawn and signed.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from api.certificates import content, pki
from api.certificates.documents import CertificateText
from api.certificates.models import CertificateIssuance
from api.certificates.rendering import Renderer
from api.certificates.signing import MunicipalSigner
from api.certificates.to_unicode import outside_bmp
from api.people.individual_number import IndividualNumberCipher
from api.people.models import Municipality
from api.platform.errors import PortalError
from api.platform.settings import Settings

logger = logging.getLogger(__name__)


def new_public_id() -> str:
    """The QR code's id: 128 random bits, URL-safe (unguessable; the serial number is not)."""
    return secrets.token_urlsafe(16)


def new_serial(year: int) -> str:
    return f"{year}-{secrets.randbelow(10**10):010d}"


@dataclass
class StepTimes:
    """Seconds spent per step, summed over the process's documents (the benchmark reads them)."""

    text: float = 0.0
    render: float = 0.0
    sign: float = 0.0
    documents: int = 0
    extra: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Produced:
    pdf: bytes
    pages: int
    sha256: bytes


class CertificateIssuer:
    def __init__(self, keys: pki.CertificatePki | None, *, public_url: str, sandbox_dir: Path | None = None,
                 renderer: Renderer | None = None) -> None:
        self.renderer = renderer or Renderer()
        self.signer = MunicipalSigner(keys) if keys is not None else None
        self.public_url = public_url.rstrip("/")
        self._sandbox_dir = sandbox_dir
        self.times = StepTimes()
        # Documents made at once in this process: more would only queue for the CPU while holding database
        # connections (a burst of 1,000 kiosk requests exhausted the pool: 30 s checkout timeouts); the rest wait here.
        self.slots = asyncio.Semaphore(8)

    @classmethod
    def from_settings(cls, settings: Settings) -> CertificateIssuer:
        directory = settings.certificate_pki_dir
        if directory is None:
            return cls(None, public_url=settings.public_url)
        if settings.production:
            return cls(pki.load(directory, production=True), public_url=settings.public_url)
        return cls(pki.load_or_create_sandbox(directory, {}), public_url=settings.public_url, sandbox_dir=directory)

    def verification_url(self, public_id: str) -> str:
        return f"{self.public_url}/certificates/v1/verify/{public_id}"

    async def ensure_signer(self, session: AsyncSession, municipality_code: str) -> None:
        """The sandbox makes a signer for a municipality it has not seen yet; production has them all or refuses."""
        if self.signer is None:
            raise PortalError("ISSUING_UNAVAILABLE", "Certificates cannot be issued on this server now.")
        if self.signer.has(municipality_code):
            return
        municipality = await session.get(Municipality, municipality_code)
        if self._sandbox_dir is None or municipality is None:
            raise PortalError("ISSUING_UNAVAILABLE", "This municipality's signing key is not installed here.")
        keys = pki.load_or_create_sandbox(self._sandbox_dir, {municipality_code: municipality.name})
        self.signer.add(municipality_code, keys.signer(municipality_code))

    async def text(self, session: AsyncSession, row: CertificateIssuance, *,
                   cipher: IndividualNumberCipher | None = None, issued_at: datetime | None = None) -> CertificateText:
        started = time.perf_counter()
        options = content.Options(**row.options)
        source = await content.source_of(session, row.kind, row.subject_person_id, options)
        if source.municipality_code != row.municipality_code:
            # The register moved (a 転出 between the request and the issue): the old municipality cannot certify.
            raise PortalError("CERTIFICATE_NOT_AVAILABLE", "The register changed since the request; ask again.")
        issue = content.Issue(row.serial, (issued_at or row.issued_at or row.requested_at).date(),
                              self.verification_url(row.public_id))
        text = await content.build(session, row.kind, row.subject_person_id, options, source, issue,
                                   cipher=cipher if row.includes_individual_number else None)
        self.renderer.check(text)  # a missing glyph fails here, before anything is signed or stored
        self.times.text += time.perf_counter() - started
        return text

    async def produce(self, text: CertificateText, municipality_code: str) -> Produced:
        assert self.signer is not None
        started = time.perf_counter()
        rendered = self.renderer.render(text)
        drawn = time.perf_counter()
        signed = await self.signer.sign(rendered.pdf, municipality_code, reason=text.title,
                                        location=text.municipality, outside_bmp=outside_bmp(text.strings()))
        self.times.render += drawn - started
        self.times.sign += time.perf_counter() - drawn
        self.times.documents += 1
        return Produced(signed.pdf, rendered.pages, hashlib.sha256(signed.pdf).digest())


class LazyIssuer:
    """The process's issuer, built on first use (fonts and keys are not loaded by apps that never issue)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._issuer: CertificateIssuer | None = None

    def get(self) -> CertificateIssuer:
        if self._issuer is None:
            self._issuer = CertificateIssuer.from_settings(self._settings)
        return self._issuer
