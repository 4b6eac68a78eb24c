"""The OpenID Provider seen from outside: Authlib's OAuth client runs the code flow with PKCE and private_key_jwt,
joserfc validates the ID token against the published JWKS, and the refused paths are refused."""

from __future__ import annotations

import secrets

import httpx
import pytest
from authlib.integrations.base_client.errors import OAuthError
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import select

from api.exchange.models import ExchangeRecord
from api.oidc.clients import review_client
from api.oidc.models import ClientStatus, OidcToken
from tests.api.conftest import Portal
from tests.api.oidc.conftest import (
    ISSUER,
    REDIRECT,
    RelyingParty,
    add_client,
    approve,
    code_of,
    finish,
    login,
    start,
)


async def test_discovery_and_jwks(portal: Portal) -> None:
    config = (await portal.client.get("/.well-known/openid-configuration")).json()
    assert config["issuer"] == ISSUER
    assert config["response_types_supported"] == ["code"]
    assert config["grant_types_supported"] == ["authorization_code"]
    assert config["code_challenge_methods_supported"] == ["S256"]
    assert config["token_endpoint_auth_methods_supported"] == ["private_key_jwt"]
    assert config["subject_types_supported"] == ["pairwise"]
    assert config["id_token_signing_alg_values_supported"] == ["ES256"]
    jwks = (await portal.client.get("/oidc/jwks")).json()
    assert [(k["kty"], k["crv"], k["alg"], "d" in k) for k in jwks["keys"]] == [("EC", "P-256", "ES256", False)]


async def test_code_flow_with_authlib_client_and_joserfc(portal: Portal, etax: RelyingParty) -> None:
    async with etax.oauth(portal, "openid name birthdate") as oauth:
        response, state, verifier = await login(portal, etax, oauth, nonce="nonce-123")
        token = await oauth.fetch_token(f"{ISSUER}/oidc/token", authorization_response=response, state=state,
                                        code_verifier=verifier)
    assert token["token_type"] == "Bearer"
    assert token["scope"] == "openid name birthdate"
    assert "refresh_token" not in token
    keys = KeySet.import_key_set((await portal.client.get("/oidc/jwks")).json())
    id_token = jwt.decode(token["id_token"], keys, algorithms=["ES256"])
    assert id_token.header["alg"] == "ES256"
    jwt.JWTClaimsRegistry(iss={"essential": True, "value": ISSUER}, aud={"essential": True, "value": etax.client_id},
                          nonce={"essential": True, "value": "nonce-123"}).validate(id_token.claims)
    assert (id_token.claims["name"], id_token.claims["name_kana"]) == ("山田 太郎", "ヤマダ タロウ")
    assert id_token.claims["birthdate"] == "1985-04-01"
    assert id_token.claims["amr"] == ["hwk", "pin"]
    assert "address" not in id_token.claims and "gender" not in id_token.claims
    userinfo = (await portal.client.get("/oidc/userinfo",
                                        headers={"authorization": f"Bearer {token['access_token']}"})).json()
    assert userinfo == {"sub": id_token.claims["sub"], "name": id_token.claims["name"],
                        "name_kana": id_token.claims["name_kana"], "birthdate": id_token.claims["birthdate"]}


async def test_pairwise_subjects_differ_between_clients(portal: Portal, etax: RelyingParty) -> None:
    nenkin = await add_client(portal, "nenkinsandbox", "ねんきんネット (sandbox)")
    subjects = []
    for rp in (etax, nenkin, etax):
        async with rp.oauth(portal) as oauth:
            response, state, verifier = await login(portal, rp, oauth)
            token = await oauth.fetch_token(f"{ISSUER}/oidc/token", authorization_response=response, state=state,
                                            code_verifier=verifier)
        subjects.append(jwt.decode(token["id_token"], KeySet.import_key_set(
            (await portal.client.get("/oidc/jwks")).json())).claims["sub"])
    assert subjects[0] == subjects[2]
    assert subjects[0] != subjects[1]


async def test_release_is_on_the_persons_record(portal: Portal, etax: RelyingParty) -> None:
    async with etax.oauth(portal, "openid name address") as oauth:
        response, state, verifier = await login(portal, etax, oauth)
        token = await oauth.fetch_token(f"{ISSUER}/oidc/token", authorization_response=response, state=state,
                                        code_verifier=verifier)
    await portal.client.get("/oidc/userinfo", headers={"authorization": f"Bearer {token['access_token']}"})
    async with portal.app.state.session_factory() as session:
        records = list(await session.scalars(select(ExchangeRecord).where(ExchangeRecord.person_id == portal.father)
                                             .order_by(ExchangeRecord.requested_at)))
    released = [(r.duty, r.item_names, r.processing_type) for r in records if r.processing_type == "oidc"]
    assert released == [("ログイン (IDトークン)", ["address", "name", "name_kana"], "oidc"),
                        ("ログイン (UserInfo)", ["address", "name", "name_kana"], "oidc")]
    assert all(r.log_leaf_id is not None for r in records if r.processing_type == "oidc")


async def test_wrong_redirect_uri_is_not_redirected_to(portal: Portal, etax: RelyingParty) -> None:
    async with etax.oauth(portal) as oauth:
        url, _ = oauth.create_authorization_url(f"{ISSUER}/oidc/authorize", code_verifier=secrets.token_urlsafe(48),
                                                nonce="n", redirect_uri="http://127.0.0.1:9100/callback/evil")
    page = await portal.client.get(url.removeprefix(ISSUER))
    assert page.status_code == 400
    assert "location" not in page.headers
    assert "is not supported by client" in page.text


@pytest.mark.parametrize(("_case", "drop", "error"), [
    ("no PKCE challenge", "code_challenge", "Missing &#x27;code_challenge&#x27;"),
    ("no state", "state", "&#x27;state&#x27; is required"),
    ("no nonce", "nonce", "&#x27;nonce&#x27; is required"),
])
async def test_required_parameters(portal: Portal, etax: RelyingParty, _case: str, drop: str, error: str) -> None:
    params = {"response_type": "code", "client_id": etax.client_id, "redirect_uri": REDIRECT, "scope": "openid",
              "state": "s1", "nonce": "n1", "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
              "code_challenge_method": "S256"}
    params.pop(drop)
    response = await portal.client.get("/oidc/authorize", params=params)
    assert response.status_code == 302
    assert response.headers["location"].startswith(REDIRECT + "?error=invalid_request")


async def test_plain_pkce_is_refused(portal: Portal, etax: RelyingParty) -> None:
    response = await portal.client.get("/oidc/authorize", params={
        "response_type": "code", "client_id": etax.client_id, "redirect_uri": REDIRECT, "scope": "openid",
        "state": "s1", "nonce": "n1", "code_challenge": "a" * 43, "code_challenge_method": "plain"})
    assert "error=invalid_request" in response.headers["location"]


async def test_implicit_flow_is_refused(portal: Portal, etax: RelyingParty) -> None:
    response = await portal.client.get("/oidc/authorize", params={
        "response_type": "id_token token", "client_id": etax.client_id, "redirect_uri": REDIRECT,
        "scope": "openid", "state": "s1", "nonce": "n1"})
    assert "error=unsupported_response_type" in response.headers["location"]


async def test_password_grant_is_refused(portal: Portal, etax: RelyingParty) -> None:
    async with etax.oauth(portal) as oauth:
        with pytest.raises(OAuthError) as refused:
            await oauth.fetch_token(f"{ISSUER}/oidc/token", grant_type="password", username="a", password="b")
    assert refused.value.error == "unsupported_grant_type"


async def test_wrong_or_missing_pkce_verifier(portal: Portal, etax: RelyingParty) -> None:
    async with etax.oauth(portal) as oauth:
        response, state, _ = await login(portal, etax, oauth)
        code = code_of_location(response)
        with pytest.raises(OAuthError) as wrong:
            await oauth.fetch_token(f"{ISSUER}/oidc/token", code=code, state=state,
                                    code_verifier=secrets.token_urlsafe(48))
        assert wrong.value.error == "invalid_grant"
        response, state, _ = await login(portal, etax, oauth)
        with pytest.raises(OAuthError) as missing:
            await oauth.fetch_token(f"{ISSUER}/oidc/token", code=code_of_location(response), state=state)
        assert missing.value.error == "invalid_request"
    async with portal.app.state.session_factory() as session:
        assert list(await session.scalars(select(OidcToken))) == []


def code_of_location(location: str) -> str:
    from urllib.parse import parse_qs, urlsplit
    return parse_qs(urlsplit(location).query)["code"][0]


async def test_replayed_code_revokes_the_tokens_it_gave(portal: Portal, etax: RelyingParty) -> None:
    async with etax.oauth(portal) as oauth:
        response, state, verifier = await login(portal, etax, oauth)
        token = await oauth.fetch_token(f"{ISSUER}/oidc/token", authorization_response=response, state=state,
                                        code_verifier=verifier)
        headers = {"authorization": f"Bearer {token['access_token']}"}
        assert (await portal.client.get("/oidc/userinfo", headers=headers)).status_code == 200
        with pytest.raises(OAuthError) as replayed:
            await oauth.fetch_token(f"{ISSUER}/oidc/token", authorization_response=response, state=state,
                                    code_verifier=verifier)
    assert replayed.value.error == "invalid_grant"
    refused = await portal.client.get("/oidc/userinfo", headers=headers)
    assert refused.status_code == 401
    assert refused.json()["error_description"] == "The access token was revoked."


async def test_client_assertion_cannot_be_replayed(portal: Portal, etax: RelyingParty) -> None:
    from authlib.oauth2.rfc7523 import private_key_jwt_sign
    assertion = private_key_jwt_sign(etax.key, etax.client_id, f"{ISSUER}/oidc/token", alg="ES256")
    body = {"grant_type": "authorization_code", "code": "x", "redirect_uri": REDIRECT, "code_verifier": "v" * 43,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion}
    first = await portal.client.post("/oidc/token", data=body)
    assert first.json()["error"] == "invalid_grant"  # authenticated; the code is unknown
    second = await portal.client.post("/oidc/token", data=body)
    assert second.status_code == 400  # RFC 6749 §5.2: 401 only answers credentials sent in Authorization
    assert second.json()["error"] == "invalid_client"


async def test_suspended_client_is_refused_everywhere(portal: Portal, etax: RelyingParty) -> None:
    async with etax.oauth(portal) as oauth:
        response, state, verifier = await login(portal, etax, oauth)
        token = await oauth.fetch_token(f"{ISSUER}/oidc/token", authorization_response=response, state=state,
                                        code_verifier=verifier)
        await review_client(portal.app.state.session_factory, etax.client_id, ClientStatus.SUSPENDED)
        refused = await portal.client.get("/oidc/userinfo",
                                          headers={"authorization": f"Bearer {token['access_token']}"})
        assert refused.status_code == 401
        url, _ = oauth.create_authorization_url(f"{ISSUER}/oidc/authorize", code_verifier=secrets.token_urlsafe(48),
                                                nonce="n")
    page = await portal.client.get(url.removeprefix(ISSUER))
    assert page.status_code == 400
    assert "The client does not exist on this server." in page.text


async def test_pending_client_cannot_start_a_login(portal: Portal) -> None:
    pending = await add_client(portal, "pendingrp", "審査中のサービス", approve=False)
    async with pending.oauth(portal) as oauth:
        url, _ = oauth.create_authorization_url(f"{ISSUER}/oidc/authorize", code_verifier=secrets.token_urlsafe(48),
                                                nonce="n")
    assert (await portal.client.get(url.removeprefix(ISSUER))).status_code == 400


async def test_denied_login_redirects_with_access_denied(portal: Portal, etax: RelyingParty) -> None:
    async with etax.oauth(portal) as oauth:
        url, state = oauth.create_authorization_url(f"{ISSUER}/oidc/authorize",
                                                    code_verifier=secrets.token_urlsafe(48), nonce="n")
    started = await start(portal, url)
    waiting = await finish(portal, started)
    assert waiting.status_code == 200 and 'id="waiting"' in waiting.text
    decided = await approve(portal, started.short_code, yes=False)
    assert decided["data"]["oidcLoginDecide"]["status"] == "denied"
    denied = code_of(await finish(portal, started))
    assert (denied["error"], denied["state"]) == ("access_denied", state)
    # The browser's request is used up.
    assert (await finish(portal, started)).status_code == 400


async def test_another_browser_cannot_continue(portal: Portal, etax: RelyingParty) -> None:
    async with etax.oauth(portal) as oauth:
        url, _ = oauth.create_authorization_url(f"{ISSUER}/oidc/authorize",
                                                code_verifier=secrets.token_urlsafe(48), nonce="n")
    started = await start(portal, url)
    await approve(portal, started.short_code)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=portal.app), base_url=ISSUER) as other:
        stolen = await other.get(started.continue_url)
    assert stolen.status_code == 400
    assert code_of(await finish(portal, started))["code"]


async def test_parameters_outside_oauths_characters(portal: Portal) -> None:
    page = await portal.client.get("/oidc/authorize?client_id=x&response_type=%C2%9F%14%C3%9A")
    assert (page.status_code, "characters OAuth does not allow" in page.text) == (400, True)
    token = await portal.client.post("/oidc/token", data={"grant_type": "\u00e9\u0014"})
    assert (token.status_code, token.json()["error"]) == (400, "unsupported_grant_type")


async def test_a_client_id_no_client_can_have_is_an_unknown_client(portal: Portal, etax: RelyingParty) -> None:
    # A NUL reached PostgreSQL from the client lookup and the per-client rate limit: a 500 (found by tests/fuzz).
    for client_id in ("%00", "etaxsandbox%00", "%ED%A0%80"):  # NUL, after a real id, a lone surrogate's bytes
        page = await portal.client.get(f"/oidc/authorize?client_id={client_id}&response_type=code&scope=openid"
                                       "&redirect_uri=https%3A%2F%2Fetax.example%2Fcallback")
        assert (page.status_code, "The client does not exist on this server." in page.text) == (400, True), page.text
