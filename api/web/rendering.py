"""Templates, security headers and the page decorator every handler goes through."""

from __future__ import annotations

import hmac
import logging
import urllib.parse
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.templating import Jinja2Templates

from api.certificates.issuing import LazyIssuer
from api.identity import web_sessions
from api.identity.service import ProcessIdentityService
from api.identity.web_sessions import Lifetimes, WebSignIn
from api.people.individual_number import IndividualNumberCipher
from api.platform.auth import Principal
from api.platform.errors import PortalError, status_of
from api.platform.settings import Settings
from api.web.cookies import (
    COOKIE,
    CookieCodec,
    WebSession,
    delete_session_cookie,
    sent_form_token,
    set_session_cookie,
)
from api.web.navigation import SECTIONS

PACKAGE = Path(__file__).parent
TEMPLATES = Jinja2Templates(directory=PACKAGE / "templates")
# What agencies' data items are called on screen (自己情報表示); an unknown key shows as it is.
FIELD_LABELS = {"tax_year": "課税年度", "taxable_income": "課税所得", "municipal_tax": "住民税額",
                "dependants": "扶養人数", "household_head_name": "世帯主", "relationship_to_head": "世帯主との続柄",
                "members": "世帯員", "name": "氏名", "relationship": "続柄", "birth_date": "生年月日"}


def shown_value(value: Any, key: str = "") -> str:
    """A data item's value as a person reads it: amounts with separators (not years), a list of records one per
    line."""
    if isinstance(value, bool):
        return "はい" if value else "いいえ"
    if isinstance(value, int):
        return str(value) if key.endswith("year") else f"{value:,}"
    if isinstance(value, list):
        return "\n".join(shown_value(item) for item in value)
    if isinstance(value, dict):
        return "、".join(shown_value(item) for item in value.values())
    return str(value)


TEMPLATES.env.filters["field_label"] = lambda key: FIELD_LABELS.get(key, key)
TEMPLATES.env.filters["shown_value"] = shown_value
log = logging.getLogger("api.web")


def origin_of(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@dataclass
class Web:
    """What the pages share: the process's settings, database and identity service."""

    settings: Settings
    session_factory: async_sessionmaker[AsyncSession]
    engine: AsyncEngine
    identity: ProcessIdentityService
    cookies: CookieCodec
    cipher: IndividualNumberCipher | None = None  # the certificates' (a 住民票 with the number is drawn on opening)
    certificate_issuer: LazyIssuer | None = None

    @property
    def lifetimes(self) -> Lifetimes:
        return Lifetimes(self.settings.access_token_ttl, self.settings.refresh_token_ttl)

    @property
    def origin(self) -> str:
        """The portal's own origin: what the card helper signs for (never taken from a request)."""
        return origin_of(self.settings.public_url)

    def csp(self) -> str:
        helper = origin_of(self.settings.card_helper_url)
        gateway = origin_of(self.settings.payment_gateway_url)
        return ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                f"connect-src 'self' {helper}; form-action 'self' {gateway}; frame-ancestors 'none'; "
                "base-uri 'none'")


@dataclass
class Visit:
    """One request's view of the browser: its signed login cookie and, when signed in, its server-side session."""

    request: Request
    session: WebSession  # the form token before signing in, a login in progress, a shared terminal's id
    signed_in: WebSignIn | None
    started: WebSignIn | None = None  # signed in by this request: its cookie is set
    ended: bool = False  # signed out (or the cookie's session is over): its cookie is deleted

    @property
    def current(self) -> WebSignIn | None:
        return self.started or self.signed_in

    @property
    def principal(self) -> Principal | None:
        return self.current.principal if self.current is not None else None

    @property
    def csrf(self) -> str:
        """The signed-in session's form token (kept in its row), or the login cookie's before signing in."""
        return self.current.csrf if self.current is not None else self.session.csrf

    def check_csrf(self, sent: str | None) -> bool:
        if self.current is None:
            return self.session.check_csrf(sent)
        # As bytes: compare_digest refuses str with non-ASCII characters (a forged token may have them).
        return bool(sent) and hmac.compare_digest(self.current.csrf.encode(), str(sent).encode())

    @property
    def person_id(self) -> uuid.UUID:
        assert self.principal is not None
        return self.principal.person_id


Handler = Callable[[Web, Visit], Awaitable[Response]]


def render(web: Web, visit: Visit, template: str, status: int = 200, **values: Any) -> HTMLResponse:
    scopes = visit.principal.scopes if visit.principal else frozenset()
    context = {"csrf": visit.csrf, "signed_in": visit.principal is not None,
               "sections": [s for s in SECTIONS if s.scope in scopes], "path": visit.request.url.path,
               "shared_terminal": bool(visit.session.get("terminal")), **values}
    return TEMPLATES.TemplateResponse(visit.request, template, context, status_code=status)


def page(web: Web, handler: Handler, *, scope: str | None = None, form: bool = False
         ) -> Callable[[Request], Awaitable[Response]]:
    """Resume the browser's session (api.identity.web_sessions: every request re-reads its session token), check
    the form token on POST, add the security headers.

    ``scope``: the page needs a signed-in person whose session carries it (otherwise to the login page)."""

    async def endpoint(request: Request) -> Response:
        try:
            return await _endpoint(request)
        finally:
            await request.close()  # the form read for its token, uploads included

    async def _endpoint(request: Request) -> Response:
        sent_id = request.cookies.get(COOKIE, "")
        found = await web_sessions.resume(web.session_factory, sent_id, web.lifetimes) if sent_id else None
        visit = Visit(request, web.cookies.load(request), found, ended=bool(sent_id) and found is None)
        if request.method == "POST" and form:
            if not visit.check_csrf(await sent_form_token(request)):
                response: Response = render(web, visit, "error.html", 403, title="もう一度お試しください",
                                            message="フォームの有効期限が切れました。ページを開き直してください。")
                return _finish(web, visit, response)
        if scope is not None and (visit.principal is None or scope not in visit.principal.scopes):
            if visit.principal is None:
                response = RedirectResponse("/web/login", status_code=303)
            else:
                response = render(web, visit, "error.html", 403, title="この画面は使えません",
                                  message="このサインインでは見られない画面です。")
            return _finish(web, visit, response)
        try:
            response = await handler(web, visit)
        except PortalError as error:
            log.info("page refused: %s", error.code)
            response = render(web, visit, "error.html", status_of(error.code), title="お手続きできませんでした",
                              message=error.message, code=error.code.value)  # the stable code, for scripts
        return _finish(web, visit, response)

    return endpoint


def _finish(web: Web, visit: Visit, response: Response) -> Response:
    if visit.started is not None:
        set_session_cookie(response, visit.started.session_id, secure=web.settings.production)
    elif visit.ended:
        delete_session_cookie(response, secure=web.settings.production)
    web.cookies.store(visit.session, response)
    response.headers["content-security-policy"] = web.csp()
    response.headers["x-content-type-options"] = "nosniff"
    response.headers["referrer-policy"] = "same-origin"
    response.headers["cache-control"] = "no-store"
    response.headers.setdefault("x-frame-options", "DENY")
    return response
