"""Consents and what a token reads: the 自己情報取得API with provenance, each read on the person's record naming
the client; withdrawing a consent (or its expiry) ends the client's tokens at once; prompt=consent asks again;
revocation and introspection for the client's own tokens."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from authlib.oauth2.rfc7523 import private_key_jwt_sign
from sqlalchemy import select, update

from api.agencies.models import Agency
from api.exchange.models import ExchangeRecord
from api.oidc.models import OidcConsent
from api.platform.db import utcnow
from tests.api.conftest import Portal
from tests.api.oidc.conftest import ISSUER, RelyingParty, approve, finish, login, start

CONSENTS = "query { oidcConsents { id clientName purpose active withdrawnAt claims { scope } } }"
WITHDRAW = "mutation W($id: String!) { oidcConsentWithdraw(id: $id) { id active } }"


async def _token(portal: Portal, rp: RelyingParty, scope: str, **params: str) -> dict[str, Any]:
    async with rp.oauth(portal, scope) as oauth:
        response, state, verifier = await login(portal, rp, oauth, **params)
        return await oauth.fetch_token(f"{ISSUER}/oidc/token", authorization_response=response, state=state,
                                       code_verifier=verifier)


def _bearer(token: dict[str, Any]) -> dict[str, str]:
    return {"authorization": f"Bearer {token['access_token']}"}


def _client_form(rp: RelyingParty, endpoint: str, **fields: str) -> dict[str, str]:
    return {**fields, "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": private_key_jwt_sign(rp.key, rp.client_id, f"{ISSUER}{endpoint}", alg="ES256")}


async def test_selfinfo_read_with_provenance_on_the_record(portal: Portal, etax: RelyingParty) -> None:
    token = await _token(portal, etax, "openid selfinfo:tax-income")
    answer = (await portal.client.get("/oidc/selfinfo/tax-income", headers=_bearer(token))).json()
    assert (answer["category"], answer["title"]) == ("tax-income", "税・所得")
    assert [(i["kind"], i["value"]["tax_year"], i["provenance"]["source"]) for i in answer["items"]] == [
        ("local_tax", 2025, "横浜市")]
    assert answer["items"][0]["provenance"]["lastUpdated"]
    async with portal.app.state.session_factory() as session:
        rows = (await session.execute(
            select(ExchangeRecord.duty, ExchangeRecord.item_names, Agency.name)
            .join(Agency, Agency.id == ExchangeRecord.requester_agency_id)
            .where(ExchangeRecord.person_id == portal.father, ExchangeRecord.duty.like("自己情報取得API%")))).all()
    assert [tuple(row) for row in rows] == [("自己情報取得API: e-Tax (sandbox)", ["local_tax"], "e-Tax (sandbox)")]


async def test_selfinfo_needs_the_category_scope(portal: Portal, etax: RelyingParty) -> None:
    token = await _token(portal, etax, "openid name")
    refused = await portal.client.get("/oidc/selfinfo/tax-income", headers=_bearer(token))
    assert refused.status_code == 403
    assert refused.json()["error"] == "insufficient_scope"
    assert 'error="insufficient_scope"' in refused.headers["www-authenticate"]
    assert (await portal.client.get("/oidc/selfinfo/nothing", headers=_bearer(token))).status_code == 404
    assert (await portal.client.get("/oidc/selfinfo/tax-income")).status_code == 401


async def test_withdrawing_consent_revokes_tokens_at_once(portal: Portal, etax: RelyingParty) -> None:
    token = await _token(portal, etax, "openid name")
    [consent] = (await portal.query(CONSENTS, token=portal.father_token))["data"]["oidcConsents"]
    assert (consent["clientName"], consent["active"]) == ("e-Tax (sandbox)", True)
    assert [c["scope"] for c in consent["claims"]] == ["openid", "name"]
    withdrawn = await portal.query(WITHDRAW, {"id": consent["id"]}, token=portal.father_token)
    assert withdrawn["data"]["oidcConsentWithdraw"] == {"id": consent["id"], "active": False}
    refused = await portal.client.get("/oidc/userinfo", headers=_bearer(token))
    assert (refused.status_code, refused.json()["error"]) == (401, "invalid_token")
    # Another person cannot see or withdraw it.
    other = await portal.query(WITHDRAW, {"id": consent["id"]}, token=None)
    assert other["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_expired_consent_refuses_the_token_and_asks_again(portal: Portal, etax: RelyingParty) -> None:
    token = await _token(portal, etax, "openid name")
    async with portal.app.state.session_factory() as session, session.begin():
        await session.execute(update(OidcConsent).values(expires_at=utcnow() - timedelta(seconds=1)))
    refused = await portal.client.get("/oidc/userinfo", headers=_bearer(token))
    assert refused.json()["error_description"] == "The person's consent has ended."
    async with etax.oauth(portal) as oauth:
        url, _ = oauth.create_authorization_url(f"{ISSUER}/oidc/authorize", code_verifier="v" * 43, nonce="n")
    started = await start(portal, url)
    decided = await approve(portal, started.short_code)
    assert decided["data"]["oidcLoginDecide"]["consentRequired"] is True


async def test_consent_is_reused_until_prompt_consent(portal: Portal, etax: RelyingParty) -> None:
    await _token(portal, etax, "openid name")
    async with etax.oauth(portal, "openid name") as oauth:
        url, _ = oauth.create_authorization_url(f"{ISSUER}/oidc/authorize", code_verifier="v" * 43, nonce="n")
        again, _ = oauth.create_authorization_url(f"{ISSUER}/oidc/authorize", code_verifier="v" * 43, nonce="n",
                                                  prompt="consent")
    assert (await approve(portal, (await start(portal, url)).short_code))["data"]["oidcLoginDecide"][
        "consentRequired"] is False
    assert (await approve(portal, (await start(portal, again)).short_code))["data"]["oidcLoginDecide"][
        "consentRequired"] is True
    consents = (await portal.query(CONSENTS, token=portal.father_token))["data"]["oidcConsents"]
    assert [c["active"] for c in consents] == [True, False]  # the new one replaced the earlier (kept as history)


async def test_a_login_is_decided_once(portal: Portal, etax: RelyingParty) -> None:
    async with etax.oauth(portal) as oauth:
        url, _ = oauth.create_authorization_url(f"{ISSUER}/oidc/authorize", code_verifier="v" * 43, nonce="n")
    started = await start(portal, url)
    await approve(portal, started.short_code)
    again = await approve(portal, started.short_code, yes=False)
    assert again["errors"][0]["extensions"]["code"] == "OIDC_LOGIN_DECIDED"
    unknown = await approve(portal, "ZZZZZZZZ")
    assert unknown["errors"][0]["extensions"]["code"] == "OIDC_LOGIN_UNKNOWN"
    assert (await finish(portal, started)).status_code == 302


async def test_revocation_and_introspection(portal: Portal, etax: RelyingParty) -> None:
    token = await _token(portal, etax, "openid name")
    seen = (await portal.client.post("/oidc/introspect", data=_client_form(
        etax, "/oidc/introspect", token=token["access_token"]))).json()
    assert (seen["active"], seen["client_id"], seen["scope"], seen["token_type"]) == (
        True, "etaxsandbox", "openid name", "Bearer")
    revoked = await portal.client.post("/oidc/revoke", data=_client_form(etax, "/oidc/revoke",
                                                                         token=token["access_token"]))
    assert revoked.status_code == 200
    seen = (await portal.client.post("/oidc/introspect", data=_client_form(
        etax, "/oidc/introspect", token=token["access_token"]))).json()
    assert seen == {"active": False}
    assert (await portal.client.get("/oidc/userinfo", headers=_bearer(token))).status_code == 401


async def test_rate_limit_per_client(portal: Portal) -> None:
    from tests.api.oidc.conftest import add_client
    slow = await add_client(portal, "slowrp", "Slow RP", rate_limit_per_minute=2)
    params = {"client_id": slow.client_id}
    assert [(await portal.client.get("/oidc/authorize", params=params)).status_code for _ in range(3)] == [
        400, 400, 429]
