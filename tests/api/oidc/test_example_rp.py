"""The issue's "done when", end to end through the one-file example relying party: a browser (an HTTP client
keeping cookies) follows the RP's and the portal's redirects; the person approves the QR login in the app; the RP
shows the name from the ID token and the tax data it read through the 自己情報取得API; the person sees both on
their record, withdraws the consent, and the RP's token is refused."""

from __future__ import annotations

import re

import httpx
from sqlalchemy import select

from api.agencies.models import Agency
from api.exchange.models import ExchangeRecord
from api.oidc.example_rp import RelyingPartyConfig, create_rp_app
from tests.api.conftest import Portal
from tests.api.oidc.conftest import ISSUER, REDIRECT, RelyingParty, approve

RP_ORIGIN = REDIRECT.removesuffix("/callback")


async def test_login_read_record_and_withdraw(portal: Portal, etax: RelyingParty) -> None:
    rp_app = create_rp_app(RelyingPartyConfig(client_id=etax.client_id, name="e-Tax (sandbox)", issuer=ISSUER,
                                              redirect_uri=REDIRECT, key=etax.key,
                                              scope="openid name selfinfo:tax-income"),
                           transport=httpx.ASGITransport(app=portal.app))
    to_portal = httpx.ASGITransport(app=portal.app)
    to_rp = httpx.ASGITransport(app=rp_app)

    class Browser(httpx.AsyncBaseTransport):
        """One browser, two sites: requests go to whichever origin they name."""

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            site = to_rp if str(request.url).startswith(RP_ORIGIN) else to_portal
            return await site.handle_async_request(request)

    async with httpx.AsyncClient(transport=Browser(), follow_redirects=True) as browser:
        page = await browser.get(f"{RP_ORIGIN}/login")
        assert str(page.url).startswith(f"{ISSUER}/oidc/authorize?")
        assert 'id="client">e-Tax (sandbox)<' in page.text
        short_code = re.search(r'data-code="([A-Z0-9]+)"', page.text).group(1)
        waiting = await browser.get(f"{ISSUER}" + re.search(r'id="continue" href="([^"]+)"', page.text).group(1)
                                    .replace("&amp;", "&"))
        assert 'id="waiting"' in waiting.text
        decided = await approve(portal, short_code)
        assert decided["data"]["oidcLoginDecide"]["status"] == "approved"
        home = await browser.get(str(waiting.url))
        assert str(home.url) == f"{RP_ORIGIN}/"
        assert '<span id="name">山田 太郎</span>' in home.text
        assert "taxable_income" in home.text and "提供元 横浜市" in home.text

        async with portal.app.state.session_factory() as session:
            entries = (await session.execute(
                select(ExchangeRecord.duty, Agency.name).join(Agency, Agency.id == ExchangeRecord.requester_agency_id)
                .where(ExchangeRecord.person_id == portal.father, ExchangeRecord.processing_type == "oidc")
                .order_by(ExchangeRecord.requested_at))).all()
        assert [tuple(e) for e in entries] == [("ログイン (IDトークン)", "e-Tax (sandbox)"),
                                               ("自己情報取得API: e-Tax (sandbox)", "e-Tax (sandbox)")]
        history = await portal.query("{ recordHistory(first: 10) { edges { node { duty requester { name } } } } }",
                                     token=portal.father_token)
        duties = [(e["node"]["duty"], e["node"]["requester"]["name"])
                  for e in history["data"]["recordHistory"]["edges"]]
        assert ("自己情報取得API: e-Tax (sandbox)", "e-Tax (sandbox)") in duties

        consents = await portal.query("{ oidcConsents { id } }", token=portal.father_token)
        consent_id = consents["data"]["oidcConsents"][0]["id"]
        await portal.query("mutation W($id: String!) { oidcConsentWithdraw(id: $id) { active } }",
                           {"id": consent_id}, token=portal.father_token)
        again = await browser.get(f"{RP_ORIGIN}/refresh")
        assert "読めませんでした (401 invalid_token)" in again.text
