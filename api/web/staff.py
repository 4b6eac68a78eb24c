"""The municipality's staff inbox (職員用): sign in with the staff token an administrator issued
(`mynaportal applications staff --name N --role decider`), list the municipality's applications, open one (on
the applicant's record, as every inbox read is), request a correction (補正依頼), move to 審査中,
approve (完了) or reject (却下).

A separate session from the person's, kept on the server (api.applications.staff_sessions): the cookie ``mp_staff``
(HttpOnly, SameSite=Strict, path /web/staff, Secure outside development) holds only an opaque random session id;
the session's row holds its form token and the hash of the credential signed in with, which is checked again on
every request (a disabled account, a revoked key, signing out: out at once); 30 minutes unused ends it too.
Before signing in, the sign-in form's token travels in a signed cookie of its own (``mp_staff_login``, path
/web/staff/login), which holds nothing else. Every handler calls the inbox's domain functions
(api/applications/inbox.py), as the REST and GraphQL inbox do."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from api.applications import inbox, staff_sessions
from api.applications.catalogue import procedure
from api.applications.inbox import MOVES
from api.applications.models import STATUSES
from api.applications.staff import InboxActor
from api.applications.staff_sessions import StaffSession
from api.platform.errors import PortalError, status_of
from api.platform.pagination import PageRequest
from api.web.applications import STATUS_LABELS, form_sections
from api.web.cookies import CookieCodec, WebSession, sent_form_token
from api.web.rendering import TEMPLATES, Web, log

COOKIE = "mp_staff"
COOKIE_PATH = "/web/staff"
LOGIN_COOKIE = "mp_staff_login"
MOVE_LABELS = {"reviewing": "審査を始める", "correction_requested": "補正を依頼する", "completed": "承認する (完了)",
               "rejected": "却下する"}


def staff_codec(cookie_key: bytes, secure: bool) -> CookieCodec:
    """The sign-in form's token cookie (a key derived apart: the person's cookie cannot stand in for it)."""
    key = hmac.new(cookie_key, b"mynaportal-web-staff", hashlib.sha256).digest()
    return CookieCodec(key, secure=secure, name=LOGIN_COOKIE, path="/web/staff/login", samesite="strict")


@dataclass
class StaffVisit:
    request: Request
    session: StaffSession | None  # signed in
    form: WebSession  # before signing in: the sign-in form's token
    started: StaffSession | None = None  # signed in by this request: its cookie is set
    ended: bool = False  # signed out (or the cookie's session is over): its cookie is deleted

    @property
    def actor(self) -> InboxActor | None:
        return self.session.actor if self.session is not None else None

    @property
    def csrf(self) -> str:
        return self.session.csrf if self.session is not None else self.form.csrf

    def check_csrf(self, sent: str | None) -> bool:
        # As bytes: compare_digest refuses str with non-ASCII characters (a forged token may have them).
        return bool(sent) and hmac.compare_digest(self.csrf.encode(), str(sent).encode())


StaffHandler = Callable[[Web, StaffVisit], Awaitable[Response]]


def render_staff(visit: StaffVisit, template: str, status: int = 200, **values: object) -> HTMLResponse:
    context = {"csrf": visit.csrf, "actor": visit.actor, "labels": STATUS_LABELS, **values}
    return TEMPLATES.TemplateResponse(visit.request, template, context, status_code=status)


def staff_page(web: Web, codec: CookieCodec, handler: StaffHandler, *, signed_in: bool = True, form: bool = False
               ) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        try:
            return await _endpoint(request)
        finally:
            await request.close()

    async def _endpoint(request: Request) -> Response:
        sent_id = request.cookies.get(COOKIE, "")
        found = await staff_sessions.resume(web.session_factory, sent_id) if sent_id else None
        visit = StaffVisit(request, found, codec.load(request), ended=bool(sent_id) and found is None)
        actor = visit.actor
        response: Response
        if request.method == "POST" and form:
            if not visit.check_csrf(await sent_form_token(request)):
                response = render_staff(visit, "staff_error.html", 403, message="フォームの有効期限が切れました。"
                                        "ページを開き直してください。")
                return _finish(web, codec, visit, response)
        if signed_in and actor is None:
            return _finish(web, codec, visit, RedirectResponse("/web/staff/login", status_code=303))
        try:
            response = await handler(web, visit)
        except PortalError as error:
            log.info("staff page refused: %s", error.code)
            response = render_staff(visit, "staff_error.html", status_of(error.code), message=error.message)
        return _finish(web, codec, visit, response)

    return endpoint


def _finish(web: Web, codec: CookieCodec, visit: StaffVisit, response: Response) -> Response:
    if visit.started is not None:
        response.set_cookie(COOKIE, visit.started.session_id, path=COOKIE_PATH, httponly=True,
                            secure=web.settings.production, samesite="strict")
    elif visit.ended:
        response.delete_cookie(COOKIE, path=COOKIE_PATH, httponly=True, secure=web.settings.production,
                               samesite="strict")
    if visit.session is None and visit.started is None:
        codec.store(visit.form, response)
    response.headers["content-security-policy"] = ("default-src 'none'; style-src 'self'; img-src 'self'; "
                                                   "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
    response.headers["x-content-type-options"] = "nosniff"
    response.headers["referrer-policy"] = "same-origin"
    response.headers["cache-control"] = "no-store"
    response.headers["x-frame-options"] = "DENY"
    return response


async def login_page(web: Web, visit: StaffVisit) -> Response:
    if visit.actor is not None:
        return RedirectResponse("/web/staff", status_code=303)
    return render_staff(visit, "staff_login.html")


async def login(web: Web, visit: StaffVisit) -> Response:
    async with visit.request.form() as fields:
        token = str(fields.get("token", "")).strip()
    try:
        started = await staff_sessions.sign_in(web.session_factory, token[:200])
    except PortalError:
        return render_staff(visit, "staff_login.html", 401, problem="職員用トークンが正しくありません。")
    if visit.session is not None:  # signed in again over a session: the old one ends
        await staff_sessions.sign_out(web.session_factory, visit.session.session_id)
    visit.started = started  # a new id and a new form token: nothing of before the sign-in carries over
    log.info("staff signed in to the inbox of %s", started.actor.municipality_code)
    return RedirectResponse("/web/staff", status_code=303)


async def logout(web: Web, visit: StaffVisit) -> Response:
    if visit.session is not None:
        await staff_sessions.sign_out(web.session_factory, visit.session.session_id)
    visit.ended = True
    return RedirectResponse("/web/staff/login", status_code=303)


async def inbox_page(web: Web, visit: StaffVisit) -> Response:
    assert visit.actor is not None
    status = visit.request.query_params.get("status") or None
    if status is not None and status not in STATUSES:
        status = None
    page = await inbox.list_inbox(web.session_factory, visit.actor, PageRequest.parse(100, None), status)
    return render_staff(visit, "staff_inbox.html", rows=[row for _, row in page.items], current=status,
                        statuses=[s for s in STATUSES if s != "draft"])


async def application_page(web: Web, visit: StaffVisit) -> Response:
    assert visit.actor is not None
    number = visit.request.path_params["reception_number"][:40]
    found = await inbox.fetch(web.session_factory, visit.actor, number)
    moves = sorted(MOVES.get(found.row.application.status, frozenset()), key=list(MOVE_LABELS).index) \
        if visit.actor.can_decide else []
    proc = procedure(found.row.application.procedure_code)
    titles = {s["name"]: (s["title"], {i["key"]: i["title"] for i in s["inputs"]}) for s in form_sections(proc)}
    return render_staff(visit, "staff_application.html", found=found, moves=moves, move_labels=MOVE_LABELS,
                        procedure=proc, titles=titles,
                        key=secrets.token_hex(16))


async def move(web: Web, visit: StaffVisit) -> Response:
    assert visit.actor is not None
    number = visit.request.path_params["reception_number"][:40]
    async with visit.request.form() as fields:
        to_status, note = str(fields.get("status", "")), str(fields.get("note", "")).strip()
        key = str(fields.get("idempotency_key", ""))[:100] or None
    await inbox.move(web.session_factory, visit.actor, number, to_status, note or None, idempotency_key=key)
    return RedirectResponse(f"/web/staff/applications/{number}?moved={to_status}", status_code=303)
