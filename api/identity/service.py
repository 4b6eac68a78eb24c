"""The identity unit of work: card and phone login, refresh, phone credentials, lost cards, TV sign-in.

Each method opens its own short transactions from the session factory. Network work (OCSP, CRL)
happens outside any transaction; rate-limit counts (api.platform.rate_limits, shared by every worker) and
spent challenges are recorded before the slow checks run, so a failed login still spends its challenge and
counts against the limits.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import uuid
from collections.abc import Callable, Sequence
from functools import cached_property
from pathlib import Path

import httpx
from cryptography import x509
from sqlalchemy import LargeBinary, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.identity import cards, challenges, device, loss_reports, sessions
from api.identity.pki_models import Card, CertificateProfile, IssuedCertificate, PhoneCredential
from api.identity.revocation import RevocationChecker, RevocationUnavailable, Status
from api.identity.sandbox_ca import SandboxCA, is_sandbox_certificate
from api.identity.verification import ChainVerifier, CheckedPath, Usage, verify_signature
from api.platform.db import utcnow
from api.platform.errors import PortalError
from api.platform.rate_limits import Limit, RateLimiter
from api.platform.scopes import PERSON_SCOPES
from api.platform.settings import Settings

logger = logging.getLogger("api.identity")
PHONE_CREDENTIAL_CONTEXT = b"mynaportal-phone-credential-v2"
_LOGIN_PROFILES = {CertificateProfile.CARD_AUTH, CertificateProfile.PHONE_AUTH}


def phone_credential_message(nonce: bytes, auth_csr_der: bytes, sign_csr_der: bytes) -> bytes:
    """What the card's signature key signs to vouch for a phone's two CSRs: a fixed context, then the server's
    single-use nonce and the two CSRs, each with a 2-byte length, so an old signature cannot be replayed."""
    return PHONE_CREDENTIAL_CONTEXT + b"".join(len(part).to_bytes(2, "big") + part
                                               for part in (nonce, auth_csr_der, sign_csr_der))


def phone_challenge_client(person_id: uuid.UUID) -> str:
    """The challenge of a phone-credential issuance is bound to the signed-in person (as a login's to its client)."""
    return f"phone-credential:{person_id}"


def load_anchors(path: Path) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(Path(path).read_bytes())


# This server's revocations of a certificate (the certificate, its card, its phone credential): built once.
_OWN_REVOCATION = (select(IssuedCertificate.revoked_at, Card.revoked_at, PhoneCredential.revoked_at)
                   .join(Card, Card.id == IssuedCertificate.card_id)
                   .outerjoin(PhoneCredential, PhoneCredential.id == IssuedCertificate.phone_credential_id)
                   .where(IssuedCertificate.fingerprint == bindparam("fingerprint", type_=LargeBinary)))


class IdentityService:
    def __init__(
        self,
        settings: Settings,
        session_factory: async_sessionmaker[AsyncSession],
        *,
        ca: SandboxCA | None,
        anchors: Sequence[x509.Certificate],
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        if settings.production and any(is_sandbox_certificate(anchor) for anchor in anchors):
            raise RuntimeError("production refuses sandbox trust anchors (MYNAPORTAL_TRUST_ANCHORS)")
        self.settings = settings
        self.session_factory = session_factory
        self.ca = ca
        self.clock = clock
        window = int(settings.login_limit_window.total_seconds())
        self.limiter = RateLimiter(settings.rate_limit_storage, prefix=settings.rate_limit_prefix)
        self.certificate_limit = Limit(settings.login_limit_per_certificate, window, moving=False)
        self.client_limit = Limit(settings.login_limit_per_client, window, moving=False)
        self.chains = ChainVerifier(anchors, ca.intermediates if ca else ())
        self.revocation = RevocationChecker(sources=settings.revocation_sources, max_age=settings.revocation_max_age,
                                            transport=transport, clock=lambda: self.clock())

    @classmethod
    def from_settings(cls, settings: Settings, session_factory: async_sessionmaker[AsyncSession], *,
                      transport: httpx.AsyncBaseTransport | None = None) -> IdentityService:
        ca = SandboxCA.load_or_create(settings.sandbox_ca_dir, settings.public_url) if settings.sandbox_ca_dir \
            else None
        if settings.trust_anchors_file is not None:
            anchors = load_anchors(settings.trust_anchors_file)
        else:
            anchors = ca.roots if ca else []
        return cls(settings, session_factory, ca=ca, anchors=anchors, transport=transport)

    # -- card and phone login ---------------------------------------------------------------------
    async def start_login(self, client_id: str) -> challenges.Challenge:
        self._require_anchors()
        async with self.session_factory() as session, session.begin():
            return await challenges.start_challenge(session, client_id, self.clock())

    async def complete_login(self, challenge_id: uuid.UUID, client_id: str, certificate: bytes,
                             chain: Sequence[bytes], signature: bytes, *,
                             shared_terminal_id: str | None = None, origin: str | None = None) -> sessions.TokenPair:
        """Sign in with the card (or phone). ``shared_terminal_id`` marks a shared terminal's login (a counter,
        a kiosk): see ``sessions.SharedTerminal``. ``origin``: a browser's login through the local card helper,
        which signs ``challenges.origin_bound_message`` for the page's origin (the caller passes its own)."""
        self._require_anchors()
        terminal = None
        if shared_terminal_id is not None:
            terminal = sessions.SharedTerminal(challenges.check_terminal_id(shared_terminal_id),
                                               self.settings.shared_terminal_idle_timeout)
        now = self.clock()
        fingerprint = hashlib.sha256(certificate).hexdigest()
        waits = [await self.limiter.hit(self.certificate_limit, "login-certificate", fingerprint),
                 await self.limiter.hit(self.client_limit, "login-client", client_id[:100])]
        if any(waits):
            retry = max(w for w in waits if w)
            raise PortalError("RATE_LIMITED", f"Too many login attempts; retry in {retry} s.",
                              extensions={"retryAfter": retry})
        async with self.session_factory() as session, session.begin():
            challenge = await challenges.spend_challenge(session, challenge_id, client_id, now)
        path = await self.check_certificate(certificate, chain, Usage.AUTHENTICATION)
        message = challenges.login_message(client_id, challenge.nonce) if origin is None \
            else challenges.origin_bound_message(origin, challenge.nonce)
        verify_signature(path.leaf, message, signature)
        async with self.session_factory() as session:
            issued = await self._linked(session, path, _LOGIN_PROFILES)
        async with self.session_factory() as session, session.begin():
            if not await sessions.certificate_usable(session, issued.id):
                raise _revoked()  # revoked while the checks ran
            return await sessions.start_session(
                session, issued.person_id, scopes=PERSON_SCOPES, client=client_id,
                access_ttl=self.settings.access_token_ttl, refresh_ttl=self.settings.refresh_token_ttl, now=now,
                certificate_id=issued.id, shared_terminal=terminal)

    async def end_session(self, token_id: uuid.UUID) -> None:
        """Sign out (a shared terminal ends its resident's session so)."""
        async with self.session_factory() as session, session.begin():
            await sessions.end_session(session, token_id, self.clock())

    async def check_certificate(self, certificate: bytes, chain: Sequence[bytes], usage: Usage) -> CheckedPath:
        """Chain to an anchor, dates, key usage, then revocation: this server's own revocations first (a card it
        revoked is refused on the very next request, whatever any cache holds), then OCSP, CRL (cached)."""
        path = self.chains.check(certificate, chain, usage, self.clock())
        async with self.session_factory() as session:
            await self.check_own_revocation(session, path)
        await self.check_network_revocation(path)
        return path

    async def check_without_own_revocation(self, certificate: bytes, chain: Sequence[bytes],
                                           usage: Usage) -> CheckedPath:
        """Chain, dates, usage and the network's status (OCSP, CRL; cached), no database: for a caller that checks
        this server's own revocations in its own transaction (``check_own_revocation``), before it acts."""
        path = self.chains.check(certificate, chain, usage, self.clock())
        await self.check_network_revocation(path)
        return path

    @staticmethod
    async def check_own_revocation(session: AsyncSession, path: CheckedPath) -> None:
        own = (await session.execute(_OWN_REVOCATION, {"fingerprint": path.fingerprint})).first()
        if own is not None and any(at is not None for at in own):
            raise _revoked()

    async def check_network_revocation(self, path: CheckedPath) -> None:
        try:
            status = await self.revocation.status(path.leaf, path.issuer)
        except RevocationUnavailable as error:
            logger.warning("revocation status unavailable: %s", error)
            raise PortalError("REVOCATION_UNAVAILABLE",
                              "The certificate's revocation status cannot be checked now; try again.") from error
        if status is Status.REVOKED:
            raise _revoked()

    async def _linked(self, session: AsyncSession, path: CheckedPath,
                      profiles: set[CertificateProfile]) -> IssuedCertificate:
        issued = await session.scalar(select(IssuedCertificate).where(
            IssuedCertificate.fingerprint == path.fingerprint))
        if issued is None or issued.profile not in profiles:
            raise PortalError("CERTIFICATE_UNKNOWN", "This certificate is not linked to a person here.")
        return issued

    def _require_anchors(self) -> None:
        if not self.chains.anchors:
            raise PortalError("CARD_LOGIN_UNAVAILABLE", "Card login is not configured on this server.")

    async def refresh(self, refresh_token: str) -> sessions.TokenPair:
        now = self.clock()
        async with self.session_factory() as session:
            try:
                async with session.begin():
                    # Re-check the family's certificate (locking it before the refresh token, in the order a
                    # revocation takes them): a revoked one ends the family (committed) and refuses.
                    usable = await sessions.certificate_usable(
                        session, await sessions.refresh_token_certificate(session, refresh_token))
                    spent = await sessions.spend_refresh_token(session, refresh_token, now)
                    if usable:
                        return await sessions.start_session(
                            session, spent.person_id, scopes=frozenset(spent.scopes.split()), client=spent.client,
                            access_ttl=self.settings.access_token_ttl, refresh_ttl=self.settings.refresh_token_ttl,
                            now=now, family_id=spent.family_id, certificate_id=spent.certificate_id)
                    await sessions.revoke_family(session, spent.family_id, now)
                raise _revoked()
            except PortalError as error:
                if error.code != "REFRESH_TOKEN_REUSED":
                    raise
                refused = error
            # The reuse ended the family inside the rolled-back transaction: do it again and commit.
            async with session.begin():
                family = await session.scalar(select(sessions.RefreshToken.family_id).where(
                    sessions.RefreshToken.token_hash == sessions.hash_token(refresh_token)))
                if family is not None:
                    await sessions.revoke_family(session, family, now)
            raise refused

    # -- smartphone credential ----------------------------------------------------------------------
    async def start_phone_credential(self, person_id: uuid.UUID) -> challenges.Challenge:
        if self.ca is None:
            raise PortalError("CARD_LOGIN_UNAVAILABLE", "This server does not issue phone credentials.")
        async with self.session_factory() as session, session.begin():
            return await challenges.start_challenge(session, phone_challenge_client(person_id), self.clock())

    async def issue_phone_credential(self, person_id: uuid.UUID, challenge_id: uuid.UUID, auth_csr_der: bytes,
                                     sign_csr_der: bytes, sign_certificate: bytes, chain: Sequence[bytes],
                                     signature: bytes) -> cards.PhoneCertificates:
        """Issue the phone's two certificates for its two keys, vouched for by the card's signature over a
        fresh challenge. The challenge is spent (and committed) first: a replayed request is refused before
        anything else, and the current phone keeps its credential."""
        if self.ca is None:
            raise PortalError("CARD_LOGIN_UNAVAILABLE", "This server does not issue phone credentials.")
        auth_csr, sign_csr = cards.load_csr(auth_csr_der), cards.load_csr(sign_csr_der)
        cards.require_distinct_keys(auth_csr, sign_csr)
        async with self.session_factory() as session, session.begin():
            challenge = await challenges.spend_challenge(session, challenge_id, phone_challenge_client(person_id),
                                                         self.clock())
        path = await self.check_certificate(sign_certificate, chain, Usage.SIGNATURE)
        verify_signature(path.leaf, phone_credential_message(challenge.nonce, auth_csr_der, sign_csr_der), signature)
        async with self.session_factory() as session:
            issued = await self._linked(session, path, {CertificateProfile.CARD_SIGN})
            card = await session.get(Card, issued.card_id)
        if issued.person_id != person_id or card is None or card.revoked_at is not None:
            raise PortalError("CARD_NOT_FOUND", "This card is not a valid card of the signed-in person.")
        async with self.session_factory() as session, session.begin():
            return await cards.issue_phone_credential(session, self.ca, card, auth_csr, sign_csr, now=self.clock())

    async def report_card_lost(self, person_id: uuid.UUID) -> int:
        async with self.session_factory() as session, session.begin():
            return await loss_reports.report_lost(session, person_id, now=self.clock())

    async def active_phone_credential(self, person_id: uuid.UUID) -> PhoneCredential | None:
        async with self.session_factory() as session:
            return await session.scalar(select(PhoneCredential).where(
                PhoneCredential.person_id == person_id, PhoneCredential.revoked_at.is_(None)))

    # -- the sandbox CA's OCSP responder and CRLs ------------------------------------------------------
    async def issued_certificate(self, issuer: str, serial: int) -> IssuedCertificate | None:
        async with self.session_factory() as session:
            return await session.scalar(select(IssuedCertificate).where(
                IssuedCertificate.issuer == issuer, IssuedCertificate.serial == f"{serial:x}"))

    async def revoked_certificates(self, issuer: str) -> list[tuple[int, dt.datetime, str | None]]:
        """(serial, revoked at, reason) of the issuer's revoked certificates: a CRL's entries."""
        async with self.session_factory() as session:
            rows = (await session.execute(select(IssuedCertificate.serial, IssuedCertificate.revoked_at,
                                                 IssuedCertificate.revocation_reason)
                                          .where(IssuedCertificate.issuer == issuer,
                                                 IssuedCertificate.revoked_at.is_not(None)))).all()
        return [(int(serial, 16), at, reason) for serial, at, reason in rows]

    # -- TV sign-in (RFC 8628) ------------------------------------------------------------------------
    async def start_device(self, client_id: str, scope: str | None,
                           requester: device.DeviceRequester | None = None) -> device.DeviceStart:
        async with self.session_factory() as session, session.begin():
            return await device.start_device_authorization(session, client_id, scope, self.clock(), requester)

    async def describe_device(self, user_code: str) -> device.DeviceSignInRequest:
        async with self.session_factory() as session:
            return await device.describe(session, user_code, self.clock())

    async def decide_device(self, user_code: str, person_id: uuid.UUID, *, approve: bool,
                            session_token_id: uuid.UUID | None = None, confirmed_in_front_of_it: bool = False) -> str:
        async with self.session_factory() as session, session.begin():
            row = await device.decide(session, user_code, person_id, approve=approve, now=self.clock(),
                                      session_token_id=session_token_id,
                                      confirmed_in_front_of_it=confirmed_in_front_of_it)
            return row.user_code

    async def poll_device(self, device_code: str, client_id: str) -> sessions.TokenPair:
        now = self.clock()
        async with self.session_factory() as session, session.begin():
            # The approving session's certificate, locked before the grant (the order a revocation takes them).
            certificate = await device.approving_certificate(session, device_code)
            usable = await sessions.certificate_usable(session, certificate)
            # The poll's bookkeeping (last poll, a longer interval) commits even when the answer is an error.
            outcome = await device.poll(session, device_code, client_id, now)
            if isinstance(outcome, device.DeviceTokenError):
                raise_after_commit = outcome
            else:
                if outcome.certificate_id != certificate:  # approved between the two reads (rare)
                    usable = await sessions.certificate_usable(session, outcome.certificate_id)
                if usable:
                    return await sessions.start_session(
                        session, outcome.person_id, scopes=outcome.scopes, client=outcome.client_id,
                        access_ttl=self.settings.access_token_ttl, refresh_ttl=self.settings.refresh_token_ttl,
                        now=now, certificate_id=outcome.certificate_id)
                # The approving phone's certificate was revoked since: the grant stays consumed.
                raise_after_commit = device.DeviceTokenError("access_denied", "The approving session has ended.")
        raise raise_after_commit


def _revoked() -> PortalError:
    return PortalError("CERTIFICATE_REVOKED", "This certificate has been revoked.")


class ProcessIdentityService:
    """The process's one IdentityService (its revocation cache is per process), made on first use: loading the
    sandbox CA reads its keys from disk or generates them. create_app hands it to GraphQL and the HTTP routes."""

    def __init__(self, settings: Settings, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self._settings = settings
        self._session_factory = session_factory

    @cached_property
    def service(self) -> IdentityService:
        return IdentityService.from_settings(self._settings, self._session_factory)
