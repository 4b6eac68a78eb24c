"""The per-request context: who is asking, a session factory, and this request's DataLoaders."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from typing import Any, Generic, TypeVar

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.dataloader import DataLoader

from api.agencies.credentials import AgencyPrincipal
from api.agencies.models import Agency
from api.agencies.service import agencies_by_ids
from api.identity.service import ProcessIdentityService
from api.identity.tokens import Principal
from api.people.individual_number import IndividualNumberCipher
from api.people.models import Municipality, Person
from api.people.records import MunicipalityRecord, PersonRecord
from api.people.service import municipalities_by_codes, persons_by_ids
from api.schema.errors import ErrorCode, PublicError
from api.settings import Settings
from corporate.service import CorporateState, histories

MAX_BATCH = 500
K = TypeVar("K")
V = TypeVar("V")
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


class Known(Generic[V]):
    """An awaitable of a value already at hand (no future, no event loop)."""

    __slots__ = ("value",)

    def __init__(self, value: V) -> None:
        self.value = value

    def __await__(self) -> Generator[Any, None, V]:
        return self.value
        yield  # a generator that returns at once: awaiting it never suspends


class Loader(Generic[K, V]):
    """One kind of this request's loads: keys the request already holds (the signed-in person and their
    municipality, from the token lookup) are answered at once; the others go to a DataLoader, made on the
    first of them (most requests need one kind of loader or none, and a DataLoader costs its set-up)."""

    def __init__(self, session_factory: async_sessionmaker[AsyncSession], fetch: Callable,  # type: ignore[type-arg]
                 known: dict[K, V] | None = None) -> None:
        self._session_factory = session_factory
        self._fetch = fetch
        self._known = known or {}

    def load(self, key: K) -> Awaitable[V | None]:
        if key in self._known:
            return Known(self._known[key])
        return self.dataloader.load(key)

    @cached_property
    def dataloader(self) -> DataLoader[K, V | None]:
        return _loader(self._session_factory, self._fetch)


class Loaders:
    """This request's loaders, each made on first use, with what the request already holds (by name: the
    signed-in person and their municipality, from the token lookup) known to them."""

    def __init__(self, session_factory: async_sessionmaker[AsyncSession],
                 known: dict[str, dict[Any, Any]] | None = None) -> None:
        self._session_factory = session_factory
        self._known = known or {}

    def _made(self, name: str, fetch: Callable) -> Loader:  # type: ignore[type-arg]
        return Loader(self._session_factory, fetch, self._known.get(name))

    @cached_property
    def person(self) -> Loader[uuid.UUID, Person | PersonRecord]:
        return self._made("person", persons_by_ids)

    @cached_property
    def municipality(self) -> Loader[str, Municipality | MunicipalityRecord]:
        return self._made("municipality", municipalities_by_codes)

    @cached_property
    def agency(self) -> Loader[uuid.UUID, Agency]:
        return self._made("agency", agencies_by_ids)

    @cached_property
    def corporate_history(self) -> Loader[str, list[CorporateState]]:
        return self._made("corporate_history", histories)


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
    # What resolvers need of the app, given by create_app (never looked up on request.app.state).
    settings: Settings
    identity: ProcessIdentityService
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
