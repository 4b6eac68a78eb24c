"""The web portal's routes, mounted at /web (pages, their static files, the sign-in endpoints)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from api.certificates.issuing import LazyIssuer
from api.identity.service import ProcessIdentityService
from api.people.individual_number import IndividualNumberCipher
from api.platform.scopes import (
    APPLICATIONS_WRITE,
    CERTIFICATES_REQUEST,
    NOTICES_READ,
    PAYMENTS_READ,
    PAYMENTS_WRITE,
    PROFILE_READ,
    RECORDS_READ,
)
from api.platform.settings import Settings
from api.web import applications, certificates, consents, login, pages, staff, tv
from api.web.cookies import CookieCodec
from api.web.rendering import PACKAGE, Web, page


def routes(settings: Settings, session_factory: async_sessionmaker[AsyncSession], engine: AsyncEngine,
           identity: ProcessIdentityService, cookie_key: bytes, *, cipher: IndividualNumberCipher | None = None,
           certificate_issuer: LazyIssuer | None = None) -> list[BaseRoute]:
    web = Web(settings, session_factory, engine, identity, CookieCodec(cookie_key, secure=settings.production),
              cipher, certificate_issuer or LazyIssuer(settings))
    staff_cookie = staff.staff_codec(cookie_key, settings.production)
    applying = dict(scope=APPLICATIONS_WRITE, form=True)

    def staff_page(handler: staff.StaffHandler, **options: bool) -> object:
        return staff.staff_page(web, staff_cookie, handler, **options)

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
        Route("/applications", page(web, applications.applications, scope=APPLICATIONS_WRITE)),
        Route("/applications/start", page(web, applications.start, **applying), methods=["POST"]),
        Route("/applications/{application_id}", page(web, applications.application_page, scope=APPLICATIONS_WRITE)),
        Route("/applications/{application_id}/save", page(web, applications.save, **applying), methods=["POST"]),
        Route("/applications/{application_id}/prefill", page(web, applications.prefill, **applying),
              methods=["POST"]),
        Route("/applications/{application_id}/attach", page(web, applications.attach, **applying), methods=["POST"]),
        Route("/applications/{application_id}/to-sign", page(web, applications.to_sign, **applying),
              methods=["POST"]),
        Route("/applications/{application_id}/submit", page(web, applications.submit, **applying), methods=["POST"]),
        Route("/applications/{application_id}/withdraw", page(web, applications.withdraw, **applying),
              methods=["POST"]),
        Route("/certificates", page(web, certificates.certificates, scope=CERTIFICATES_REQUEST)),
        Route("/certificates/request", page(web, certificates.request, scope=CERTIFICATES_REQUEST, form=True),
              methods=["POST"]),
        Route("/certificates/{issuance_id}/collect", page(web, certificates.collect, scope=CERTIFICATES_REQUEST,
                                                          form=True), methods=["POST"]),
        Route("/certificates/{issuance_id}/pdf", page(web, certificates.document, scope=CERTIFICATES_REQUEST)),
        Route("/consents", page(web, consents.consents, scope=PROFILE_READ)),
        Route("/consents/{consent_id}/withdraw", page(web, consents.withdraw, scope=PROFILE_READ, form=True),
              methods=["POST"]),
        Route("/staff", staff_page(staff.inbox_page)),
        Route("/staff/login", staff_page(staff.login_page, signed_in=False)),
        Route("/staff/login", staff_page(staff.login, signed_in=False, form=True), methods=["POST"]),
        Route("/staff/logout", staff_page(staff.logout, signed_in=False, form=True), methods=["POST"]),
        Route("/staff/applications/{reception_number}", staff_page(staff.application_page)),
        Route("/staff/applications/{reception_number}/move", staff_page(staff.move, form=True), methods=["POST"]),
        Route("/login", page(web, login.login_page)),
        Route("/login/card/challenge", page(web, login.card_challenge, form=True), methods=["POST"]),
        Route("/login/card", page(web, login.card_login, form=True), methods=["POST"]),
        Route("/login/qr", page(web, login.qr_login, form=True), methods=["POST"]),
        Route("/device/poll", page(web, login.device_poll, form=True), methods=["POST"]),
        Route("/logout", page(web, login.logout, form=True), methods=["POST"]),
        Route("/tv", page(web, tv.tv)),
        Mount("/static", app=StaticFiles(directory=PACKAGE / "static"), name="static"),
    ])]
