"""GraphQL types for agencies (public facts: anyone may list them)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

import strawberry
from strawberry import relay

from api.agencies.models import Agency, AgencyKind
from api.schema.context import Info

AgencyKindType = strawberry.enum(AgencyKind, name="AgencyKind")


@strawberry.type(name="Agency", description="A public body: ministry, municipality, insurer, pension or tax.")
class AgencyType(relay.Node):
    id: relay.NodeID[str]
    slug: str
    name: str
    kind: AgencyKindType  # type: ignore[valid-type]

    @classmethod
    def from_model(cls, agency: Agency) -> AgencyType:
        return cls(id=str(agency.id), slug=agency.slug, name=agency.name, kind=agency.kind)

    @classmethod
    async def resolve_nodes(
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[AgencyType | None]:
        results: list[AgencyType | None] = []
        for node_id in node_ids:
            try:
                agency = await info.context.loaders.agency.load(uuid.UUID(node_id))
            except ValueError:
                agency = None
            results.append(AgencyType.from_model(agency) if agency else None)
        return results
