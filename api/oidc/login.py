"""Login at the authorization endpoint without a password: the browser shows a QR code and a short code, the
person approves in the app after seeing the client, its purpose and the claims it asks for; consent is recorded per
person × client × purpose (optional expiry), asked again on ``prompt=consent`` or when the scopes grow, listed and
withdrawn by the person, which revokes the client's tokens at once.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from api.oidc.models import (
    ClientStatus,
    LoginStatus,
    OidcClient,
    OidcConsent,
    OidcLoginRequest,
    OidcSignTransaction,
    OidcToken,
    SignStatus,
)
from api.oidc.scopes import SCOPE_TITLES, scope_list
from api.platform.db import utcnow
from api.platform.errors import ErrorCode, PortalError

SessionFactory = async_sessionmaker[AsyncSession]
LOGIN_TTL = timedelta(minutes=5)
# Short codes a person types: no 0/O, 1/I/L.
SHORT_CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
SHORT_CODE_LENGTH = 8


@dataclass(frozen=True)
class PendingLogin:
    request: OidcLoginRequest
    client: OidcClient
    browser_secret: str


@dataclass(frozen=True)
class LoginView:
    """What the app shows before the person approves."""

    request: OidcLoginRequest
    client: OidcClient
    claims: list[tuple[str, str]]  # (scope, title)
    consent_required: bool
    sign: OidcSignTransaction | None = None  # scope sign: the transaction to sign in the app before approving


async def require_signed(session: AsyncSession, parameters: dict[str, list[str]], person_id: uuid.UUID) -> None:
    """Approving a login tied to a signing transaction: the person has signed it (in the app, just before)."""
    named = parameters.get("sign_transaction_id") or []
    if not named:
        return
    try:
        key = uuid.UUID(named[0])
    except ValueError:
        key = None
    row = await session.get(OidcSignTransaction, key) if key is not None else None
    if row is None or row.status is not SignStatus.SIGNED or row.person_id != person_id:
        raise PortalError(ErrorCode.OIDC_SIGN_REQUIRED, "Sign the relying party's document before approving this "
                                                        "login.")


async def linked_transaction(session: AsyncSession, parameters: dict[str, list[str]]) -> OidcSignTransaction | None:
    """The signing transaction a waiting login names (shown with the login in the app)."""
    named = parameters.get("sign_transaction_id") or []
    try:
        return await session.get(OidcSignTransaction, uuid.UUID(named[0])) if named else None
    except ValueError:
        return None


def new_short_code() -> str:
    return "".join(secrets.choice(SHORT_CODE_ALPHABET) for _ in range(SHORT_CODE_LENGTH))


def normalise_short_code(code: str) -> str:
    return code.replace("-", "").replace(" ", "").upper()


def secret_hash(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def start_login(session: Session, client: OidcClient, parameters: dict[str, list[str]], scope: str) -> PendingLogin:
    """The authorization request was valid (Authlib validated it): wait for the person (synchronous side)."""
    now = utcnow()
    secret = secrets.token_urlsafe(32)
    request = OidcLoginRequest(
        client_pk=client.id,
        short_code=new_short_code(),
        browser_secret_hash=secret_hash(secret),
        parameters=parameters,
        scopes=scope,
        force_consent="consent" in (parameters.get("prompt") or [""])[0].split(),
        status=LoginStatus.PENDING,
        created_at=now,
        expires_at=now + LOGIN_TTL,
    )
    session.add(request)
    session.flush()
    return PendingLogin(request, client, secret)


def active_consent(
    consents: list[OidcConsent], client: OidcClient, scopes: set[str], now: datetime
) -> OidcConsent | None:
    for consent in consents:
        if (
            consent.withdrawn_at is None
            and (consent.expires_at is None or consent.expires_at > now)
            and consent.purpose == client.purpose
            and scopes <= set(consent.scopes.split())
        ):
            return consent
    return None


async def _pending(session: AsyncSession, short_code: str, now: datetime) -> tuple[OidcLoginRequest, OidcClient]:
    request = await session.scalar(
        select(OidcLoginRequest).where(OidcLoginRequest.short_code == normalise_short_code(short_code))
    )
    if request is None or request.expires_at <= now:
        raise PortalError(ErrorCode.OIDC_LOGIN_UNKNOWN, "No such login is waiting (the code may have expired).")
    if request.status is not LoginStatus.PENDING:
        raise PortalError(ErrorCode.OIDC_LOGIN_DECIDED, "This login was already decided.")
    client = await session.get(OidcClient, request.client_pk)
    if client is None or client.status is not ClientStatus.APPROVED:
        raise PortalError(ErrorCode.OIDC_CLIENT_UNAVAILABLE, "This service is not available.")
    return request, client


async def _consents(session: AsyncSession, person_id: uuid.UUID, client_pk: uuid.UUID) -> list[OidcConsent]:
    return list(
        await session.scalars(
            select(OidcConsent)
            .where(OidcConsent.person_id == person_id, OidcConsent.client_pk == client_pk)
            .order_by(OidcConsent.granted_at.desc())
        )
    )


async def view_login(session_factory: SessionFactory, person_id: uuid.UUID, short_code: str) -> LoginView:
    async with session_factory() as session:
        now = utcnow()
        request, client = await _pending(session, short_code, now)
        scopes = scope_list(request.scopes)
        consent = active_consent(await _consents(session, person_id, client.id), client, set(scopes), now)
        sign = await linked_transaction(session, request.parameters)
    return LoginView(
        request,
        client,
        [(scope, SCOPE_TITLES.get(scope, scope)) for scope in scopes],
        consent_required=request.force_consent or consent is None,
        sign=sign,
    )


async def decide_login(
    session_factory: SessionFactory, person_id: uuid.UUID, short_code: str, *, approve: bool
) -> LoginView:
    """The person approves (consenting anew where needed) or denies; the browser then continues."""
    async with session_factory() as session, session.begin():
        now = utcnow()
        request, client = await _pending(session, short_code, now)
        scopes = scope_list(request.scopes)
        consents = await _consents(session, person_id, client.id)
        consent = None if request.force_consent else active_consent(consents, client, set(scopes), now)
        required = consent is None
        if approve:
            await require_signed(session, request.parameters, person_id)
        sign = await linked_transaction(session, request.parameters)
        if approve and consent is None:
            # The new consent replaces the person's earlier ones to this client (kept as history).
            for earlier in consents:
                if earlier.withdrawn_at is None:
                    earlier.withdrawn_at = now
            ttl = client.consent_ttl_seconds
            consent = OidcConsent(
                person_id=person_id,
                client_pk=client.id,
                purpose=client.purpose,
                scopes=" ".join(scopes),
                granted_at=now,
                expires_at=now + timedelta(seconds=ttl) if ttl else None,
            )
            session.add(consent)
            await session.flush()
        decided = await session.scalar(
            update(OidcLoginRequest)
            .where(OidcLoginRequest.id == request.id, OidcLoginRequest.status == LoginStatus.PENDING)
            .values(
                status=LoginStatus.APPROVED if approve else LoginStatus.DENIED,
                person_id=person_id,
                consent_id=consent.id if approve and consent else None,
                approved_at=now,
            )
            .returning(OidcLoginRequest)
        )
        if decided is None:
            raise PortalError(ErrorCode.OIDC_LOGIN_DECIDED, "This login was already decided.")
    return LoginView(
        decided, client, [(scope, SCOPE_TITLES.get(scope, scope)) for scope in scopes], consent_required=required,
        sign=sign,
    )


def take_decided(
    session: Session, request_id: uuid.UUID, browser_secret: str
) -> tuple[OidcLoginRequest, LoginStatus] | None:
    """The browser's request and its decision, once: a decided one becomes completed (its code is issued once)."""
    request = session.get(OidcLoginRequest, request_id)
    if request is None or request.browser_secret_hash != secret_hash(browser_secret) or request.expires_at <= utcnow():
        return None
    decision = request.status
    if decision in (LoginStatus.APPROVED, LoginStatus.DENIED):
        changed = session.execute(
            update(OidcLoginRequest)
            .where(OidcLoginRequest.id == request.id, OidcLoginRequest.status == decision)
            .values(status=LoginStatus.COMPLETED)
        ).rowcount
        if changed != 1:
            return None
    elif decision is not LoginStatus.PENDING:
        return None
    return request, decision


@dataclass(frozen=True)
class ConsentView:
    consent: OidcConsent
    client: OidcClient

    @property
    def active(self) -> bool:
        now = utcnow()
        return self.consent.withdrawn_at is None and (self.consent.expires_at is None or self.consent.expires_at > now)


async def person_consents(session_factory: SessionFactory, person_id: uuid.UUID) -> list[ConsentView]:
    async with session_factory() as session:
        rows = (
            await session.execute(
                select(OidcConsent, OidcClient)
                .join(OidcClient, OidcClient.id == OidcConsent.client_pk)
                .where(OidcConsent.person_id == person_id)
                .order_by(OidcConsent.granted_at.desc(), OidcConsent.id)
                .limit(100)
            )
        ).all()
    return [ConsentView(consent, client) for consent, client in rows]


async def withdraw_consent(session_factory: SessionFactory, person_id: uuid.UUID, consent_id: uuid.UUID) -> ConsentView:
    """Withdraw; every token resting on the consent is revoked in the same transaction."""
    async with session_factory() as session, session.begin():
        now = utcnow()
        consent = await session.get(OidcConsent, consent_id)
        if consent is None or consent.person_id != person_id:
            raise PortalError(ErrorCode.NOT_FOUND, "No such consent.")
        if consent.withdrawn_at is None:
            consent.withdrawn_at = now
        await session.execute(
            update(OidcToken)
            .where(OidcToken.consent_id == consent.id, OidcToken.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        client = await session.get(OidcClient, consent.client_pk)
        assert client is not None
    return ConsentView(consent, client)
