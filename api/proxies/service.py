"""Who may act for whom: the person themselves, a parent for a minor child, or an active proxy grant.

Other domains call ``acting_for`` before reading or changing someone's data; grants are created and
revoked only by the principal acting as themselves, so a proxy cannot grant on.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import false, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from api.people.models import ParentChild, Person
from api.people.service import ADULT_AGE, age_on
from api.platform.access_records import record_access
from api.platform.db import READ_ONLY_OPTION, chunks_among, utcnow
from api.platform.errors import PortalError
from api.platform.revocations import RevocationCounter
from api.platform.scopes import DELEGABLE_SCOPES, PERSON_SCOPES
from api.proxies.models import ProxyGrant

MAX_GRANT_DAYS = 3 * 366  # a grant must be renewed at least every three years (review, DV lesson)


class Basis(enum.StrEnum):
    SELF = "self"
    PARENT = "parent"  # 親権者 of a minor child: no grant needed
    GRANT = "grant"  # an explicit 代理人 grant


@dataclass(frozen=True)
class ActingAs:
    """An actor allowed to act for a subject with one scope, and on what basis."""

    actor_id: uuid.UUID
    subject_id: uuid.UUID
    scope: str
    basis: Basis
    grant_id: uuid.UUID | None = None


async def acting_for(
    session: AsyncSession,
    actor_id: uuid.UUID,
    subject_id: uuid.UUID,
    scope: str,
    *,
    today: date,
    purpose: str | None = None,
) -> ActingAs | None:
    """May ``actor_id`` act for ``subject_id`` with ``scope`` today? None if not.

    Allowed: the actor is the subject (basis SELF); the actor is a parent of the subject and the
    subject is a minor (PARENT, any person scope); or the subject granted the actor an unrevoked grant
    carrying ``scope`` that is valid through ``today`` (GRANT). The caller must already have checked
    that the actor's own session carries ``scope`` (``Context.require_person(scope)``): a proxy acts in
    their own name and never exceeds their own session.

    For a non-self answer an access record (actor, subject, purpose) is written in ``session`` in the
    caller's transaction, so commit it together with the action; ``purpose`` defaults to
    ``"<basis>:<scope>"``. Refusals write nothing.
    """
    if scope not in PERSON_SCOPES:
        raise ValueError(f"unknown scope {scope!r}")
    if actor_id == subject_id:
        return ActingAs(actor_id, subject_id, scope, Basis.SELF)
    acting = await _parent_of_minor(session, actor_id, subject_id, scope, today)
    if acting is None and scope in DELEGABLE_SCOPES:
        acting = await _by_grant(session, actor_id, subject_id, scope, today)
    if acting is not None:
        await record_access(session, actor_id=actor_id, subject_ids=[subject_id],
                           purpose=(purpose or f"{acting.basis}:{scope}")[:100])
    return acting


async def _parent_of_minor(
    session: AsyncSession, actor_id: uuid.UUID, subject_id: uuid.UUID, scope: str, today: date
) -> ActingAs | None:
    birth_date = await session.scalar(
        select(Person.birth_date)
        .join(ParentChild, ParentChild.child_id == Person.id)
        .where(ParentChild.parent_id == actor_id, ParentChild.child_id == subject_id)
    )
    if birth_date is None or age_on(birth_date, today) >= ADULT_AGE:
        return None
    return ActingAs(actor_id, subject_id, scope, Basis.PARENT)


async def _by_grant(
    session: AsyncSession, actor_id: uuid.UUID, subject_id: uuid.UUID, scope: str, today: date
) -> ActingAs | None:
    grants = await session.scalars(
        select(ProxyGrant).where(
            ProxyGrant.proxy_person_id == actor_id,
            ProxyGrant.principal_person_id == subject_id,
            ProxyGrant.revoked_at.is_(None),
            ProxyGrant.valid_until >= today,
        ).order_by(ProxyGrant.created_at, ProxyGrant.id)
    )
    for grant in grants:
        if scope in grant.scope_set:
            return ActingAs(actor_id, subject_id, scope, Basis.GRANT, grant.id)
    return None


MAX_EMAIL = 254


def _grant_checks(principal_id_is_proxy: bool, wanted: frozenset[str], valid_until: date, today: date) -> None:
    if not wanted:
        raise PortalError("PROXY_SCOPE_INVALID", "A grant needs at least one scope.")
    if not wanted <= DELEGABLE_SCOPES:
        raise PortalError("PROXY_SCOPE_INVALID",
                          "These scopes cannot be delegated: " + ", ".join(sorted(wanted - DELEGABLE_SCOPES)))
    if principal_id_is_proxy:
        raise PortalError("PROXY_SELF", "A person cannot be their own proxy.")
    if valid_until < today or (valid_until - today).days > MAX_GRANT_DAYS:
        raise PortalError("PROXY_VALIDITY_INVALID",
                          f"The end date must be between today and {MAX_GRANT_DAYS} days from today.")


def normalise_email(raw: str) -> str:
    email = raw.strip().lower()
    local, _, domain = email.partition("@")
    if not local or "." not in domain or len(email) > MAX_EMAIL or not email.isprintable() or " " in email:
        raise PortalError("BAD_USER_INPUT", "The proxy's e-mail address is not valid.",
                          extensions={"field": "proxyEmail"})
    return email


async def invite_proxy(
    session: AsyncSession,
    *,
    principal_id: uuid.UUID,
    proxy_email: str,
    scopes: Iterable[str],
    valid_until: date,
    today: date,
) -> ProxyGrant:
    """The principal grants scopes to whoever holds ``proxy_email``: a pending grant that acts only once that
    person accepts it (``accept_grant``). The same row and the same answer whether or not the address is
    registered: nothing here reads who is."""
    email = normalise_email(proxy_email)
    own = await session.scalar(select(Person.email).where(Person.id == principal_id))
    wanted = frozenset(scopes)
    _grant_checks(own is not None and own.lower() == email, wanted, valid_until, today)
    grant = ProxyGrant(principal_person_id=principal_id, proxy_email=email, scopes=" ".join(sorted(wanted)),
                       valid_until=valid_until)
    session.add(grant)
    await session.flush()
    return grant


async def accept_grant(session: AsyncSession, *, proxy_id: uuid.UUID, grant_id: uuid.UUID) -> ProxyGrant:
    """The invited person (their registered e-mail is the invited address) accepts: the grant starts to act.
    Anyone else, or a grant already accepted or revoked, gets NOT_FOUND (idempotent for its own proxy)."""
    email = await session.scalar(select(Person.email).where(Person.id == proxy_id))
    grant = await session.get(ProxyGrant, grant_id, with_for_update=True)
    if grant is not None and grant.proxy_person_id == proxy_id:
        return grant  # already accepted: idempotent
    if grant is None or email is None or grant.proxy_email != email.lower() or grant.proxy_person_id is not None \
            or grant.revoked_at is not None:
        raise PortalError("NOT_FOUND", "No such grant.")
    if grant.principal_person_id == proxy_id:
        raise PortalError("PROXY_SELF", "A person cannot be their own proxy.")
    grant.proxy_person_id = proxy_id
    await session.flush()
    return grant


async def grant_proxy(
    session: AsyncSession,
    *,
    principal_id: uuid.UUID,
    proxy_id: uuid.UUID,
    scopes: Iterable[str],
    valid_until: date,
    today: date,
) -> ProxyGrant:
    """The principal (acting as themselves: callers pass the session's own person) grants scopes to a person
    the caller already knows by id (no invitation)."""
    wanted = frozenset(scopes)
    _grant_checks(principal_id == proxy_id, wanted, valid_until, today)
    if await session.get(Person, proxy_id) is None:
        raise PortalError("NOT_FOUND", "No such person.")
    grant = ProxyGrant(principal_person_id=principal_id, proxy_person_id=proxy_id,
                       scopes=" ".join(sorted(wanted)), valid_until=valid_until)
    session.add(grant)
    await session.flush()
    return grant


async def revoke_grant(session: AsyncSession, *, principal_id: uuid.UUID, grant_id: uuid.UUID) -> ProxyGrant:
    """Only the principal revokes (conditional UPDATE: a second revoke changes nothing)."""
    GRANT_REVOCATIONS.note(session)
    revoked = await session.scalar(
        update(ProxyGrant)
        .where(ProxyGrant.id == grant_id, ProxyGrant.principal_person_id == principal_id,
               ProxyGrant.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .returning(ProxyGrant)
    )
    if revoked is not None:
        return revoked
    existing = await session.get(ProxyGrant, grant_id)
    if existing is None or existing.principal_person_id != principal_id:
        raise PortalError("NOT_FOUND", "No such grant.")
    return existing  # already revoked: idempotent


async def grants_given(session: AsyncSession, principal_id: uuid.UUID) -> list[ProxyGrant]:
    rows = await session.scalars(select(ProxyGrant).where(ProxyGrant.principal_person_id == principal_id)
                                .order_by(ProxyGrant.created_at, ProxyGrant.id))
    return list(rows)


async def grants_received(session: AsyncSession, proxy_id: uuid.UUID) -> list[ProxyGrant]:
    """Grants the person holds, and invitations to their registered address still to accept."""
    email = await session.scalar(select(Person.email).where(Person.id == proxy_id))
    invited = (ProxyGrant.proxy_person_id.is_(None) & (ProxyGrant.proxy_email == email.lower())) \
        if email else false()
    rows = await session.scalars(select(ProxyGrant).where(or_(ProxyGrant.proxy_person_id == proxy_id, invited))
                                 .order_by(ProxyGrant.created_at, ProxyGrant.id))
    return list(rows)


GRANT_REVOCATIONS = RevocationCounter()


def committed_grant_revocations() -> int:
    """How many transactions that revoked a grant this process has committed (open feeds recheck at once)."""
    return GRANT_REVOCATIONS.committed



async def ended_grants(engine: AsyncEngine, grant_ids: Collection[uuid.UUID], *,
                       today: date) -> dict[uuid.UUID, str]:
    """Of these grants, those that no longer let the proxy act, each with why: "revoked" or "expired" (valid
    through a day before ``today``). Open live feeds are checked together (api.platform.feed_guard): one read per
    chunk of grants by primary key (api.platform.db.chunks_among), returning only the ended ones."""
    wanted = list(grant_ids)
    ended: dict[uuid.UUID, str] = {}
    # A pure read: on SQLite it must not take the write lock (api.platform.db).
    async with engine.execution_options(**{READ_ONLY_OPTION: True}).connect() as connection:
        for among in chunks_among(engine, ProxyGrant.id, wanted):
            rows = await connection.execute(
                select(ProxyGrant.id, ProxyGrant.revoked_at.is_not(None))
                .where(among, or_(ProxyGrant.revoked_at.is_not(None), ProxyGrant.valid_until < today)))
            ended.update({grant_id: "revoked" if revoked else "expired" for grant_id, revoked in rows})
    return ended
