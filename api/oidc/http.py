"""The OpenID Provider's HTTP endpoints: discovery, JWKS, the authorization endpoint (its pages are in
api.oidc.pages), token, userinfo, revocation, introspection and the 自己情報取得API.

OAuth endpoints answer in OAuth's own error format (RFC 6749 §5.2, RFC 6750 §3), as relying parties' libraries
expect; the 自己情報取得API's refusals too. Authlib's calls run in a worker thread (api.oidc.server).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import html
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode

from anyio import CapacityLimiter, to_thread
from authlib.oauth2.rfc6749.errors import OAuth2Error
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import sessionmaker
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from api.oidc.dpop import DPoPError, InvalidDPoPProofError, verify_proof
from api.oidc.keys import ProviderKeys
from api.oidc.login import LoginStatus, start_login, take_decided
from api.oidc.models import OidcClient
from api.oidc.pages import NO_STORE, discovery, login_page, page
from api.oidc.par import PushedAuthorizationRequests
from api.oidc.resources import Presented, TokenRefused, WriteTurn, read_category, userinfo
from api.oidc.server import Provider
from api.oidc.signing import SIGN_TTL, SignRequestError, open_transaction, transaction_result
from api.oidc.stored import EndUser, PortalRequest, current_session, remember_jwt_id
from api.platform.db import READ_ONLY_OPTION, create_sync_engine, utcnow
from api.platform.rate_limits import Limit, RateLimiter
from api.platform.settings import Settings
from api.platform.text import text_problem

SessionFactory = async_sessionmaker[AsyncSession]
LOGIN_COOKIE = "oidc_login"
RATE_WINDOW = timedelta(minutes=1)
RATE_LIMIT_CACHE = 10.0  # seconds a client's registered rate limit is remembered
RATE_LIMIT_CACHE_SIZE = 1024
MAX_FORM_FIELDS = 1000  # as Starlette's form parser
FORM_TYPE = "application/x-www-form-urlencoded"
_UNSPEAKABLE = (400, {"error": "invalid_request", "error_description": "A parameter holds characters OAuth does not "
                                                                      "allow."}, list(NO_STORE.items()))


def _datalist(items: list[tuple[str, str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for key, value in items:
        out.setdefault(key, []).append(value)
    return out


def _answer(result: tuple[int, Any, list[tuple[str, str]]]) -> Response:
    status, body, headers = result
    header_map = dict(headers)
    if status in (301, 302, 303) and "Location" in header_map:
        return RedirectResponse(header_map["Location"], status_code=status)
    if isinstance(body, dict):
        return JSONResponse(body, status_code=status, headers=header_map)
    return Response(body or "", status_code=status, headers=header_map)


def _oauth_error(status: int, error: str, description: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status,
                        headers={**NO_STORE, **(headers or {})})


class OidcEndpoints:
    def __init__(self, settings: Settings, session_factory: SessionFactory) -> None:
        self.settings = settings
        self.issuer = settings.public_url.rstrip("/")
        self.session_factory = session_factory
        # Shared by every worker when the storage is Redis (api.platform.rate_limits).
        self.rate_limiter = RateLimiter(settings.rate_limit_storage, prefix=settings.rate_limit_prefix)
        self.sync_engine = create_sync_engine(settings.database_url)
        self.keys = ProviderKeys.from_settings(settings)
        sqlite = self.sync_engine.dialect.name == "sqlite"
        # Most of Authlib's calls hold a write transaction: SQLite has one writer, so they take turns there (rather
        # than time out on its lock); PostgreSQL runs a few at once. The token endpoint verifies and signs on a read
        # transaction and writes in a short one after (api.oidc.server.Provider.run), so more run at once.
        self.limiter = CapacityLimiter(1 if sqlite else 8)
        self.short_write_limiter = CapacityLimiter(4 if sqlite else 8)
        self.read_factory = async_sessionmaker(session_factory.kw["bind"].execution_options(**{READ_ONLY_OPTION: True}),
                                               expire_on_commit=False)
        self._rate_limits: dict[str, tuple[int | None, float]] = {}
        self.write_turn: WriteTurn = asyncio.Lock() if sqlite else contextlib.nullcontext()
        self.provider = Provider(
            self.issuer, sessionmaker(self.sync_engine, expire_on_commit=False), self.keys, settings.access_token_ttl,
            read_sessions=sessionmaker(self.sync_engine.execution_options(**{READ_ONLY_OPTION: True}),
                                       expire_on_commit=False))
        self.par = PushedAuthorizationRequests(self.provider)

    def close(self) -> None:
        self.sync_engine.dispose()

    def _uri(self, request: Request) -> str:
        # Authlib checks the transport: requests are named by the public origin (TLS ends at the proxy). Read from
        # the scope as Starlette's URL would (building the URL object cost more than the rest of this).
        path = request.scope["path"].replace("?", "%3F").replace("#", "%23").replace("\\", "%5C")
        query = request.scope["query_string"].decode("utf-8", "replace")
        return f"{self.issuer}{path}?{query}" if query else f"{self.issuer}{path}"

    async def _portal_request(self, request: Request) -> PortalRequest:
        form: dict[str, list[str]] = {}
        if request.method == "POST":
            form = _datalist(await _form_items(request))
        return PortalRequest(request.method, self._uri(request), dict(request.headers),
                             _datalist(list(request.query_params.multi_items())), form)

    async def _limited(self, client_id: str | None) -> Response | None:
        """Per-client rate limit (requests per minute, registered with the client)."""
        if not client_id or text_problem(client_id[:64]) is not None:
            return None  # no client has it (a NUL would be a 500 on PostgreSQL): the endpoint refuses it as unknown
        limit = await self._rate_limit_of(client_id[:64])
        if limit is None:
            return None
        wait = await self.rate_limiter.hit(Limit(limit, int(RATE_WINDOW.total_seconds())), "oidc", client_id[:64])
        if wait is None:
            return None
        return _oauth_error(429, "slow_down", "Too many requests for this client.", {"retry-after": str(wait)})

    async def _rate_limit_of(self, client_id: str) -> int | None:
        """The client's registered limit, remembered for RATE_LIMIT_CACHE (a changed limit applies within it)."""
        now = time.monotonic()
        cached = self._rate_limits.get(client_id)
        if cached is not None and cached[1] > now:
            return cached[0]
        async with self.read_factory() as session:
            limit = await session.scalar(select(OidcClient.rate_limit_per_minute)
                                         .where(OidcClient.client_id == client_id))
        if len(self._rate_limits) >= RATE_LIMIT_CACHE_SIZE:
            self._rate_limits.clear()  # unknown ids cannot grow it without bound
        self._rate_limits[client_id] = (limit, now + RATE_LIMIT_CACHE)
        return limit

    # -- discovery --------------------------------------------------------------------------------------------
    async def configuration(self, request: Request) -> Response:
        return JSONResponse(discovery(self.issuer), headers={"cache-control": "public, max-age=300"})

    async def jwks(self, request: Request) -> Response:
        return JSONResponse(self.keys.jwks(), headers={"cache-control": "public, max-age=300"})

    # -- the authorization endpoint and its login page ----------------------------------------------------------
    async def authorize(self, request: Request) -> Response:
        if limited := await self._limited(request.query_params.get("client_id")):
            return limited
        portal_request = await self._portal_request(request)

        def validate() -> Any:
            try:
                grant = self.provider.get_consent_grant(portal_request, end_user=None)
            except OAuth2Error as error:
                return self.provider.handle_error_response(portal_request, error)
            except ValueError:  # Authlib refuses to echo a parameter outside OAuth's characters in its error
                return _UNSPEAKABLE
            parameters = {key: values for key, values in portal_request.payload.datalist.items()}
            return start_login(current_session.get(), grant.request.client.row, parameters, grant.request.scope)

        result = await to_thread.run_sync(self.provider.run, validate, limiter=self.limiter)
        if isinstance(result, tuple):
            status, body, _ = result
            if status == 302:
                return _answer(result)
            # No redirect URI to trust (unknown client, wrong redirect URI): tell the person, not the client.
            description = body.get("error_description", "") if isinstance(body, dict) else ""
            return page("ログインできません", f'<p id="error">{html.escape(description)}</p>', status=400)
        continue_url = f"/oidc/authorize/continue?{urlencode({'request': str(result.request.id)})}"
        response = login_page(result.client, result.request.scopes.split(), result.request.short_code, continue_url)
        response.set_cookie(f"{LOGIN_COOKIE}_{result.request.id.hex}", result.browser_secret,
                            max_age=int(timedelta(minutes=5).total_seconds()), path="/oidc/authorize",
                            httponly=True, samesite="lax", secure=self.issuer.startswith("https://"))
        return response

    async def continue_login(self, request: Request) -> Response:
        try:
            request_id = uuid.UUID(request.query_params.get("request", ""))
        except ValueError:
            return page("ログインできません", '<p id="error">この要求は無効です。</p>', status=400)
        secret = request.cookies.get(f"{LOGIN_COOKIE}_{request_id.hex}", "")

        def finish() -> Any:
            session = current_session.get()
            taken = take_decided(session, request_id, secret)
            if taken is None:
                return None
            login, decision = taken
            if decision is LoginStatus.PENDING:
                return "pending"
            client = session.get(OidcClient, login.client_pk)
            replay = PortalRequest("GET", f"{self.issuer}/oidc/authorize", {}, login.parameters)
            replay.validated_before = True  # pushed (PAR) or not, these parameters passed the authorization endpoint
            user = None
            if decision is LoginStatus.APPROVED and login.person_id and login.consent_id:
                user = EndUser(login.person_id, login.consent_id, login.approved_at or utcnow(), client)
            try:
                grant = self.provider.get_consent_grant(replay, end_user=user)
            except OAuth2Error as error:  # the client was suspended meanwhile
                return self.provider.handle_error_response(replay, error)
            return self.provider.create_authorization_response(replay, grant_user=user, grant=grant)

        result = await to_thread.run_sync(self.provider.run, finish, limiter=self.limiter)
        if result is None:
            return page("ログインできません", '<p id="error">この要求は無効か期限切れです。</p>', status=400)
        if result == "pending":
            continue_url = f"/oidc/authorize/continue?{urlencode({'request': str(request_id)})}"
            return page("承認を待っています", '<p id="waiting">アプリで承認してください。</p>'
                         f'<p><a id="continue" href="{html.escape(continue_url)}">続ける</a></p>',
                         refresh=continue_url)
        response = _answer(result)
        response.delete_cookie(f"{LOGIN_COOKIE}_{request_id.hex}", path="/oidc/authorize")
        return response

    # -- token, revocation, introspection (Authlib, client authenticated by private_key_jwt) -------------------
    async def _client_endpoint(self, request: Request, call: Callable[[PortalRequest], Any], *,
                               short_writes: bool = False) -> Response:
        portal_request = await self._portal_request(request)
        if limited := await self._limited(_asserted_client(portal_request)):
            return limited
        def guarded() -> Any:
            try:
                return call(portal_request)
            except ValueError:  # Authlib refuses to echo a parameter outside OAuth's characters in its error
                return _UNSPEAKABLE

        result = await to_thread.run_sync(functools.partial(self.provider.run, guarded, short_writes=short_writes),
                                          limiter=self.short_write_limiter if short_writes else self.limiter)
        return _answer(result)

    async def token(self, request: Request) -> Response:
        proof = request.headers.get("dpop")

        def exchange(portal_request: PortalRequest) -> Any:
            if proof is not None:
                try:
                    checked = verify_proof(proof, method="POST", url=f"{self.issuer}/oidc/token", now=utcnow())
                except DPoPError as error:
                    return 400, {"error": "invalid_dpop_proof", "error_description": str(error)}, list(
                        NO_STORE.items())
                remember_jwt_id("dpop", checked.replay_key, checked.until,
                                InvalidDPoPProofError("The DPoP proof was used before."))
                portal_request.dpop_jkt = checked.jkt
            return self.provider.create_exchange_response(portal_request, _asserted_client(portal_request))

        return await self._client_endpoint(request, exchange, short_writes=True)

    async def push(self, request: Request) -> Response:
        """RFC 9126: the client pushes its authorization request and gets a one-time request_uri."""
        return await self._client_endpoint(request, self.par.push)

    def _signing_client(self, request: PortalRequest) -> Any:
        return self.provider.authenticate_client(request, ["private_key_jwt"], "sign").row

    async def sign_open(self, request: Request) -> Response:
        """A signing transaction, opened by the client with its own credentials (no person yet)."""
        def open_(portal_request: PortalRequest) -> Any:
            try:
                client = self._signing_client(portal_request)
                row = open_transaction(current_session.get(), client, portal_request.form)
            except OAuth2Error as error:
                return error.status_code, dict(error.get_body()), list(NO_STORE.items())
            except SignRequestError as error:
                return 400, {"error": "invalid_request", "error_description": str(error)}, list(NO_STORE.items())
            return 201, {"transaction_id": str(row.id), "short_code": row.short_code,
                         "expires_in": int(SIGN_TTL.total_seconds())}, list(NO_STORE.items())

        return await self._client_endpoint(request, open_)

    async def sign_result(self, request: Request) -> Response:
        """The client takes the signature and the signer's certificate (or learns it is still pending)."""
        def result(portal_request: PortalRequest) -> Any:
            try:
                client = self._signing_client(portal_request)
                answer = transaction_result(current_session.get(), client,
                                            portal_request.form.get("transaction_id", ""))
            except OAuth2Error as error:
                return error.status_code, dict(error.get_body()), list(NO_STORE.items())
            except SignRequestError as error:
                return 400, {"error": "invalid_request", "error_description": str(error)}, list(NO_STORE.items())
            return 200, answer, list(NO_STORE.items())

        return await self._client_endpoint(request, result)

    async def revoke(self, request: Request) -> Response:
        return await self._client_endpoint(
            request, lambda r: self.provider.create_endpoint_response("revocation", r))

    async def introspect(self, request: Request) -> Response:
        return await self._client_endpoint(
            request, lambda r: self.provider.create_endpoint_response("introspection", r))

    # -- resources: userinfo and the 自己情報取得API -------------------------------------------------------------
    async def _resource(self, request: Request, read: Callable[[Presented], Awaitable[dict[str, Any]]]) -> Response:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() not in ("bearer", "dpop") or not token.strip():
            return _oauth_error(401, "invalid_request", "Send the access token (Bearer, or DPoP with a proof).",
                                {"www-authenticate": 'Bearer realm="mynaportal", DPoP algs="ES256 PS256 RS256 EdDSA"'})
        presented = Presented(token.strip(), scheme.lower() == "dpop", request.headers.get("dpop"),
                              request.method, f"{self.issuer}{request.url.path}")
        try:
            answer = await read(presented)
        except TokenRefused as refused:
            kind = "DPoP" if presented.dpop or refused.error == "invalid_dpop_proof" else "Bearer"
            challenge = f'{kind} realm="mynaportal", error="{refused.error}"'
            return _oauth_error(refused.status, refused.error, refused.description,
                                {"www-authenticate": challenge} if refused.status in (401, 403) else None)
        return JSONResponse(answer, headers=NO_STORE)

    async def userinfo(self, request: Request) -> Response:
        return await self._resource(request, lambda presented: userinfo(self.session_factory, self.write_turn,
                                                                             self.provider.portal, presented))

    async def selfinfo(self, request: Request) -> Response:
        category = request.path_params["category"]
        return await self._resource(request, lambda presented: read_category(
            self.session_factory, self.write_turn, presented, category))


async def _form_items(request: Request) -> list[tuple[str, str]]:
    """The form's fields. OAuth's endpoints take application/x-www-form-urlencoded (RFC 6749 §4.1.3): decoded
    as Starlette's parser would (latin-1 bytes, then percent-decoding as UTF-8 with replacement, blanks kept), by
    the standard library's parser (the streaming one cost more than the rest of the request's parsing)."""
    if request.headers.get("content-type", "").partition(";")[0].strip().lower() != FORM_TYPE:
        return list((await request.form()).multi_items())
    try:
        return parse_qsl((await request.body()).decode("latin-1"), keep_blank_values=True,
                         max_num_fields=MAX_FORM_FIELDS)
    except ValueError:
        raise HTTPException(400, f"Too many fields. Maximum number of fields is {MAX_FORM_FIELDS}.") from None


def _asserted_client(request: PortalRequest) -> str | None:
    """The client an assertion names (unverified: only a rate-limit key before Authlib authenticates it)."""
    assertion = request.form.get("client_assertion")
    if not assertion:
        return request.form.get("client_id")
    try:
        payload = assertion.split(".")[1]
        sub = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))).get("sub")
    except (IndexError, ValueError, TypeError, AttributeError):
        return None
    return sub if isinstance(sub, str) else None


def routes(endpoints: OidcEndpoints) -> list[BaseRoute]:
    return [
        Route("/.well-known/openid-configuration", endpoints.configuration, methods=["GET"]),
        Route("/oidc/jwks", endpoints.jwks, methods=["GET"]),
        Route("/oidc/authorize", endpoints.authorize, methods=["GET"]),
        Route("/oidc/authorize/continue", endpoints.continue_login, methods=["GET"]),
        Route("/oidc/par", endpoints.push, methods=["POST"]),
        Route("/oidc/token", endpoints.token, methods=["POST"]),
        Route("/oidc/sign", endpoints.sign_open, methods=["POST"]),
        Route("/oidc/sign/result", endpoints.sign_result, methods=["POST"]),
        Route("/oidc/userinfo", endpoints.userinfo, methods=["GET", "POST"]),
        Route("/oidc/revoke", endpoints.revoke, methods=["POST"]),
        Route("/oidc/introspect", endpoints.introspect, methods=["POST"]),
        Route("/oidc/selfinfo/{category}", endpoints.selfinfo, methods=["GET"]),
    ]
