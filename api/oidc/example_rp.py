"""An example relying party in one file (`mynaportal oidc example-rp`): what an e-Tax-like service writes to log
people in through the portal and read their 税・所得 through the 自己情報取得API.

It speaks to the portal only over HTTP, as any relying party does: discovery, the authorization code flow with
PKCE S256, state and nonce, private_key_jwt at the token endpoint (Authlib's client-side assertion), the ID token
validated with joserfc against the portal's JWKS, then userinfo and /oidc/selfinfo/tax-income. No server code.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from authlib.oauth2.rfc7523 import private_key_jwt_sign
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
COOKIE = "rp_session"


@dataclass
class RelyingPartyConfig:
    client_id: str
    name: str
    issuer: str
    redirect_uri: str
    key: ECKey  # the client's private key; the portal holds its public half
    scope: str = "openid name address birthdate selfinfo:tax-income"


@dataclass
class _Pending:
    state: str
    nonce: str
    verifier: str


@dataclass
class _Sessions:
    pending: dict[str, _Pending] = field(default_factory=dict)
    done: dict[str, dict[str, Any]] = field(default_factory=dict)


def load_key(path: Path) -> ECKey:
    return ECKey.import_key(json.loads(path.read_text()))


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(f'<!doctype html><html lang="ja"><head><meta charset="utf-8"><title>{html.escape(title)}'
                        f'</title></head><body><h1>{html.escape(title)}</h1>{body}</body></html>', status_code=status)


def create_rp_app(config: RelyingPartyConfig, transport: httpx.AsyncBaseTransport | None = None) -> Starlette:
    sessions = _Sessions()

    def portal() -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=transport, timeout=10)

    async def metadata() -> dict[str, Any]:
        async with portal() as client:
            return (await client.get(f"{config.issuer}/.well-known/openid-configuration")).raise_for_status().json()

    async def home(request: Request) -> Response:
        done = sessions.done.get(request.cookies.get(COOKIE, ""))
        if done is None:
            return _page(config.name, '<p><a id="login" href="/login">マイナポータルでログイン</a></p>')
        items = "".join(f"<li>{html.escape(item['kindName'])} {html.escape(item['key'])}: "
                        f"{html.escape(json.dumps(item['value'], ensure_ascii=False))} "
                        f"(提供元 {html.escape(item['provenance']['source'])})</li>"
                        for item in done["tax"].get("items", []))
        return _page(config.name, f'<p id="welcome">ようこそ <span id="name">{html.escape(done["name"])}</span> '
                                  f'さん</p><h2>税・所得</h2><ul id="tax">{items}</ul>'
                                  f'<p id="tax-status">{done["tax_status"]}</p>'
                                  '<p><a id="refresh" href="/refresh">もう一度読む</a></p>')

    async def login(request: Request) -> Response:
        meta = await metadata()
        handle, verifier = secrets.token_urlsafe(16), secrets.token_urlsafe(48)
        pending = _Pending(state=secrets.token_urlsafe(16), nonce=secrets.token_urlsafe(16), verifier=verifier)
        sessions.pending[handle] = pending
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        query = urlencode({"response_type": "code", "client_id": config.client_id, "redirect_uri": config.redirect_uri,
                           "scope": config.scope, "state": pending.state, "nonce": pending.nonce,
                           "code_challenge": challenge, "code_challenge_method": "S256"})
        response = RedirectResponse(f"{meta['authorization_endpoint']}?{query}", status_code=302)
        response.set_cookie(COOKIE, handle, httponly=True, samesite="lax")
        return response

    async def read_tax(token: str) -> tuple[dict[str, Any], str]:
        async with portal() as client:
            answer = await client.get(f"{config.issuer}/oidc/selfinfo/tax-income",
                                      headers={"authorization": f"Bearer {token}"})
        if answer.status_code != 200:
            return {}, f"読めませんでした ({answer.status_code} {answer.json().get('error', '')})"
        return answer.json(), "読みました"

    async def callback(request: Request) -> Response:
        handle = request.cookies.get(COOKIE, "")
        pending = sessions.pending.pop(handle, None)
        if pending is None or request.query_params.get("state") != pending.state:
            return _page("ログインできません", "<p>state が一致しません。</p>", 400)
        if "error" in request.query_params:
            return _page("ログインできません", f'<p id="error">{html.escape(request.query_params["error"])}</p>', 400)
        meta = await metadata()
        assertion = private_key_jwt_sign(config.key, config.client_id, meta["token_endpoint"], alg="ES256")
        async with portal() as client:
            tokens = (await client.post(meta["token_endpoint"], data={
                "grant_type": "authorization_code", "code": request.query_params.get("code", ""),
                "redirect_uri": config.redirect_uri, "code_verifier": pending.verifier,
                "client_assertion_type": ASSERTION_TYPE, "client_assertion": assertion})).json()
            if "id_token" not in tokens:
                return _page("ログインできません", f'<p id="error">{html.escape(tokens.get("error", ""))}</p>', 400)
            keys = KeySet.import_key_set((await client.get(meta["jwks_uri"])).raise_for_status().json())
        id_token = jwt.decode(tokens["id_token"], keys, algorithms=meta["id_token_signing_alg_values_supported"])
        jwt.JWTClaimsRegistry(iss={"essential": True, "value": meta["issuer"]},
                              aud={"essential": True, "value": config.client_id},
                              nonce={"essential": True, "value": pending.nonce}).validate(id_token.claims)
        tax, status = await read_tax(tokens["access_token"])
        sessions.done[handle] = {"name": id_token.claims.get("name", ""), "sub": id_token.claims["sub"],
                                 "access_token": tokens["access_token"], "tax": tax, "tax_status": status}
        return RedirectResponse("/", status_code=302)

    async def refresh(request: Request) -> Response:
        done = sessions.done.get(request.cookies.get(COOKIE, ""))
        if done is None:
            return RedirectResponse("/", status_code=302)
        done["tax"], done["tax_status"] = await read_tax(done["access_token"])
        return RedirectResponse("/", status_code=302)

    return Starlette(routes=[Route("/", home), Route("/login", login), Route("/callback", callback),
                             Route("/refresh", refresh)])
