"""The app factory: Starlette with the GraphQL endpoint, health checks, request ids and JSON logs."""

from __future__ import annotations

import gc
import logging
import os
import re
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.applications import rest as applications_rest
from api.certificates import kiosk_rest as certificates_kiosk_rest
from api.certificates import rest as certificates_rest
from api.certificates.issuing import LazyIssuer
from api.exchange import rest as exchange_rest
from api.identity import http as identity_http
from api.identity.service import ProcessIdentityService
from api.identity.session_cache import SessionCache
from api.metrics import metrics_endpoint
from api.migrate import MIGRATIONS
from api.notices.broker import NoticeBroker
from api.oidc import http as oidc_http
from api.openapi import routes as openapi_routes
from api.people.individual_number import cipher_for
from api.platform.db import create_engine, create_session_factory, dispose_engine
from api.platform.errors import PoolTimeout, internal_problem, routing_problem, unavailable_problem
from api.platform.limits import BodyLimitMiddleware, BodyLimits, attachment_limits
from api.platform.logs import configure_logging, install_redaction, request_id_var
from api.platform.metrics import UNMATCHED, MetricsMiddleware, route_template
from api.platform.pagination import use_cursor_secret
from api.platform.settings import Settings
from api.platform.shedding import LoadSheddingMiddleware
from api.records import rest as records_rest
from api.schema import PortalSchema, build_schema
from api.schema.view import PortalGraphQL
from api.selfinfo import rest as selfinfo_rest
from api.web import app as web_app
from corporate import rest as corporate_rest
from payments.config import close_gateways
from payments.rest import payment_routes

access_log = logging.getLogger("api.access")
RouteFactory = Callable[[Settings, async_sessionmaker[AsyncSession]], list[BaseRoute]]
# Domains add their HTTP routes here: a function taking (settings, session_factory) and returning a list of
# Starlette routes (e.g. the corporate REST API mounted at /corporate).
# (The identity routes share the process's identity service with GraphQL: create_app mounts them itself.)
ROUTE_FACTORIES: tuple[RouteFactory, ...] = (corporate_rest.routes, payment_routes, records_rest.routes,
                                              exchange_rest.routes, selfinfo_rest.routes,
                                              applications_rest.routes)
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestIdMiddleware:
    """Tags every log line of a request with its id (the client's X-Request-ID if sane) and logs access."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        incoming = next((value for name, value in scope["headers"] if name == b"x-request-id"), b"").decode("latin-1")
        request_id = incoming if _REQUEST_ID.match(incoming) else os.urandom(16).hex()
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if scope["type"] == "http" and access_log.isEnabledFor(logging.INFO):
                # The matched route's template, not the path: a path can carry a one-time secret (a delivery
                # service's fetch link) or ids that tie a person to a request; the request id finds the rest.
                template = route_template(scope)
                access_log.info("%s %s %s", scope["method"], scope["path"] if template == UNMATCHED else template,
                                status,
                                extra={"status": status,
                                       "duration_ms": round((time.perf_counter() - started) * 1000, 2)})
            request_id_var.reset(token)


def _migration_head() -> str:
    return (MIGRATIONS / ".current-alembic-head").read_text().strip()


def create_app(settings: Settings | None = None, *, owns_process: bool = True,
               schema: PortalSchema | None = None) -> Starlette:
    """The app; ``schema`` replaces the one built from ``settings`` (e.g. with more extensions or directives).

    ``owns_process``: the app is its process's only one (a server's worker), so it configures the process's
    logging and, once started, moves what start-up built out of the garbage collector's reach. Tests and tools
    that run several apps in one process pass False.
    """
    settings = settings or Settings.from_env()
    if owns_process:
        configure_logging(settings.log_level)
    install_redaction()  # whoever handles the records (a host process's handlers too) gets them redacted
    engine = create_engine(settings.database_url)
    session_factory = create_session_factory(engine)
    read_factory = create_session_factory(engine, read_only=True)
    cipher = cipher_for(settings)
    # Every worker signs cursors alike (api.platform.pagination), with a key made by the lookup key's newest
    # generation (inside the HSM when keys live there).
    use_cursor_secret(cipher.keys.mac(cipher.lookup_generation, b"mynaportal pagination cursor key"))
    identity = ProcessIdentityService(settings, session_factory)
    # Certificates (住民票 ...): fonts and signing keys loaded once per process, on first use.
    certificate_issuer = LazyIssuer(settings)
    if settings.production:
        certificate_issuer.get()  # production refuses sandbox signing keys at start, not at the first request
    # Subscriptions' new-notice feed; its LISTEN connection (PostgreSQL) opens with the first subscriber.
    notice_broker = NoticeBroker(engine)
    graphql_app = PortalGraphQL(schema or build_schema(settings), session_factory=session_factory,
                                read_session_factory=read_factory,
                                engine=engine, sessions=SessionCache(settings.session_cache_size),
                                cipher=cipher, graphiql=settings.graphiql, settings=settings, identity=identity,
                                notice_broker=notice_broker, certificate_issuer=certificate_issuer)
    head = _migration_head()
    # The OpenID Provider holds a synchronous engine for Authlib's hooks: closed with the app.
    oidc = oidc_http.OidcEndpoints(settings, session_factory)

    async def healthz(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> JSONResponse:
        try:
            async with engine.connect() as connection:
                current = await connection.scalar(text("SELECT version_num FROM alembic_version"))
        except Exception:  # any database failure means "not ready"; the reason goes to the log
            logging.getLogger("api.health").warning("database not reachable", exc_info=True)
            return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
        if current != head:
            return JSONResponse({"status": "unavailable", "database": "not migrated", "revision": current,
                                 "expected": head}, status_code=503)
        return JSONResponse({"status": "ok", "database": "ok", "revision": current})

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if owns_process:
            # What start-up built (schema, mappers, compiled statements) lives as long as the process: moved out
            # of the collector's generations, a full collection no longer walks it on every request burst.
            gc.collect()
            gc.freeze()
        yield
        await notice_broker.close()
        await graphql_app.record_feed.close()
        await graphql_app.feed_guard.close()
        oidc.close()
        await close_gateways()
        await dispose_engine(engine)

    routes: list[BaseRoute] = [
        Route("/graphql", graphql_app, methods=["GET", "POST"]),
        WebSocketRoute("/graphql", graphql_app),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics_endpoint(read_factory), methods=["GET"]),
        *identity_http.routes(settings, identity),
        *oidc_http.routes(oidc),
        *certificates_rest.routes(settings, session_factory, certificate_issuer),
        *certificates_kiosk_rest.routes(settings, session_factory, certificate_issuer, identity),
        *openapi_routes(),
        # The web portal (PC, phone, TV): its cookie's signing key comes from the lookup key, like the cursors'.
        *web_app.routes(settings, session_factory, engine, identity,
                        cipher.keys.mac(cipher.lookup_generation, b"mynaportal web session cookie key"),
                        cipher=cipher, certificate_issuer=certificate_issuer),
        Route("/", lambda _: RedirectResponse("/web/", status_code=307)),
    ]
    for factory in ROUTE_FACTORIES:
        routes.extend(factory(settings, session_factory))
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        # A pool timeout (too many requests for this worker's connections) is a 503 with Retry-After, not a bug.
        exception_handlers={404: routing_problem, 405: routing_problem, PoolTimeout: unavailable_problem,
                            Exception: internal_problem},
    )
    # Inside the request id (a refusal is logged with its id), outside every route (no handler reads past it).
    graphql_limit, upload_limit = attachment_limits(settings.max_attachment_bytes, settings.max_body_graphql)
    app.add_middleware(BodyLimitMiddleware, limits=BodyLimits(
        graphql=graphql_limit, rest=settings.max_body_rest, webhooks=settings.max_body_webhooks,
        uploads=upload_limit, websocket=settings.max_body_graphql))
    # Outside the body limit (a shed request's body is never read), inside the request id (the 503 is logged).
    app.add_middleware(LoadSheddingMiddleware, max_concurrency=settings.max_concurrency)
    app.add_middleware(RequestIdMiddleware)
    app.add_middleware(MetricsMiddleware)  # outermost: a shed or refused request is timed too
    app.state.settings = settings
    app.state.engine = engine
    app.state.session_factory = session_factory
    app.state.cipher = cipher
    app.state.schema = graphql_app.schema
    app.state.certificate_issuer = certificate_issuer
    app.state.identity = identity  # for tests, which give it their own transport and clock
    return app
