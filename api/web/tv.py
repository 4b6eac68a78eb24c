"""The TV: the RFC 8628 sign-in shown for a room (QR code and user code, polled), then notices and payments due
in a 10-foot layout moved through with the remote's arrow keys."""

from __future__ import annotations

from starlette.responses import Response

from api.platform.scopes import NOTICES_READ, PAYMENTS_READ, TV_OPTIONAL_SCOPES, TV_SCOPES
from api.web.login import start_device
from api.web.pages import agency_names, notices_of, orders_due
from api.web.rendering import Visit, Web, render

TV_CLIENT = "mynaportal-tv-web"


async def tv(web: Web, visit: Visit) -> Response:
    if visit.principal is None or NOTICES_READ not in visit.principal.scopes:
        started = await start_device(web, visit, TV_CLIENT, TV_SCOPES | TV_OPTIONAL_SCOPES)
        return render(web, visit, "tv_signin.html", **started)
    notices = await notices_of(web, visit, 8)
    orders = await orders_due(web, visit, 8) if PAYMENTS_READ in visit.principal.scopes else []
    names = await agency_names(web, {n.item.notice.agency_id for n in notices} | {o.agency_id for o in orders})
    return render(web, visit, "tv_home.html", notices=notices, orders=orders, agencies=names)
