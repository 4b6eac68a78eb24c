"""The strawberry ASGI view: authentication in get_context, JSON errors for malformed requests."""

from __future__ import annotations

import json
from typing import Any

from cross_web import HTTPException
from graphql import GraphQLError, OperationType, get_operation_ast
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import process_result
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types.unset import UNSET

from api.agencies.credentials import AGENCY_KEY_PREFIX, AgencyPrincipal, resolve_agency_key
from api.identity.authentication import AuthenticatedPerson, authenticate_person
from api.identity.session_cache import SessionCache
from api.identity.tokens import TokenRejected
from api.people.individual_number import IndividualNumberCipher
from api.schema import PortalSchema
from api.schema.context import Context, Loaders
from api.schema.errors import ErrorCode


class SubResponse(Response):
    """What resolvers may set on the answer (status, headers, background), as strawberry's sub-response holds it,
    without rendering an empty body and then deleting its content-length (every request makes one)."""

    def __init__(self) -> None:
        self.status_code = None  # type: ignore[assignment]
        self.background = None
        self.body = b""
        self.raw_headers = []


class PortalGraphQL(GraphQL[Context, None]):
    def __init__(
        self,
        schema: PortalSchema,
        *,
        session_factory: async_sessionmaker[AsyncSession],
        read_session_factory: async_sessionmaker[AsyncSession],
        reader: AsyncEngine,
        sessions: SessionCache | None = None,
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
        self.sessions = sessions
        self.cipher = cipher
        self._runs_directly = schema.runs_documents_directly

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and self._runs_directly:
            received: list[Message] = []
            if await self._serve_directly(scope, receive, send, received):
                return
            receive = _replaying(received, receive)  # strawberry's pipeline reads the same body again
        await super().__call__(scope, receive, send)

    async def _serve_directly(self, scope: Scope, receive: Receive, send: Send, received: list[Message]) -> bool:
        """The common request, a JSON POST of a valid query or mutation (or its persisted hash), answered
        without strawberry's per-request pipeline or Starlette's request and response objects: the same
        gateway checks and cache, the same executor, the same JSON. False for anything else (an error
        before execution, a batch, a subscription, another content type...), which strawberry's pipeline
        then answers in full, from the messages kept in ``received``.
        """
        content_type = accept = authorization = None
        for name, value in scope["headers"]:  # ASGI header names are lower-case; the first of each counts
            if name == b"content-type":
                content_type = content_type or value
            elif name == b"accept":
                accept = accept or value
            elif name == b"authorization":
                authorization = authorization or value
        if content_type is None or content_type.partition(b";")[0].strip().lower() != b"application/json":
            return False
        if accept is not None and (b"multipart" in accept or b"event-stream" in accept):
            return False  # streamed transports: strawberry's
        chunks = []
        while True:
            message = await receive()
            received.append(message)
            if message["type"] != "http.request":
                return False
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        try:
            data = json.loads(b"".join(chunks))
        except ValueError:
            return False
        if not isinstance(data, dict):
            return False
        query, variables, extensions, operation_name = (
            data.get("query"), data.get("variables"), data.get("extensions"), data.get("operationName"))
        if not (isinstance(query, str | None) and isinstance(variables, dict | None)
                and isinstance(extensions, dict | None) and isinstance(operation_name, str | None)):
            return False
        gateway = self.schema.gateway
        try:
            text = gateway.document_text(query, extensions)
        except GraphQLError:
            return False
        document = gateway.valid_document(self.schema._schema, text) if text is not None else None
        if document is None:
            return False
        operation = get_operation_ast(document, operation_name)
        if operation is None or operation.operation not in (OperationType.QUERY, OperationType.MUTATION):
            return False
        request = Request(scope, _replaying(list(received), receive))
        sub_response = await self.get_sub_response(request)
        context = await self._context(request, sub_response,
                                      authorization.decode("latin-1") if authorization is not None else None)
        result = await self.schema.execute_document(
            document, context_value=context, variable_values=variables, operation_name=operation_name,
            operation_extensions=extensions)
        body = self.encode_json(process_result(result))
        payload = body.encode() if isinstance(body, str) else body
        # What strawberry's create_response sends: its JSON response, plus what resolvers set on the sub-response.
        await send({"type": "http.response.start", "status": sub_response.status_code or 200,
                    "headers": [(b"content-length", str(len(payload)).encode()),
                                (b"content-type", b"application/json"), *sub_response.headers.raw]})
        await send({"type": "http.response.body", "body": payload})
        if sub_response.background is not None:
            await sub_response.background()
        return True

    async def get_sub_response(self, request: Request | WebSocket) -> Response:
        return SubResponse()

    async def get_context(self, request: Request | WebSocket, response: Response | None) -> Context:
        return await self._context(request, response, request.headers.get("authorization"))

    async def _context(self, request: Request | WebSocket, response: Response | None,
                       authorization: str | None) -> Context:
        authenticated, agency, problem = await self._authenticate(authorization)
        return Context(
            request=request,
            response=response,
            session_factory=self.session_factory,
            read_session_factory=self.read_session_factory,
            cipher=self.cipher,
            principal=authenticated.principal if authenticated else None,
            agency=agency,
            token_problem=problem,
            loaders=Loaders(self.read_session_factory),
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
            # Every person's request starts here: one indexed read on a pooled connection (api.db.PointRead),
            # or none while this worker keeps what it found (api.identity.session_cache).
            return await authenticate_person(self.reader, token, cache=self.sessions), None, None
        except TokenRejected as rejected:
            return None, None, rejected.reason

    async def run(self, request: Any, context: Any = UNSET, root_value: Any = UNSET) -> Any:  # type: ignore[override]
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


def _replaying(messages: list[Message], receive: Receive) -> Receive:
    """``receive``, giving the messages already read from it first."""
    pending = list(messages)

    async def replay() -> Message:
        return pending.pop(0) if pending else await receive()

    return replay
