"""The web portal's routes, mounted at /web (pages, their static files, the sign-in endpoints)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from api.identity.service import ProcessIdentityService
from api.platform.scopes import NOTICES_READ, PAYMENTS_READ, PAYMENTS_WRITE, PROFILE_READ, RECORDS_READ
from api.platform.settings import Settings
from api.web import login, pages, tv
from api.web.cookies import CookieCodec
from api.web.rendering import PACKAGE, Web, page


def routes(settings: Settings, session_factory: async_sessionmaker[AsyncSession], engine: AsyncEngine,
           identity: ProcessIdentityService, cookie_key: bytes) -> list[BaseRoute]:
    web = Web(settings, session_factory, engine, identity, CookieCodec(cookie_key, secure=settings.production))
    return [Mount("/web", routes=[
        Route("/", page(web, pages.home, scope=PROFILE_READ)),
        Route("/notices", page(web, pages.notices, scope=NOTICES_READ)),
        Route("/notices/{notice_id}", page(web, pages.notice, scope=NOTICES_READ)),
        Route("/payments", page(web, pages.payments, scope=PAYMENTS_READ)),
        Route("/payments/orders/{order_id}/pay", page(web, pages.pay, scope=PAYMENTS_WRITE, form=True),
              methods=["POST"]),
        Route("/payments/{payment_id}", page(web, pages.payment, scope=PAYMENTS_READ)),
        Route("/history", page(web, pages.history_page, scope=RECORDS_READ)),
        Route("/me", page(web, pages.me, scope=RECORDS_READ)),
        Route("/proxies", page(web, pages.proxies, scope=PROFILE_READ)),
        Route("/login", page(web, login.login_page)),
        Route("/login/card/challenge", page(web, login.card_challenge, form=True), methods=["POST"]),
        Route("/login/card", page(web, login.card_login, form=True), methods=["POST"]),
        Route("/login/qr", page(web, login.qr_login, form=True), methods=["POST"]),
        Route("/device/poll", page(web, login.device_poll, form=True), methods=["POST"]),
        Route("/logout", page(web, login.logout, form=True), methods=["POST"]),
        Route("/tv", page(web, tv.tv)),
        Mount("/static", app=StaticFiles(directory=PACKAGE / "static"), name="static"),
    ])]
