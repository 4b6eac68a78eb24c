"""What a relying party reads with an access token: userinfo (the 基本4情報 its scopes name) and the 自己情報取得API
(the person's data of one group, with provenance). A token is good while it is unexpired and unrevoked, its consent
neither withdrawn nor expired, and its client approved; every read goes on the person's record naming the client.

These run on the async stack (one joined read finds everything a token rests on): they are the hot path.
"""

from __future__ import annotations

import hashlib
import uuid
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.oidc.claims import USERINFO_DUTY, basic_claims
from api.oidc.clients import pairwise_subject
from api.oidc.dpop import DPoPError, Proof, verify_proof
from api.oidc.models import ClientStatus, OidcClient, OidcConsent, OidcToken
from api.oidc.record import PortalAgency, record_portal_release, record_release
from api.oidc.scopes import SELFINFO_PREFIX, SELFINFO_SCOPES, scope_list
from api.oidc.stored import CLAIM_JWT_ID
from api.people.models import Person
from api.platform.db import utcnow
from api.selfinfo.groups import GROUP_TITLES
from api.selfinfo.held import held_items

SessionFactory = async_sessionmaker[AsyncSession]
# SQLite has one writer: this process's resource writes take turns on an asyncio.Lock rather than in SQLite's busy
# handler (which sleeps in steps, and gave up after its timeout under load); PostgreSQL's need none.
WriteTurn = AbstractAsyncContextManager[Any]
SELFINFO_DUTY = "自己情報取得API"


class TokenRefused(Exception):
    """RFC 6750 §3.1: the error a resource answers with (401 invalid_token, 403 insufficient_scope)."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description


@dataclass(frozen=True)
class Presented:
    """How the client presented its token: the token, its scheme (Bearer or DPoP), and the DPoP proof if any."""

    token: str
    dpop: bool = False
    proof: str | None = None
    method: str = "GET"
    url: str = ""


@dataclass(frozen=True)
class Access:
    token: OidcToken
    client: OidcClient
    scopes: frozenset[str]
    proof: Proof | None = None  # a bound token's proof (its jti remembered by the caller's write)

    @property
    def subject(self) -> str:
        return pairwise_subject(self.client.pairwise_salt, self.token.person_id)


Verified = Proof | DPoPError | None


def verify_presented(presented: Presented) -> Verified:
    """A DPoP presentation's proof, its signature and claims checked before any transaction is opened (the costly
    part; whether the token needs it is known once the token is read)."""
    if not presented.dpop or presented.proof is None:
        return None
    try:
        return verify_proof(presented.proof, method=presented.method, url=presented.url, now=utcnow(),
                            access_token=presented.token)
    except DPoPError as error:
        return error


def _check_proof(token: OidcToken, presented: Presented, verified: Verified) -> Proof | None:
    """RFC 9449 §7: a bound token only as DPoP with a fresh proof by its key (and the token's hash); a bearer
    token never under the DPoP scheme. The proof to remember (its replay check is the caller's write)."""
    if token.dpop_jkt is None:
        if presented.dpop:
            raise TokenRefused(401, "invalid_token", "This access token is not DPoP-bound: send it as Bearer.")
        return None
    if not presented.dpop or presented.proof is None:
        raise TokenRefused(401, "invalid_token", "This access token is DPoP-bound: send it as DPoP with a proof.")
    if isinstance(verified, DPoPError):
        raise TokenRefused(401, "invalid_dpop_proof", str(verified)) from verified
    proof = verified
    assert proof is not None
    if proof.jkt != token.dpop_jkt:
        raise TokenRefused(401, "invalid_dpop_proof", "The DPoP proof's key is not the one the token is bound to.")
    return proof


async def remember_proof(session: AsyncSession, proof: Proof | None) -> None:
    """The proof's jti once (one statement); a replay is refused and the caller's transaction undone."""
    if proof is None:
        return
    claimed = (await session.execute(CLAIM_JWT_ID[session.get_bind().dialect.name], {
        "issuer": "dpop", "jti": proof.replay_key[:255], "expires_at": proof.until})).first()
    if claimed is None:
        raise TokenRefused(401, "invalid_dpop_proof", "The DPoP proof was used before.")


async def _find(session: AsyncSession, presented: Presented) -> tuple[OidcToken, OidcClient, OidcConsent, Any]:
    """The token, its client and consent, and (for userinfo) its person, in one read."""
    row = (await session.execute(
        select(OidcToken, OidcClient, OidcConsent, Person)
        .join(OidcClient, OidcClient.id == OidcToken.client_pk)
        .join(OidcConsent, OidcConsent.id == OidcToken.consent_id)
        .join(Person, Person.id == OidcToken.person_id, isouter=True)
        .where(OidcToken.access_token_hash == hashlib.sha256(presented.token.encode()).digest()))).first()
    if row is None:
        raise TokenRefused(401, "invalid_token", "The access token is not known.")
    return row[0], row[1], row[2], row[3]


async def access_for(session: AsyncSession, presented: Presented, verified: Verified, *, needs: str) -> Access:
    """The token's access, its DPoP proof (if bound) remembered in ``session``'s transaction."""
    checked = _checked(*(await _find(session, presented))[:3], presented, verified, needs=needs)
    await remember_proof(session, checked.proof)
    return checked


def _checked(token: OidcToken, client: OidcClient, consent: OidcConsent, presented: Presented, verified: Verified,
             *, needs: str) -> Access:
    now = utcnow()
    if token.revoked_at is not None:
        raise TokenRefused(401, "invalid_token", "The access token was revoked.")
    if token.expires_at <= now:
        raise TokenRefused(401, "invalid_token", "The access token has expired.")
    if consent.withdrawn_at is not None or (consent.expires_at is not None and consent.expires_at <= now):
        raise TokenRefused(401, "invalid_token", "The person's consent has ended.")
    if client.status is not ClientStatus.APPROVED:
        raise TokenRefused(401, "invalid_token", "The client is suspended.")
    proof = _check_proof(token, presented, verified)
    scopes = frozenset(scope_list(token.scope))
    if needs not in scopes:
        raise TokenRefused(403, "insufficient_scope", f"The token lacks the scope {needs}.")
    return Access(token, client, scopes, proof)


async def userinfo(session_factory: SessionFactory, turn: WriteTurn, portal: PortalAgency,
                   presented: Presented) -> dict[str, Any]:
    """The proof verified first; then one short transaction: the token, its client, consent and person in one
    read, the proof's jti, the record (two statements)."""
    verified = verify_presented(presented)
    async with turn, session_factory() as session, session.begin():
        token, client, consent, person = await _find(session, presented)
        access = _checked(token, client, consent, presented, verified, needs="openid")
        claims: dict[str, Any] = {"sub": access.subject}
        await remember_proof(session, access.proof)
        if person is not None:
            released = basic_claims(person, sorted(access.scopes))
            claims.update(released)
            await record_portal_release(session, await portal.get(session), access.client, access.token.person_id,
                                        sorted(released), duty=USERINFO_DUTY)
    return claims


def _time(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


async def read_category(session_factory: SessionFactory, turn: WriteTurn, presented: Presented,
                        group: str) -> dict[str, Any]:
    """The person's data of one group, each item with its provenance (Myinfo's source / lastupdated)."""
    scope = f"{SELFINFO_PREFIX}{group}"
    if scope not in SELFINFO_SCOPES:
        raise TokenRefused(404, "not_found", "No such category.")
    info_group = SELFINFO_SCOPES[scope]
    verified = verify_presented(presented)
    async with turn, session_factory() as session, session.begin():
        access = await access_for(session, presented, verified, needs=scope)
        items = [item for item in await held_items(session, access.token.person_id) if item.group is info_group]
        by_provider: dict[uuid.UUID | None, list[str]] = {}
        for item in items:
            kinds = by_provider.setdefault(item.provider.id, [])
            if item.kind not in kinds:
                kinds.append(item.kind)
        # Nothing held is still a read the person sees (the portal answered: none).
        by_provider = by_provider or {None: [info_group.value]}
        await record_release(session, access.client, access.token.person_id, by_provider,
                             duty=f"{SELFINFO_DUTY}: {access.client.name}"[:64])
    return {
        "sub": access.subject, "category": info_group.value, "title": GROUP_TITLES[info_group],
        "purpose": access.client.purpose, "retrievedAt": _time(utcnow()),
        "items": [{"kind": item.kind, "kindName": item.kind_name, "key": item.key, "value": item.value,
                   "provenance": {"source": item.provider.name, "lastUpdated": _time(item.updated_at),
                                  "legalBasis": [basis.row_id for basis in item.legal_basis]}}
                  for item in items],
    }
