"""連携 (OpenID Connect consents): the services the person let sign them in and read their data, each with its
purpose and the items it gets; withdraw one (every token resting on it is revoked at once). The same domain
functions as GraphQL's oidcConsents and oidcConsentWithdraw (api/oidc/login.py)."""

from __future__ import annotations

from starlette.responses import RedirectResponse, Response

from api.oidc import login
from api.oidc.scopes import SCOPE_TITLES
from api.web.pages import path_uuid
from api.web.rendering import Visit, Web, render


async def consents(web: Web, visit: Visit) -> Response:
    views = await login.person_consents(web.session_factory, visit.person_id)
    return render(web, visit, "consents.html", views=views, titles=SCOPE_TITLES)


async def withdraw(web: Web, visit: Visit) -> Response:
    view = await login.withdraw_consent(web.session_factory, visit.person_id, path_uuid(visit, "consent_id"))
    return RedirectResponse(f"/web/consents?withdrawn={view.consent.id}", status_code=303)
