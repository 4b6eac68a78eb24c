"""Pushed authorization requests (RFC 9126, api.oidc.par): the RFC's example exchange, a whole login through a
pushed request with Authlib's client, and the refused paths (reuse, expiry, another client's request_uri, a
client that must push sending a plain request, what cannot be pushed)."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from authlib.oauth2.rfc7523 import private_key_jwt_sign
from sqlalchemy import func, select, update

from api.oidc.models import OidcPushedRequest
from api.oidc.par import REQUEST_URI_PREFIX
from api.platform.db import utcnow
from tests.api.conftest import Portal
from tests.api.oidc.conftest import ISSUER, REDIRECT, RelyingParty, add_client, approve, code_of, finish, start

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def authenticated(rp: RelyingParty, body: dict[str, str]) -> dict[str, str]:
    assertion = private_key_jwt_sign(rp.key, rp.client_id, f"{ISSUER}/oidc/par", alg="ES256")
    return {**body, "client_assertion_type": ASSERTION_TYPE, "client_assertion": assertion}


def rfc_example(rp: RelyingParty) -> dict[str, str]:
    """RFC 9126 §2.1's request, with our client, redirect URI and the nonce and openid scope OIDC requires."""
    return {"response_type": "code", "state": "af0ifjsldkj", "client_id": rp.client_id, "redirect_uri": REDIRECT,
            "code_challenge": "K2-ltc83acc4h0c9w6ESC_rEMTJ3bww-uCHaoeK1t8U", "code_challenge_method": "S256",
            "scope": "openid name", "nonce": "n-0S6_WzA2Mj"}


async def push(portal: Portal, rp: RelyingParty, body: dict[str, str]) -> httpx.Response:
    return await portal.client.post("/oidc/par", data=authenticated(rp, body))


def authorize_url(client_id: str, request_uri: str) -> str:
    return "/oidc/authorize?" + urlencode({"client_id": client_id, "request_uri": request_uri})


async def pushed_count(portal: Portal) -> int:
    async with portal.app.state.session_factory() as session:
        return await session.scalar(select(func.count()).select_from(OidcPushedRequest))


async def test_discovery_names_the_par_endpoint(portal: Portal) -> None:
    config = (await portal.client.get("/.well-known/openid-configuration")).json()
    assert config["pushed_authorization_request_endpoint"] == f"{ISSUER}/oidc/par"
    assert config["require_pushed_authorization_requests"] is False
    assert config["pushed_authorization_request_endpoint_auth_methods_supported"] == ["private_key_jwt"]


async def test_rfc_example_answers_request_uri_and_expires_in(portal: Portal, etax: RelyingParty) -> None:
    response = await push(portal, etax, rfc_example(etax))
    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "no-store"
    answer = response.json()
    assert sorted(answer) == ["expires_in", "request_uri"]
    assert answer["expires_in"] == 60
    assert answer["request_uri"].startswith(REQUEST_URI_PREFIX)
    assert len(answer["request_uri"]) - len(REQUEST_URI_PREFIX) == 43  # 256 random bits
    async with portal.app.state.session_factory() as session:
        row = await session.scalar(select(OidcPushedRequest))
    assert row.request_uri_hash != answer["request_uri"].encode()  # stored only as a hash
    assert row.parameters["state"] == ["af0ifjsldkj"]
    assert "client_assertion" not in row.parameters
    # The authorization request then carries client_id and request_uri only (RFC 9126 §4).
    page = await portal.client.get(authorize_url(etax.client_id, answer["request_uri"]))
    assert page.status_code == 200
    assert "e-Tax (sandbox)" in page.text


async def test_login_through_a_pushed_request_with_authlib(portal: Portal, etax: RelyingParty) -> None:
    verifier = secrets.token_urlsafe(48)
    async with etax.oauth(portal, "openid name") as oauth:
        url, state = oauth.create_authorization_url(f"{ISSUER}/oidc/authorize", code_verifier=verifier, nonce="n-p")
        parameters = {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}
        pushed = (await push(portal, etax, parameters)).json()
        started = await start(portal, ISSUER + authorize_url(etax.client_id, pushed["request_uri"]))
        assert "errors" not in await approve(portal, started.short_code)
        redirect = await finish(portal, started)
        assert code_of(redirect)["state"] == state
        token = await oauth.fetch_token(f"{ISSUER}/oidc/token", authorization_response=redirect.headers["location"],
                                        state=state, code_verifier=verifier)
    assert token["scope"] == "openid name"
    userinfo = await portal.client.get("/oidc/userinfo", headers={"authorization": f"Bearer {token['access_token']}"})
    assert userinfo.json()["name"] == "山田 太郎"


async def test_request_uri_is_used_once(portal: Portal, etax: RelyingParty) -> None:
    request_uri = (await push(portal, etax, rfc_example(etax))).json()["request_uri"]
    assert (await portal.client.get(authorize_url(etax.client_id, request_uri))).status_code == 200
    again = await portal.client.get(authorize_url(etax.client_id, request_uri))
    assert again.status_code == 400
    assert "location" not in again.headers
    assert "The request_uri was used before." in again.text


async def test_expired_request_uri_is_refused(portal: Portal, etax: RelyingParty) -> None:
    request_uri = (await push(portal, etax, rfc_example(etax))).json()["request_uri"]
    async with portal.app.state.session_factory() as session, session.begin():
        await session.execute(update(OidcPushedRequest).values(expires_at=utcnow() - timedelta(seconds=1)))
    page = await portal.client.get(authorize_url(etax.client_id, request_uri))
    assert page.status_code == 400
    assert "The request_uri is unknown, another client&#x27;s, or expired." in page.text
    async with portal.app.state.session_factory() as session:
        assert await session.scalar(select(OidcPushedRequest.used_at)) is None  # refused, not taken


async def test_another_clients_request_uri_is_refused(portal: Portal, etax: RelyingParty) -> None:
    nenkin = await add_client(portal, "nenkinsandbox", "ねんきんネット (sandbox)")
    request_uri = (await push(portal, etax, rfc_example(etax))).json()["request_uri"]
    page = await portal.client.get(authorize_url(nenkin.client_id, request_uri))
    assert page.status_code == 400
    assert "another client" in page.text
    # Still the pushing client's to use.
    assert (await portal.client.get(authorize_url(etax.client_id, request_uri))).status_code == 200


async def test_unknown_request_uri_and_extra_parameters(portal: Portal, etax: RelyingParty) -> None:
    unknown = await portal.client.get(authorize_url(etax.client_id, REQUEST_URI_PREFIX + "x" * 43))
    assert unknown.status_code == 400
    request_uri = (await push(portal, etax, rfc_example(etax))).json()["request_uri"]
    extra = await portal.client.get(authorize_url(etax.client_id, request_uri) + "&scope=openid+address")
    assert extra.status_code == 400
    assert "With &#x27;request_uri&#x27; send &#x27;client_id&#x27; only" in extra.text
    no_client = await portal.client.get("/oidc/authorize?" + urlencode({"request_uri": request_uri}))
    assert no_client.status_code == 400


async def test_client_that_must_push_cannot_send_a_plain_request(portal: Portal) -> None:
    strict = await add_client(portal, "strictrp", "PAR 必須のサービス", require_par=True)
    plain = await portal.client.get("/oidc/authorize", params=rfc_example(strict))
    assert plain.status_code == 400
    assert "location" not in plain.headers
    assert "This client must push its authorization requests" in plain.text
    pushed = (await push(portal, strict, rfc_example(strict))).json()
    started = await start(portal, ISSUER + authorize_url(strict.client_id, pushed["request_uri"]))
    assert "errors" not in await approve(portal, started.short_code)
    assert code_of(await finish(portal, started))["state"] == "af0ifjsldkj"  # the login continues, pushed


async def _refused(portal: Portal, response: httpx.Response, status: int, error: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["error"] == error
    assert await pushed_count(portal) == 0
    return body


async def test_push_without_client_authentication(portal: Portal, etax: RelyingParty) -> None:
    response = await portal.client.post("/oidc/par", data=rfc_example(etax))
    # RFC 6749 section 5.2: 401 only answers credentials sent in the Authorization header.
    body = await _refused(portal, response, 400, "invalid_client")
    assert body["error_description"] == "The client cannot authenticate with methods: ['private_key_jwt']"


async def test_push_with_an_assertion_for_another_audience(portal: Portal, etax: RelyingParty) -> None:
    assertion = private_key_jwt_sign(etax.key, etax.client_id, "https://elsewhere.example/par", alg="ES256")
    response = await portal.client.post("/oidc/par", data={
        **rfc_example(etax), "client_assertion_type": ASSERTION_TYPE, "client_assertion": assertion})
    await _refused(portal, response, 400, "invalid_client")


async def test_push_cannot_carry_request_uri(portal: Portal, etax: RelyingParty) -> None:
    response = await push(portal, etax, {**rfc_example(etax), "request_uri": REQUEST_URI_PREFIX + "abc"})
    body = await _refused(portal, response, 400, "invalid_request")
    assert "cannot be pushed" in body["error_description"]


async def test_push_for_another_client_id(portal: Portal, etax: RelyingParty) -> None:
    response = await push(portal, etax, {**rfc_example(etax), "client_id": "nenkinsandbox"})
    await _refused(portal, response, 400, "invalid_request")


async def test_pushed_parameters_are_validated(portal: Portal, etax: RelyingParty) -> None:
    wrong_uri = await push(portal, etax, {**rfc_example(etax), "redirect_uri": REDIRECT + "/evil"})
    body = await _refused(portal, wrong_uri, 400, "invalid_request")
    assert "state" not in body
    no_pkce = dict(rfc_example(etax))
    no_pkce.pop("code_challenge")
    await _refused(portal, await push(portal, etax, no_pkce), 400, "invalid_request")
    no_nonce = dict(rfc_example(etax))
    no_nonce.pop("nonce")
    await _refused(portal, await push(portal, etax, no_nonce), 400, "invalid_request")
    implicit = await push(portal, etax, {**rfc_example(etax), "response_type": "token"})
    await _refused(portal, implicit, 400, "unsupported_response_type")


async def test_par_accepts_post_only(portal: Portal) -> None:
    assert (await portal.client.get("/oidc/par")).status_code == 405
