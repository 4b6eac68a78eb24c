"""GraphQL types for people. Mapped field by field: nothing of the ORM row leaks by default."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date
from typing import Any

import strawberry
from strawberry import relay
from strawberry.permission import BasePermission

from api.people import individual_number
from api.people.models import Person, Sex
from api.people.records import PersonRecord
from api.people.service import list_children, read_people
from api.platform.errors import ErrorCode, PortalError
from api.platform.scopes import PROFILE_READ
from api.schema.connections import page_request, to_connection
from api.schema.context import Info

SexType = strawberry.enum(Sex, name="Sex")


class ProfileRead(BasePermission):
    """The whole profile needs profile:read: a TV's session (profile:name) reaches a Person through ``viewer``
    but may read only its id and name."""

    message = "This session lacks the scope profile:read."

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        info.context.require_person(PROFILE_READ)  # raises with the stable code
        return True


def _profile() -> Any:
    return strawberry.field(permission_classes=[ProfileRead])


@strawberry.type(name="Municipality", description="A municipality (市区町村), by its 6-digit local government code.")
class MunicipalityType:
    code: str
    prefecture: str
    name: str


@strawberry.type(name="Person", description="A person: the basic four facts (基本4情報) and contact details.")
class PersonType(relay.Node):
    id: relay.NodeID[str]
    name: str
    name_kana: str = _profile()
    birth_date: date = _profile()
    sex: SexType = _profile()  # type: ignore[valid-type]
    address: str = _profile()
    email: str | None = _profile()
    phone: str | None = _profile()
    municipality_code: strawberry.Private[str]
    ciphertext: strawberry.Private[bytes]
    key_generation: strawberry.Private[int]

    @classmethod
    def from_model(cls, person: Person | PersonRecord) -> PersonType:
        return cls(
            id=str(person.id),
            name=person.name,
            name_kana=person.name_kana,
            birth_date=person.birth_date,
            sex=person.sex,
            address=person.address,
            email=person.email,
            phone=person.phone,
            municipality_code=person.municipality_code,
            ciphertext=person.individual_number_ciphertext,
            key_generation=person.number_key_generation,
        )

    @strawberry.field(description="The individual number, masked: only the last four digits show.",
                      permission_classes=[ProfileRead])
    def masked_individual_number(self, info: Info) -> str:
        return individual_number.mask(info.context.cipher.decrypt(self.ciphertext, self.key_generation))

    @strawberry.field(permission_classes=[ProfileRead])
    async def municipality(self, info: Info) -> MunicipalityType:
        found = await info.context.loaders.municipality.load(self.municipality_code)
        if found is None:
            raise PortalError(ErrorCode.NOT_FOUND, "The municipality is unknown.")
        return MunicipalityType(code=found.code, prefecture=found.prefecture, name=found.name)

    @strawberry.field(description="The person's children. Only the person themself may list them; "
                                  "each child shown is recorded as a read by the parent.")
    async def children(
        self, info: Info, first: int | None = 20, after: str | None = None
    ) -> relay.Connection[PersonType]:
        principal = info.context.require_person("family:read")
        if str(principal.person_id) != self.id:
            raise PortalError(ErrorCode.FORBIDDEN, "Only the person themself may list their children.")
        page = await list_children(info.context.session_factory, principal.person_id, page_request(first, after),
                                   purpose="family:children")
        return to_connection(page, PersonType.from_model)

    @classmethod
    async def resolve_nodes(
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[PersonType | None]:
        principal = info.context.require_person("profile:read")
        found = await read_people(info.context.session_factory, principal.person_id,
                                  [_parsed(node_id) for node_id in node_ids], today=info.context.today(),
                                  purpose="node")
        return [PersonType.from_model(person) if person else None for person in found]


def _parsed(node_id: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(node_id)
    except ValueError:
        return None
