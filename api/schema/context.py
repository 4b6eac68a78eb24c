"""The per-request context: who is asking, a session factory, and this request's DataLoaders."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.dataloader import DataLoader

from api.agencies.credentials import AgencyPrincipal
from api.agencies.models import Agency
from api.agencies.service import agencies_by_ids
from api.identity.tokens import Principal
from api.people.individual_number import IndividualNumberCipher
from api.people.models import Municipality, Person
from api.people.service import municipalities_by_codes, persons_by_ids
from api.schema.errors import ErrorCode, PublicError
from corporate.service import CorporateState, histories

MAX_BATCH = 500
_UNAUTHENTICATED_MESSAGES = {
    None: "Sign in to see this.",
    "invalid": "The access token is not valid.",
    "expired": "The access token has expired.",
}


def _loader(session_factory: async_sessionmaker[AsyncSession], fetch: Callable) -> DataLoader:  # type: ignore[type-arg]
    # Each batch has its own short-lived session: sibling resolvers run concurrently, and an
    # AsyncSession must not be shared between concurrent tasks.
    async def load(keys: list) -> list:  # type: ignore[type-arg]
        async with session_factory() as session:
            found = await fetch(session, keys)
        return [found.get(key) for key in keys]

    return DataLoader(load_fn=load, max_batch_size=MAX_BATCH)


@dataclass
class Loaders:
    person: DataLoader[uuid.UUID, Person | None]
    municipality: DataLoader[str, Municipality | None]
    agency: DataLoader[uuid.UUID, Agency | None]
    corporate_history: DataLoader[str, list[CorporateState]]

    @classmethod
    def create(cls, session_factory: async_sessionmaker[AsyncSession]) -> Loaders:
        return cls(
            person=_loader(session_factory, persons_by_ids),
            municipality=_loader(session_factory, municipalities_by_codes),
            agency=_loader(session_factory, agencies_by_ids),
            corporate_history=_loader(session_factory, histories),
        )


@dataclass
class Context:
    request: Request | WebSocket
    response: Response | None
    # Units of work (mutations, reads that record an access) use session_factory; pure reads use
    # read_session_factory, which on SQLite does not take the write lock.
    session_factory: async_sessionmaker[AsyncSession]
    read_session_factory: async_sessionmaker[AsyncSession]
    cipher: IndividualNumberCipher
    principal: Principal | None
    # An agency system's key, when the caller is an agency rather than a person.
    agency: AgencyPrincipal | None
    # Why there is no principal when a token was sent: "invalid" or "expired".
    token_problem: str | None
    loaders: Loaders
    today: Callable[[], date] = field(default=date.today)
    # graphql-transport-ws: the connection_init payload (strawberry sets it; on_ws_connect authenticates it).
    connection_params: dict[str, object] | None = None

    def require_person(self, scope: str) -> Principal:
        if self.principal is None:
            if self.agency is not None:
                raise PublicError(ErrorCode.FORBIDDEN, "An agency key cannot act as a person.")
            raise PublicError(ErrorCode.UNAUTHENTICATED, _UNAUTHENTICATED_MESSAGES[self.token_problem])
        if scope not in self.principal.scopes:
            raise PublicError(ErrorCode.FORBIDDEN, f"This session lacks the scope {scope}.")
        return self.principal

    def require_agency(self, scope: str) -> AgencyPrincipal:
        if self.agency is None:
            if self.principal is not None:
                raise PublicError(ErrorCode.FORBIDDEN, "This needs an agency API key, not a person's session.")
            raise PublicError(ErrorCode.UNAUTHENTICATED, _UNAUTHENTICATED_MESSAGES[self.token_problem])
        if scope not in self.agency.scopes:
            raise PublicError(ErrorCode.FORBIDDEN, f"This agency key lacks the scope {scope}.")
        return self.agency


Info = strawberry.Info[Context, None]
