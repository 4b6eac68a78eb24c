"""The strawberry ASGI view: authentication in get_context, JSON errors for malformed requests."""

from __future__ import annotations

import json
from typing import Any

from cross_web import HTTPException
from graphql import GraphQLError, OperationType, get_operation_ast
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import process_result
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types.unset import UNSET

from api.agencies.credentials import AGENCY_KEY_PREFIX, AgencyPrincipal, resolve_agency_key
from api.db import Reader
from api.identity.authentication import AuthenticatedPerson, authenticate_person_with
from api.identity.tokens import TokenRejected
from api.people.individual_number import IndividualNumberCipher
from api.schema import PortalSchema
from api.schema.context import Context, Loaders
from api.schema.errors import ErrorCode


class PortalGraphQL(GraphQL[Context, None]):
    def __init__(
        self,
        schema: PortalSchema,
        *,
        session_factory: async_sessionmaker[AsyncSession],
        read_session_factory: async_sessionmaker[AsyncSession],
        reader: Reader,
        cipher: IndividualNumberCipher,
        graphiql: bool,
    ) -> None:
        super().__init__(
            schema,
            graphql_ide="graphiql" if graphiql else None,
            # GET never runs mutations; it lets CDNs cache persisted queries.
            allow_queries_via_get=True,
            keep_alive=True,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            multipart_uploads_enabled=False,
        )
        self.session_factory = session_factory
        self.read_session_factory = read_session_factory
        self.reader = reader
        self.cipher = cipher
        self._runs_directly = schema.runs_documents_directly

    async def _run_directly(self, request: Request) -> Response | None:
        """The common request, a JSON POST of a valid query or mutation (or its persisted hash), executed
        without strawberry's per-request pipeline: the same gateway checks and cache, the same executor,
        the same result. None for anything else (an error before execution, a batch, a subscription,
        another content type...), which strawberry's pipeline then handles and answers in full.
        """
        if request.headers.get("content-type", "").partition(";")[0].strip().lower() != "application/json":
            return None
        accept = request.headers.get("accept", "")
        if "multipart" in accept or "event-stream" in accept:  # streamed transports: strawberry's
            return None
        try:
            data = json.loads(await request.body())
        except ValueError:
            return None
        if not isinstance(data, dict):
            return None
        query, variables, extensions, operation_name = (
            data.get("query"), data.get("variables"), data.get("extensions"), data.get("operationName"))
        if not (isinstance(query, str | None) and isinstance(variables, dict | None)
                and isinstance(extensions, dict | None) and isinstance(operation_name, str | None)):
            return None
        gateway = self.schema.gateway
        try:
            text = gateway.document_text(query, extensions)
        except GraphQLError:
            return None
        document = gateway.valid_document(self.schema._schema, text) if text is not None else None
        if document is None:
            return None
        operation = get_operation_ast(document, operation_name)
        if operation is None or operation.operation not in (OperationType.QUERY, OperationType.MUTATION):
            return None
        sub_response = await self.get_sub_response(request)
        context = await self.get_context(request, response=sub_response)
        result = await self.schema.execute_document(
            document, context_value=context, variable_values=variables, operation_name=operation_name,
            operation_extensions=extensions)
        return self.create_response(response_data=process_result(result), sub_response=sub_response)

    async def get_context(self, request: Request | WebSocket, response: Response | None) -> Context:
        authenticated, agency, problem = await self._authenticate(request.headers.get("authorization"))
        loaders = Loaders.create(self.read_session_factory)
        if authenticated is not None:
            loaders.person.prime(authenticated.person.id, authenticated.person)
            loaders.municipality.prime(authenticated.municipality.code, authenticated.municipality)
        return Context(
            request=request,
            response=response,
            session_factory=self.session_factory,
            read_session_factory=self.read_session_factory,
            cipher=self.cipher,
            principal=authenticated.principal if authenticated else None,
            agency=agency,
            token_problem=problem,
            loaders=loaders,
        )

    async def on_ws_connect(self, context: Context) -> Any:
        """graphql-transport-ws: authenticate from connection_init's payload, never from the URL."""
        params = context.connection_params or {}
        header = params.get("authorization") or params.get("Authorization")
        authenticated, _, _ = await self._authenticate(header if isinstance(header, str) else None)
        if authenticated is None:  # agency keys do not subscribe: noticeAdded is a person's feed
            raise ConnectionRejectionError({"code": ErrorCode.UNAUTHENTICATED.value})
        context.principal, context.agency, context.token_problem = authenticated.principal, None, None
        return UNSET

    async def _authenticate(
        self, header: str | None
    ) -> tuple[AuthenticatedPerson | None, AgencyPrincipal | None, str | None]:
        """(person, agency, problem): a bearer is either a person's session token or an agency key."""
        if not header:
            return None, None, None
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return None, None, "invalid"
        try:
            if token.startswith(AGENCY_KEY_PREFIX):
                async with self.read_session_factory() as session:
                    return None, await resolve_agency_key(session, token), None
            # Every person's request starts here: one indexed lookup, inline on SQLite (api.db.Reader).
            return await authenticate_person_with(self.reader, token), None, None
        except TokenRejected as rejected:
            return None, None, rejected.reason

    async def run(self, request: Any, context: Any = UNSET, root_value: Any = UNSET) -> Any:  # type: ignore[override]
        if (context is UNSET and root_value is UNSET and isinstance(request, Request)
                and request.method == "POST" and self._runs_directly):
            response = await self._run_directly(request)
            if response is not None:
                return response
        try:
            return await super().run(request, context=context, root_value=root_value)
        except HTTPException as error:
            if isinstance(request, WebSocket):
                raise
            # Strawberry answers malformed requests in plain text; clients parse JSON errors with codes.
            return JSONResponse(
                {"errors": [{"message": error.reason, "extensions": {"code": ErrorCode.BAD_USER_INPUT.value}}]},
                status_code=error.status_code,
            )
