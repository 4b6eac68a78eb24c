"""The GraphQL endpoint: strawberry's ASGI view, the one way every request runs.

How a request runs: a POST (JSON) or GET to /graphql, by document text or by persisted hash, goes through
strawberry's `GraphQL` view to `Schema.execute`; a graphql-transport-ws WebSocket goes through the same view
to `Schema.stream`. On the way:

1. `get_context` authenticates the bearer token (a person's session token, through this process's session
   cache, or an agency key; over a WebSocket, `on_ws_connect` does it from connection_init's payload) and
   gives the request its DataLoaders, each made on first use, the signed-in person and municipality primed.
2. The schema's extensions run in order (api.schema.build_schema): `GatewayRules` (api.schema.security:
   the persisted document for a hash, the allowlist in production, the token limit, the depth, alias and
   introspection rules; on the way out, every error gets its `extensions.code`, internal ones masked),
   strawberry's parser and validation caches (a document is parsed and validated once), then any extension
   added to the schema; custom directives run through strawberry's own directives extension.
3. graphql-core executes; `PortalSchema.process_errors` logs each unexpected error once, with its traceback.
4. `process_result` gives codes to errors raised before the extensions saw the result; a malformed HTTP
   request (not JSON, a batch, an unknown operation name...) gets a JSON error with BAD_USER_INPUT.
"""

from __future__ import annotations

import json
from typing import Any

from cross_web import HTTPException
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLHTTPResponse, process_result
from strawberry.http.base import BaseRequestProtocol
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult
from strawberry.types.unset import UNSET

from api.agencies.client_certificates import check_client_certificate
from api.agencies.credentials import AGENCY_KEY_PREFIX, AgencyPrincipal, resolve_agency_key
from api.certificates.issuing import LazyIssuer
from api.history.feed import RecordFeed
from api.identity.authentication import authenticate_person
from api.identity.service import ProcessIdentityService
from api.identity.session_cache import SessionCache
from api.identity.tokens import AuthenticatedPerson
from api.notices.broker import NoticeBroker
from api.people.individual_number import IndividualNumberCipher
from api.platform.auth import TokenRejected
from api.platform.client_tls import peer_certificate
from api.platform.errors import ErrorCode, PoolTimeout, PortalError, log_pool_timeout, service_unavailable
from api.platform.settings import Settings
from api.schema import PortalSchema
from api.schema.context import Context, Loaders
from api.schema.errors import classify
from api.schema.feeds import feed_guard


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


# GraphiQL 4.1.2 (UMD) and React 18.3.1, vendored in api/web/static/vendor (see its README): served by the
# portal itself, since a closed government network (and CI) cannot reach a CDN.
GRAPHIQL_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Mynaportal GraphiQL</title>
<link rel="stylesheet" href="/web/static/vendor/graphiql/graphiql.min.css">
<style>body { margin: 0; } #graphiql { height: 100vh; }</style></head>
<body><div id="graphiql">Loading GraphiQL…</div>
<script src="/web/static/vendor/graphiql/react.production.min.js"></script>
<script src="/web/static/vendor/graphiql/react-dom.production.min.js"></script>
<script src="/web/static/vendor/graphiql/graphiql.min.js"></script>
<script>
const fetcher = GraphiQL.createFetcher({url: window.location.pathname});
ReactDOM.createRoot(document.getElementById("graphiql")).render(
  React.createElement(GraphiQL, {fetcher: fetcher, defaultEditorToolsVisibility: true}));
</script></body></html>
"""


class PortalGraphQL(GraphQL[Context, None]):
    @property
    def graphql_ide_html(self) -> str:
        return GRAPHIQL_HTML

    def __init__(
        self,
        schema: PortalSchema,
        *,
        session_factory: async_sessionmaker[AsyncSession],
        read_session_factory: async_sessionmaker[AsyncSession],
        engine: AsyncEngine,
        sessions: SessionCache | None = None,
        cipher: IndividualNumberCipher,
        graphiql: bool,
        settings: Settings,
        identity: ProcessIdentityService,
        notice_broker: NoticeBroker,
        certificate_issuer: LazyIssuer | None = None,
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
        self.engine = engine
        self.sessions = sessions
        self.cipher = cipher
        self.settings = settings
        self.identity = identity
        self.notice_broker = notice_broker
        self.certificate_issuer = certificate_issuer or LazyIssuer(settings)
        # The record's live feed (recordAdded); its LISTEN connection (PostgreSQL) opens with the first feed.
        self.record_feed = RecordFeed(engine)
        # Open subscriptions end when their session or proxy grant does (one batched check a second per process).
        self.feed_guard = feed_guard(engine)

    def parse_json(self, data: str | bytes) -> Any:
        """The request's JSON, or a 400 naming what is wrong with it (never an exception out of the view)."""
        try:
            text = data.decode("utf-8") if isinstance(data, bytes) else data
            value = json.loads(text, parse_constant=_refuse_constant)
        except UnicodeDecodeError as error:
            raise HTTPException(400, "The request body is not valid UTF-8.") from error
        except RecursionError as error:
            raise HTTPException(400, "The request body is nested too deeply.") from error
        except ValueError as error:  # not JSON, NaN/Infinity, or an integer of more than 4,300 digits
            raise HTTPException(400, "Unable to parse request body as JSON") from error
        if not isinstance(value, dict | list):
            raise HTTPException(400, "The request body must be a JSON object.")
        # strawberry checks query, variables and extensions but passes any operationName on (an object or a number
        # was INTERNAL: found by tests/fuzz)
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, dict) and not isinstance(item.get("operationName"), str | None):
                raise HTTPException(400, "The GraphQL operation's `operationName` must be a string or null.")
        return value

    def should_render_graphql_ide(self, request: BaseRequestProtocol) -> bool:
        # A GET of a persisted hash has no query either: it wants the answer, not GraphiQL.
        return super().should_render_graphql_ide(request) and "extensions" not in request.query_params

    async def get_context(self, request: Request | WebSocket, response: Response | WebSocket | None) -> Context:
        authenticated, agency, problem = await self._authenticate(request.headers.get("authorization"))
        refusal = None
        if agency is not None:  # the agency API over GraphQL: mutual TLS as on its REST APIs
            try:
                await check_client_certificate(self.session_factory, agency.agency_id, peer_certificate(request.scope),
                                               required=self.settings.agency_client_certificates == "required")
            except PortalError as error:
                refusal = error
        return Context(
            request=request,
            response=response,
            session_factory=self.session_factory,
            read_session_factory=self.read_session_factory,
            cipher=self.cipher,
            principal=authenticated.principal if authenticated else None,
            agency=agency,
            agency_refusal=refusal,
            token_problem=problem,
            loaders=Loaders(self.read_session_factory, self.engine),
            settings=self.settings,
            identity=self.identity,
            notice_broker=self.notice_broker,
            record_feed=self.record_feed,
            feed_guard=self.feed_guard,
            certificate_issuer=self.certificate_issuer,
        )


    async def on_ws_connect(self, context: Context) -> Any:
        """graphql-transport-ws: authenticate from connection_init's payload, never from the URL."""
        params = context.connection_params or {}
        header = params.get("authorization") or params.get("Authorization")
        authenticated, _, _ = await self._authenticate(header if isinstance(header, str) else None)
        if authenticated is None:  # agency keys do not subscribe: noticeAdded is a person's feed
            raise ConnectionRejectionError({"code": ErrorCode.UNAUTHENTICATED.value})
        context.principal, context.agency, context.token_problem = authenticated.principal, None, None
        context.loaders = Loaders(self.read_session_factory, self.engine)
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
            # Every person's request starts here: one indexed read on a pooled connection (api.platform.db.PointRead),
            # or none while this worker keeps what it found (api.identity.session_cache).
            return await authenticate_person(self.engine, token, cache=self.sessions), None, None
        except TokenRejected as rejected:
            return None, None, rejected.reason

    async def process_result(self, request: Request, result: ExecutionResult) -> GraphQLHTTPResponse:
        # GatewayRules has coded what reached it; an error raised by an extension's hook (a custom extension's
        # failure) never does, and must not reach the client unmasked either.
        if result.errors:
            result.errors = [classify(error) for error in result.errors]
        return process_result(result)

    def create_response(self, response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse],
                        sub_response: Response) -> Response:
        # An answer short of a database connection (classify: SERVICE_UNAVAILABLE) says when to retry, as a REST
        # problem does; with no data at all it is a 503, as load shedding's answer is.
        response = super().create_response(response_data, sub_response)
        results = response_data if isinstance(response_data, list) else [response_data]
        busy = [result for result in results if any(
            (error.get("extensions") or {}).get("code") == ErrorCode.SERVICE_UNAVAILABLE.value
            for error in result.get("errors") or ())]
        if busy:
            response.headers["Retry-After"] = str(service_unavailable().extensions["retryAfter"])
            if len(busy) == len(results) and all(result.get("data") is None for result in busy):
                response.status_code = 503
        return response

    async def run(self, request: Any, context: Any = UNSET, root_value: Any = UNSET) -> Any:  # type: ignore[override]
        try:
            return await super().run(request, context=context, root_value=root_value)
        except PoolTimeout:
            if isinstance(request, WebSocket):
                raise
            # Before execution (authenticating the bearer token): no connection for even that.
            log_pool_timeout("graphql")
            busy = service_unavailable()
            return JSONResponse({"errors": [{"message": busy.message,
                                             "extensions": {"code": busy.code.value, **busy.extensions}}]},
                                status_code=busy.status, headers={"Retry-After": str(busy.extensions["retryAfter"])})
        except HTTPException as error:
            if isinstance(request, WebSocket):
                raise
            # Strawberry answers malformed requests in plain text; clients parse JSON errors with codes.
            return JSONResponse(
                {"errors": [{"message": error.reason, "extensions": {"code": ErrorCode.BAD_USER_INPUT.value}}]},
                status_code=error.status_code,
            )
