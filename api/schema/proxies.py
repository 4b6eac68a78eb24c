"""GraphQL for proxies (代理人): grants given and received, granting, revoking, reading as a proxy."""

from __future__ import annotations

import uuid
from datetime import date, datetime

import strawberry
from strawberry import relay

from api.platform.errors import ErrorCode, PortalError
from api.platform.scopes import PROFILE_READ
from api.proxies import grants
from api.proxies.grants import GrantView
from api.schema.context import Info
from api.schema.people import PersonType


@strawberry.type(name="ProxyGrant", description="Rights a principal gave a proxy (代理人) until a date.")
class ProxyGrantType:
    id: str
    principal_name: str
    proxy_name: str | None = strawberry.field(description="Null until the invited person accepts.")
    proxy_email: str | None = strawberry.field(description="The invited address (null for a grant made otherwise).")
    pending: bool = strawberry.field(description="Invited, not yet accepted: the grant does not act yet.")
    scopes: list[str]
    valid_until: date
    created_at: datetime
    revoked_at: datetime | None
    active: bool

    @classmethod
    def from_view(cls, view: GrantView) -> ProxyGrantType:
        grant = view.grant
        return cls(id=str(grant.id), principal_name=view.principal_name, proxy_name=view.proxy_name,
                   proxy_email=grant.proxy_email, pending=view.pending, scopes=sorted(grant.scope_set),
                   valid_until=grant.valid_until, created_at=grant.created_at, revoked_at=grant.revoked_at,
                   active=view.active)


@strawberry.input
class GrantProxyInput:
    proxy_email: str
    scopes: list[str]
    valid_until: date
    principal_id: relay.GlobalID | None = strawberry.field(
        default=None, description="Whose rights to grant; only the signed-in person themself may grant.")


@strawberry.type
class ProxyQuery:
    @strawberry.field(description="Grants the signed-in person gave (most recent last).")
    async def proxy_grants(self, info: Info) -> list[ProxyGrantType]:
        principal = info.context.require_person(PROFILE_READ)
        views = await grants.given(info.context.read_session_factory, principal.person_id, info.context.today())
        return [ProxyGrantType.from_view(view) for view in views]

    @strawberry.field(description="Grants the signed-in person received as a proxy.")
    async def proxy_grants_received(self, info: Info) -> list[ProxyGrantType]:
        principal = info.context.require_person(PROFILE_READ)
        views = await grants.received(info.context.read_session_factory, principal.person_id, info.context.today())
        return [ProxyGrantType.from_view(view) for view in views]

    @strawberry.field(description="Another person's profile, read as their parent (minor child) or proxy with "
                                  "profile:read. Recorded as a read by the signed-in person.")
    async def acting_for(self, info: Info, person_id: relay.GlobalID) -> PersonType:
        principal = info.context.require_person(PROFILE_READ)
        try:
            subject = uuid.UUID(person_id.node_id) if person_id.type_name == "Person" else None
        except ValueError:
            subject = None
        if subject is None:
            raise PortalError(ErrorCode.NOT_FOUND, "Nothing has this id.")
        person = await grants.profile_as_proxy(info.context.session_factory, principal.person_id, subject,
                                               info.context.today())
        return PersonType.from_model(person)


@strawberry.type
class ProxyMutation:
    @strawberry.mutation(description="Invite a proxy by e-mail to scoped rights until a date (the signed-in person's "
                                     "own rights). The grant is pending until the holder of that address accepts "
                                     "it; the answer is the same whether or not the address is registered.")
    async def grant_proxy(self, info: Info, input: GrantProxyInput) -> ProxyGrantType:
        principal = info.context.require_person(PROFILE_READ)
        if input.principal_id is not None and input.principal_id.node_id != str(principal.person_id):
            # A proxy acts in their own name; they cannot hand someone else's rights on.
            raise PortalError(ErrorCode.PROXY_CANNOT_GRANT, "Only the person themself may grant rights.")
        view = await grants.grant(info.context.session_factory, principal.person_id, proxy_email=input.proxy_email,
                                  scopes=input.scopes, valid_until=input.valid_until, today=info.context.today())
        return ProxyGrantType.from_view(view)

    @strawberry.mutation(description="Accept a grant made to the signed-in person's registered e-mail address.")
    async def accept_proxy_grant(self, info: Info, id: str) -> ProxyGrantType:
        principal = info.context.require_person(PROFILE_READ)
        try:
            grant_id = uuid.UUID(id)
        except ValueError as error:
            raise PortalError(ErrorCode.NOT_FOUND, "No such grant.") from error
        view = await grants.accept(info.context.session_factory, principal.person_id, grant_id, info.context.today())
        return ProxyGrantType.from_view(view)

    @strawberry.mutation(description="Revoke a grant at once (idempotent).")
    async def revoke_proxy_grant(self, info: Info, id: str) -> ProxyGrantType:
        principal = info.context.require_person(PROFILE_READ)
        try:
            grant_id = uuid.UUID(id)
        except ValueError as error:
            raise PortalError(ErrorCode.NOT_FOUND, "No such grant.") from error
        view = await grants.revoke(info.context.session_factory, principal.person_id, grant_id, info.context.today())
        return ProxyGrantType.from_view(view)
