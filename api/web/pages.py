"""The person's pages: home, お知らせ, 公金決済, やりとり履歴, わたしの情報, 代理人. Each calls the domain
function its GraphQL resolver calls (api/schema/*), with the signed-in person as actor and subject."""

from __future__ import annotations

import secrets
import uuid
from datetime import date

from starlette.responses import RedirectResponse, Response

from api.agencies.service import agencies_by_ids
from api.history import service as history
from api.history.entries import RecordFilter
from api.notices import inbox
from api.notices.service import InboxFilter, Mark
from api.platform.errors import ErrorCode, PortalError
from api.platform.pagination import PageRequest
from api.proxies import grants
from api.selfinfo.held import read_information
from api.web.rendering import Visit, Web, render
from payments import actions, reads
from payments.models import OrderState, PaymentMethod
from payments.reads import Reader


def path_uuid(visit: Visit, name: str) -> uuid.UUID:
    try:
        return uuid.UUID(visit.request.path_params[name])
    except ValueError as error:
        raise PortalError(ErrorCode.NOT_FOUND, "見つかりません。") from error


async def agency_names(web: Web, ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not ids:
        return {}
    async with web.session_factory() as session:
        found = await agencies_by_ids(session, list(ids))
    return {agency_id: agency.name for agency_id, agency in found.items()}


async def notices_of(web: Web, visit: Visit, first: int, *, unread: bool | None = None) -> list:
    page = await inbox.read_inbox(web.session_factory, visit.person_id, visit.person_id,
                                  PageRequest.parse(first, None), InboxFilter(unread=unread), today=date.today())
    return [item for _, item in page.items]


async def orders_due(web: Web, visit: Visit, first: int = 20) -> list:
    page = await reads.person_orders(web.session_factory, visit.person_id, None, PageRequest.parse(first, None),
                                     states=[OrderState.OPEN], today=date.today())
    return [order for _, order in page.items]


async def home(web: Web, visit: Visit) -> Response:
    notices = await notices_of(web, visit, 5)
    orders = await orders_due(web, visit, 5)
    names = await agency_names(web, {n.item.notice.agency_id for n in notices} | {o.agency_id for o in orders})
    return render(web, visit, "home.html", notices=notices, orders=orders, agencies=names)


async def notices(web: Web, visit: Visit) -> Response:
    found = await notices_of(web, visit, 50)
    names = await agency_names(web, {n.item.notice.agency_id for n in found})
    return render(web, visit, "notices.html", notices=found, agencies=names)


async def notice(web: Web, visit: Visit) -> Response:
    """Opening a notice reads it (as opening it in the app does: ``markNoticeRead``)."""
    notice_id = path_uuid(visit, "notice_id")
    [found] = await inbox.own_notices(web.session_factory, visit.person_id, [notice_id], today=date.today())
    if found is None:
        raise PortalError(ErrorCode.NOT_FOUND, "このお知らせは見つかりません。")
    if found.item.read_at is None and "notices:write" in (visit.principal.scopes if visit.principal else ()):
        found = await inbox.mark(web.session_factory, visit.person_id, visit.person_id, notice_id, Mark.READ,
                                 today=date.today())
    names = await agency_names(web, {found.item.notice.agency_id})
    return render(web, visit, "notice.html", notice=found, agencies=names)


async def payments(web: Web, visit: Visit) -> Response:
    orders = await orders_due(web, visit)
    page = await reads.person_payments(web.session_factory, visit.person_id, None, PageRequest.parse(20, None),
                                       today=date.today())
    done = [payment for _, payment in page.items]
    names = await agency_names(web, {o.agency_id for o in orders} | {p.agency_id for p in done})
    # One key per rendering of the form: a double submit (or a reload of the POST) starts one payment.
    keys = {order.id: secrets.token_hex(16) for order in orders}  # the keys' alphabet: A-Z a-z 0-9 -
    return render(web, visit, "payments.html", orders=orders, payments=done, agencies=names, keys=keys)


async def pay(web: Web, visit: Visit) -> Response:
    order_id = path_uuid(visit, "order_id")
    async with visit.request.form() as fields:
        method_raw, key = str(fields.get("method", "")), str(fields.get("idempotency_key", ""))
    if method_raw not in (PaymentMethod.CARD, PaymentMethod.NET_BANKING):
        raise PortalError(ErrorCode.BAD_USER_INPUT, "お支払い方法を選んでください。")
    payment = await actions.start_payment(web.settings, web.session_factory, actor_id=visit.person_id,
                                          order_id=order_id, method=PaymentMethod(method_raw),
                                          idempotency_key=key[:64], today=date.today(), to_web=True)
    if not payment.next_url:
        raise PortalError(ErrorCode.BAD_USER_INPUT, "この納付は今お支払いできません。")
    return RedirectResponse(payment.next_url, status_code=303)


async def payment(web: Web, visit: Visit) -> Response:
    payment_id = path_uuid(visit, "payment_id")
    [found] = await reads.payments_by_ids(web.session_factory, Reader(person_id=visit.person_id, today=date.today()),
                                          [payment_id])
    if found is None:
        raise PortalError(ErrorCode.NOT_FOUND, "このお支払いは見つかりません。")
    names = await agency_names(web, {found.agency_id})
    return render(web, visit, "payment.html", payment=found, agencies=names)


async def history_page(web: Web, visit: Visit) -> Response:
    page = await history.read_record(web.session_factory, visit.person_id, visit.person_id,
                                     PageRequest.parse(50, None), RecordFilter(), today=date.today())
    entries = [entry for _, entry in page.items]
    return render(web, visit, "history.html", entries=entries)


async def me(web: Web, visit: Visit) -> Response:
    groups = await read_information(web.session_factory, visit.person_id, visit.person_id, today=date.today())
    return render(web, visit, "me.html", groups=groups)


async def proxies(web: Web, visit: Visit) -> Response:
    given = await grants.given(web.session_factory, visit.person_id, date.today())
    received = await grants.received(web.session_factory, visit.person_id, date.today())
    return render(web, visit, "proxies.html", given=given, received=received)
