"""The per-request context: who is asking, a session factory, and this request's DataLoaders."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from typing import TypeVar

import strawberry
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.dataloader import DataLoader

from api.agencies.credentials import AgencyPrincipal
from api.agencies.models import Agency
from api.agencies.service import agencies_by_ids
from api.certificates.issuing import LazyIssuer
from api.history.feed import RecordFeed
from api.identity.service import ProcessIdentityService
from api.notices.broker import NoticeBroker
from api.people.individual_number import IndividualNumberCipher
from api.people.models import Municipality, Person
from api.people.records import MunicipalityRecord, PersonRecord
from api.people.service import municipalities_by_codes, person_with_municipality, persons_by_ids
from api.platform.auth import Principal
from api.platform.errors import ErrorCode, PortalError
from api.platform.feed_guard import FeedGuard
from api.platform.settings import Settings
from api.records.log import LeafProof, leaf_proofs
from corporate.service import CorporateState, histories

MAX_BATCH = 500
K = TypeVar("K")
V = TypeVar("V")
_UNAUTHENTICATED_MESSAGES = {
    None: "Sign in to see this.",
    "invalid": "The access token is not valid.",
    "expired": "The access token has expired.",
}


def _loader(session_factory: async_sessionmaker[AsyncSession],
            fetch: Callable[[AsyncSession, list[K]], Awaitable[Mapping[K, V]]]) -> DataLoader[K, V | None]:
    # Each batch has its own short-lived session: sibling resolvers run concurrently, and an
    # AsyncSession must not be shared between concurrent tasks.
    async def load(keys: list[K]) -> list[V | None]:
        async with session_factory() as session:
            found = await fetch(session, keys)
        return [found.get(key) for key in keys]

    return DataLoader(load_fn=load, max_batch_size=MAX_BATCH)


class Loaders:
    """This request's DataLoaders, each made on first use (most requests need one kind or none)."""

    def __init__(self, session_factory: async_sessionmaker[AsyncSession], engine: AsyncEngine) -> None:
        self._session_factory = session_factory
        self._engine = engine

    @cached_property
    def person(self) -> DataLoader[uuid.UUID, Person | PersonRecord | None]:
        async def load(keys: list[uuid.UUID]) -> list[Person | PersonRecord | None]:
            if len(keys) > 1:
                async with self._session_factory() as session:
                    found = await persons_by_ids(session, keys)
                return [found.get(key) for key in keys]
            # One person, as a person's own requests load themselves (viewer): one point read, their
            # municipality with them, ready for the municipality field.
            read = await person_with_municipality(self._engine, keys[0])
            if read is None:
                return [None]
            person, municipality = read
            self.municipality.prime(municipality.code, municipality)
            return [person]

        return DataLoader(load_fn=load, max_batch_size=MAX_BATCH)

    @cached_property
    def municipality(self) -> DataLoader[str, Municipality | MunicipalityRecord | None]:
        return _loader(self._session_factory, municipalities_by_codes)

    @cached_property
    def agency(self) -> DataLoader[uuid.UUID, Agency | None]:
        return _loader(self._session_factory, agencies_by_ids)

    @cached_property
    def record_proof(self) -> DataLoader[int, LeafProof | None]:
        return _loader(self._session_factory, leaf_proofs)

    @cached_property
    def corporate_history(self) -> DataLoader[str, list[CorporateState] | None]:
        return _loader(self._session_factory, histories)


@dataclass
class Context:
    request: Request | WebSocket
    response: Response | WebSocket | None  # strawberry's sub-response, or the WebSocket
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
    notice_broker: NoticeBroker
    record_feed: RecordFeed | None = None  # the record's live feed (api.history.feed), one per app
    feed_guard: FeedGuard | None = None  # ends open feeds whose session or grant ended (api.schema.feeds)
    certificate_issuer: LazyIssuer | None = None  # certificates' fonts and signing keys, one per process
    # Why the agency key may not be used on this connection (its client certificate: api.agencies).
    agency_refusal: PortalError | None = None
    today: Callable[[], date] = field(default=date.today)
    # graphql-transport-ws: the connection_init payload (strawberry sets it; on_ws_connect authenticates it).
    connection_params: dict[str, object] | None = None

    def require_person(self, scope: str, *alternatives: str) -> Principal:
        """The signed-in person, whose session carries ``scope`` (or one of ``alternatives``)."""
        if self.principal is None:
            if self.agency is not None:
                raise PortalError(ErrorCode.FORBIDDEN, "An agency key cannot act as a person.")
            raise PortalError(ErrorCode.UNAUTHENTICATED, _UNAUTHENTICATED_MESSAGES[self.token_problem])
        if scope not in self.principal.scopes and self.principal.scopes.isdisjoint(alternatives):
            raise PortalError(ErrorCode.FORBIDDEN, f"This session lacks the scope {scope}.")
        return self.principal

    def require_agency(self, scope: str) -> AgencyPrincipal:
        if self.agency is None:
            if self.principal is not None:
                raise PortalError(ErrorCode.FORBIDDEN, "This needs an agency API key, not a person's session.")
            raise PortalError(ErrorCode.UNAUTHENTICATED, _UNAUTHENTICATED_MESSAGES[self.token_problem])
        if self.agency_refusal is not None:
            raise self.agency_refusal
        if scope not in self.agency.scopes:
            raise PortalError(ErrorCode.FORBIDDEN, f"This agency key lacks the scope {scope}.")
        return self.agency


Info = strawberry.Info[Context, None]
