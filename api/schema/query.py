"""The root Query: viewer, node(id), and public lists."""

from __future__ import annotations

import strawberry
from strawberry import relay

from api.agencies.service import list_agencies
from api.platform.errors import ErrorCode, PortalError
from api.platform.scopes import PROFILE_NAME, PROFILE_READ
from api.schema.agencies import AgencyType
from api.schema.connections import page_request, to_connection
from api.schema.context import Info
from api.schema.notices import NoticeType
from api.schema.payments import PaymentOrderType, PaymentType
from api.schema.people import PersonType

NODE_TYPES: dict[str, type[relay.Node]] = {"Person": PersonType, "Agency": AgencyType,
                                               "PaymentOrder": PaymentOrderType, "Payment": PaymentType,
                                               "Notice": NoticeType}


@strawberry.type
class Query:
    @strawberry.field(description="The signed-in person. A TV's session (profile:name) may read only the id "
                                  "and name; every other field needs profile:read.")
    async def viewer(self, info: Info) -> PersonType:
        principal = info.context.require_person(PROFILE_READ, PROFILE_NAME)
        person = await info.context.loaders.person.load(principal.person_id)
        if person is None:
            raise PortalError(ErrorCode.UNAUTHENTICATED, "The session's person no longer exists.")
        return PersonType.from_model(person)

    @strawberry.field(description="Any object by its global id; people only when the viewer may read them.")
    async def node(self, info: Info, id: relay.GlobalID) -> relay.Node | None:
        node_type = NODE_TYPES.get(id.type_name)
        if node_type is None:
            raise PortalError(ErrorCode.NOT_FOUND, "Nothing has this id.")
        [found] = await node_type.resolve_nodes(info=info, node_ids=[id.node_id])
        if found is None:
            raise PortalError(ErrorCode.NOT_FOUND, "Nothing has this id.")
        return found

    @strawberry.field(description="Agencies in the order of their slug.")
    async def agencies(
        self, info: Info, first: int | None = 20, after: str | None = None
    ) -> relay.Connection[AgencyType]:
        page = await list_agencies(info.context.read_session_factory, page_request(first, after))
        return to_connection(page, AgencyType.from_model)
