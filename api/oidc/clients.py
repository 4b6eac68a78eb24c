"""The client registry: the operator registers a relying party (one purpose, exact redirect URIs, its public keys,
its rate limit), reviews it (pending → approved → suspended), and each client sees a person by its own ``sub``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit

from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.agencies.models import Agency, AgencyKind
from api.oidc.models import ClientStatus, OidcClient, OidcToken
from api.oidc.scopes import SUPPORTED_SCOPES
from api.platform.db import utcnow
from api.platform.errors import ErrorCode, PortalError

SessionFactory = async_sessionmaker[AsyncSession]
CLIENT_ID = re.compile(r"^[0-9A-Za-z]{1,64}$")  # デジタル認証アプリ: [0-9a-zA-Z]{1..255}; ours fit a column of 64
MAX_REDIRECT_URI = 255


@dataclass(frozen=True)
class NewClient:
    client_id: str
    name: str
    purpose: str
    redirect_uris: tuple[str, ...]
    scopes: tuple[str, ...]
    jwks: dict
    agency_kind: AgencyKind = AgencyKind.MINISTRY
    require_par: bool = False
    require_dpop: bool = False
    rate_limit_per_minute: int = 600
    consent_ttl_seconds: int | None = None


def _invalid(message: str, field: str) -> PortalError:
    return PortalError(ErrorCode.BAD_USER_INPUT, message, extensions={"field": field})


def _check(new: NewClient) -> None:
    if not CLIENT_ID.match(new.client_id):
        raise _invalid("The client id is 1 to 64 letters and digits.", "client_id")
    if not new.name.strip() or len(new.name) > 200:
        raise _invalid("The name has 1 to 200 characters.", "name")
    if not new.purpose.strip() or len(new.purpose) > 500:
        raise _invalid("A client has exactly one purpose, of 1 to 500 characters.", "purpose")
    if not new.redirect_uris:
        raise _invalid("Register at least one redirect URI.", "redirect_uris")
    for uri in new.redirect_uris:
        parts = urlsplit(uri)
        loopback = parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1")
        if len(uri) > MAX_REDIRECT_URI or parts.fragment or not parts.hostname or \
                not (parts.scheme == "https" or loopback):
            raise _invalid("Redirect URIs are absolute https URLs (http only on loopback), without a fragment, "
                           f"of at most {MAX_REDIRECT_URI} characters.", "redirect_uris")
    if "openid" not in new.scopes or not set(new.scopes) <= SUPPORTED_SCOPES:
        raise _invalid("The scopes include openid and only these: " + " ".join(sorted(SUPPORTED_SCOPES)),
                       "scopes")
    try:
        keys = KeySet.import_key_set(new.jwks)
    except (JoseError, ValueError, TypeError, KeyError) as error:
        raise _invalid("The client's keys are not a valid JWK set.", "jwks") from error
    if not keys.keys or any(key.is_private for key in keys.keys):
        raise _invalid("The client's JWK set holds its public keys only (one at least).", "jwks")
    if not 1 <= new.rate_limit_per_minute <= 100_000:
        raise _invalid("The rate limit is 1 to 100000 requests per minute.", "rate_limit_per_minute")
    if new.consent_ttl_seconds is not None and new.consent_ttl_seconds < 60:
        raise _invalid("A consent lasts at least 60 seconds.", "consent_ttl_seconds")


async def register_client(session_factory: SessionFactory, new: NewClient) -> OidcClient:
    """The operator registers a client; it waits for review (pending) and cannot be used until approved."""
    _check(new)
    async with session_factory() as session, session.begin():
        if await session.scalar(select(OidcClient.id).where(OidcClient.client_id == new.client_id)):
            raise _invalid("A client with this id is already registered.", "client_id")
        # The client appears on people's records under its own name, as the requester of what it reads.
        agency = Agency(slug=f"oidc-{new.client_id.lower()}"[:64], name=new.name, kind=new.agency_kind)
        session.add(agency)
        await session.flush()
        client = OidcClient(client_id=new.client_id, name=new.name, purpose=new.purpose, agency_id=agency.id,
                            redirect_uris=list(new.redirect_uris), scopes=" ".join(new.scopes), jwks=new.jwks,
                            status=ClientStatus.PENDING, require_par=new.require_par,
                            require_dpop=new.require_dpop, rate_limit_per_minute=new.rate_limit_per_minute,
                            consent_ttl_seconds=new.consent_ttl_seconds, pairwise_salt=os.urandom(32),
                            created_at=utcnow())
        session.add(client)
        await session.flush()
    return client


_ALLOWED = {ClientStatus.APPROVED: (ClientStatus.PENDING, ClientStatus.SUSPENDED),
            ClientStatus.SUSPENDED: (ClientStatus.APPROVED, ClientStatus.PENDING)}


async def review_client(session_factory: SessionFactory, client_id: str, status: ClientStatus) -> OidcClient:
    """Approve or suspend; suspending revokes every token the client holds at once."""
    if status not in _ALLOWED:
        raise _invalid("A review approves or suspends.", "status")
    async with session_factory() as session, session.begin():
        now = utcnow()
        client = await session.scalar(
            update(OidcClient).where(OidcClient.client_id == client_id, OidcClient.status.in_(_ALLOWED[status]))
            .values(status=status, reviewed_at=now).returning(OidcClient))
        if client is None:
            existing = await session.scalar(select(OidcClient).where(OidcClient.client_id == client_id))
            if existing is None:
                raise PortalError(ErrorCode.NOT_FOUND, "No such client.")
            if existing.status is status:
                return existing
            raise _invalid(f"A {existing.status.value} client cannot become {status.value}.", "status")
        if status is ClientStatus.SUSPENDED:
            await session.execute(update(OidcToken).where(OidcToken.client_pk == client.id,
                                                          OidcToken.revoked_at.is_(None)).values(revoked_at=now))
    return client


async def list_clients(session_factory: SessionFactory) -> list[OidcClient]:
    async with session_factory() as session:
        return list(await session.scalars(select(OidcClient).order_by(OidcClient.client_id)))


def pairwise_subject(client_salt: bytes, person_id: uuid.UUID) -> str:
    """The person's ``sub`` for one client (OIDC Core §8.1): keyed by the client's own random salt, so two
    clients' subjects for one person are unrelated, as agencies' 機関別符号 are."""
    digest = hmac.new(client_salt, person_id.bytes, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
