"""GraphQL for proxies (代理人): grants given and received, granting, revoking, reading as a proxy."""

from __future__ import annotations

import uuid
from datetime import date, datetime

import strawberry
from sqlalchemy import select
from strawberry import relay

from api.identity.scopes import PROFILE_READ
from api.people.models import Person
from api.proxies.models import ProxyGrant
from api.proxies.service import GrantRefused, acting_for, grant_proxy, grants_given, grants_received, revoke_grant
from api.schema.context import Info
from api.schema.errors import ErrorCode, PublicError
from api.schema.people import PersonType


@strawberry.type(name="ProxyGrant", description="Rights a principal gave a proxy (代理人) until a date.")
class ProxyGrantType:
    id: str
    principal_name: str
    proxy_name: str
    scopes: list[str]
    valid_until: date
    created_at: datetime
    revoked_at: datetime | None
    active: bool


@strawberry.input
class GrantProxyInput:
    proxy_email: str
    scopes: list[str]
    valid_until: date
    principal_id: relay.GlobalID | None = strawberry.field(
        default=None, description="Whose rights to grant; only the signed-in person themself may grant.")


async def _shape(session, grants: list[ProxyGrant], today: date) -> list[ProxyGrantType]:  # type: ignore[no-untyped-def]
    ids = {g.principal_person_id for g in grants} | {g.proxy_person_id for g in grants}
    names = dict((await session.execute(select(Person.id, Person.name).where(Person.id.in_(ids)))).all()) \
        if ids else {}
    return [ProxyGrantType(id=str(g.id), principal_name=names.get(g.principal_person_id, ""),
                           proxy_name=names.get(g.proxy_person_id, ""), scopes=sorted(g.scope_set),
                           valid_until=g.valid_until, created_at=g.created_at, revoked_at=g.revoked_at,
                           active=g.revoked_at is None and g.valid_until >= today)
            for g in grants]


def _refused(error: GrantRefused) -> PublicError:
    return PublicError(ErrorCode(error.code), str(error))


@strawberry.type
class ProxyQuery:
    @strawberry.field(description="Grants the signed-in person gave (most recent last).")
    async def proxy_grants(self, info: Info) -> list[ProxyGrantType]:
        principal = info.context.require_person(PROFILE_READ)
        async with info.context.read_session_factory() as session:
            return await _shape(session, (await grants_given(session, principal.person_id))[:100],
                                info.context.today())

    @strawberry.field(description="Grants the signed-in person received as a proxy.")
    async def proxy_grants_received(self, info: Info) -> list[ProxyGrantType]:
        principal = info.context.require_person(PROFILE_READ)
        async with info.context.read_session_factory() as session:
            return await _shape(session, (await grants_received(session, principal.person_id))[:100],
                                info.context.today())

    @strawberry.field(description="Another person's profile, read as their parent (minor child) or proxy with "
                                  "profile:read. Recorded as a read by the signed-in person.")
    async def acting_for(self, info: Info, person_id: relay.GlobalID) -> PersonType:
        principal = info.context.require_person(PROFILE_READ)
        try:
            subject = uuid.UUID(person_id.node_id) if person_id.type_name == "Person" else None
        except ValueError:
            subject = None
        if subject is None:
            raise PublicError(ErrorCode.NOT_FOUND, "Nothing has this id.")
        async with info.context.session_factory() as session, session.begin():
            acting = await acting_for(session, principal.person_id, subject, PROFILE_READ,
                                      today=info.context.today(), purpose="proxy:profile")
            person = await session.get(Person, subject) if acting else None
        if person is None:
            raise PublicError(ErrorCode.NOT_AUTHORIZED_FOR_PERSON,
                              "You may not act for this person with this right.")
        return PersonType.from_model(person)


@strawberry.type
class ProxyMutation:
    @strawberry.mutation(description="Grant a proxy scoped rights until a date (the signed-in person's own rights).")
    async def grant_proxy(self, info: Info, input: GrantProxyInput) -> ProxyGrantType:
        principal = info.context.require_person(PROFILE_READ)
        if input.principal_id is not None and input.principal_id.node_id != str(principal.person_id):
            # A proxy acts in their own name; they cannot hand someone else's rights on.
            raise PublicError(ErrorCode.PROXY_CANNOT_GRANT, "Only the person themself may grant rights.")
        today = info.context.today()
        async with info.context.session_factory() as session, session.begin():
            proxy_id = await session.scalar(select(Person.id).where(Person.email == input.proxy_email))
            try:
                if proxy_id is None:
                    raise GrantRefused("NOT_FOUND", "No such person.")
                grant = await grant_proxy(session, principal_id=principal.person_id, proxy_id=proxy_id,
                                          scopes=input.scopes, valid_until=input.valid_until, today=today)
            except GrantRefused as error:
                raise _refused(error) from error
            [shaped] = await _shape(session, [grant], today)
        return shaped

    @strawberry.mutation(description="Revoke a grant at once (idempotent).")
    async def revoke_proxy_grant(self, info: Info, id: str) -> ProxyGrantType:
        principal = info.context.require_person(PROFILE_READ)
        try:
            grant_id = uuid.UUID(id)
        except ValueError as error:
            raise PublicError(ErrorCode.NOT_FOUND, "No such grant.") from error
        async with info.context.session_factory() as session, session.begin():
            try:
                grant = await revoke_grant(session, principal_id=principal.person_id, grant_id=grant_id)
            except GrantRefused as error:
                raise _refused(error) from error
            [shaped] = await _shape(session, [grant], info.context.today())
        return shaped
