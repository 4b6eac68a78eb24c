"""A running portal with relying parties registered and approved, and the steps of a login as the outside world
takes them: the browser's authorization request, the person's approval in the app (GraphQL), the redirect."""

from __future__ import annotations

import re
import secrets
import warnings
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from joserfc.jwk import ECKey
from sqlalchemy.ext.asyncio import AsyncEngine

from api.agencies.models import AgencyKind
from api.oidc.clients import NewClient, register_client, review_client
from api.oidc.models import ClientStatus
from api.people.individual_number import IndividualNumberCipher
from tests.api.conftest import Portal, running_portal
from tests.conftest import make_settings

ISSUER = "http://127.0.0.1:8000"
REDIRECT = "http://127.0.0.1:9100/callback"
DECIDE = """mutation Decide($code: String!, $approve: Boolean!) {
  oidcLoginDecide(shortCode: $code, approve: $approve) { clientName purpose status consentRequired
    claims { scope title } } }"""


@dataclass
class RelyingParty:
    client_id: str
    key: ECKey  # its private key; the portal holds the public half

    def oauth(self, portal: Portal, scope: str = "openid name") -> Any:
        """Authlib's own OAuth client, authenticating with private_key_jwt, through the app's transport."""
        with warnings.catch_warnings():
            # Authlib 1.9 announces its httpx integration's move to httpx2, which is not on this machine.
            warnings.simplefilter("ignore", DeprecationWarning)
            from authlib.integrations.httpx_client import AsyncOAuth2Client
        client = AsyncOAuth2Client(self.client_id, self.key, token_endpoint_auth_method=PrivateKeyJWT(
            f"{ISSUER}/oidc/token", alg="ES256"), scope=scope, redirect_uri=REDIRECT,
            code_challenge_method="S256", transport=httpx.ASGITransport(app=portal.app), base_url=ISSUER)
        return client


async def add_client(portal: Portal, client_id: str, name: str, *, scopes: tuple[str, ...] = (
        "openid", "name", "address", "birthdate", "gender", "selfinfo:tax-income"),
        approve: bool = True, **options: Any) -> RelyingParty:
    key = ECKey.generate_key("P-256", {"alg": "ES256"}, private=True)
    key.ensure_kid()
    factory = portal.app.state.session_factory
    await register_client(factory, NewClient(
        client_id=client_id, name=name, purpose=f"{name} へのログインと申告書の作成", redirect_uris=(REDIRECT,),
        scopes=scopes, jwks={"keys": [key.as_dict(private=False)]}, agency_kind=AgencyKind.TAX, **options))
    if approve:
        await review_client(factory, client_id, ClientStatus.APPROVED)
    return RelyingParty(client_id, key)


@dataclass
class Started:
    page: httpx.Response
    short_code: str
    continue_url: str
    cookies: httpx.Cookies


async def start(portal: Portal, url: str) -> Started:
    """The browser opens the authorization URL: the login page with its QR code and short code."""
    page = await portal.client.get(url.removeprefix(ISSUER))
    assert page.status_code == 200, page.text
    short_code = re.search(r'data-code="([A-Z0-9]+)"', page.text).group(1)
    continue_url = re.search(r'id="continue" href="([^"]+)"', page.text).group(1).replace("&amp;", "&")
    return Started(page, short_code, continue_url, page.cookies)


async def approve(portal: Portal, short_code: str, *, token: str | None = None, yes: bool = True) -> dict[str, Any]:
    return await portal.query(DECIDE, {"code": short_code, "approve": yes}, token=token or portal.father_token)


async def finish(portal: Portal, started: Started) -> httpx.Response:
    return await portal.client.get(started.continue_url)  # the browser's cookie is in the client's jar


def code_of(redirect: httpx.Response) -> dict[str, str]:
    assert redirect.status_code == 302, redirect.text
    location = redirect.headers["location"]
    assert location.startswith(REDIRECT + "?")
    return {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}


async def login(portal: Portal, rp: RelyingParty, oauth: Any, **params: str) -> tuple[str, str, str]:
    """The whole login up to the redirect; (authorization response URL, state, code_verifier)."""
    verifier = secrets.token_urlsafe(48)
    url, state = oauth.create_authorization_url(f"{ISSUER}/oidc/authorize", code_verifier=verifier,
                                                nonce=params.pop("nonce", "n-0S6_WzA2Mj"), **params)
    started = await start(portal, url)
    decided = await approve(portal, started.short_code)
    assert "errors" not in decided, decided
    redirect = await finish(portal, started)
    assert redirect.status_code == 302, redirect.text
    return redirect.headers["location"], state, verifier


@pytest.fixture
async def portal(engine: AsyncEngine, cipher: IndividualNumberCipher, database_url: str) -> AsyncIterator[Portal]:
    async with running_portal(engine, cipher, make_settings(database_url, public_url=ISSUER)) as portal:
        yield portal


@pytest.fixture
async def etax(portal: Portal) -> RelyingParty:
    return await add_client(portal, "etaxsandbox", "e-Tax (sandbox)")
