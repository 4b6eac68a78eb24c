"""What the OpenID Provider shows: its discovery document (OpenID Connect Discovery 1.0) and the server-rendered
pages of its authorization endpoint (the login page with its QR code and short code, and its refusals)."""

from __future__ import annotations

import html
import io
from typing import Any

import segno
from starlette.responses import HTMLResponse

from api.oidc.keys import ALGORITHM
from api.oidc.models import OidcClient
from api.oidc.scopes import SCOPE_TITLES, SUPPORTED_SCOPES

APP_LINK = "mynaportal://oidc-login?code="
NO_STORE = {"cache-control": "no-store", "pragma": "no-cache"}


def discovery(issuer: str) -> dict[str, Any]:
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/oidc/authorize",
        "token_endpoint": f"{issuer}/oidc/token",
        "userinfo_endpoint": f"{issuer}/oidc/userinfo",
        "jwks_uri": f"{issuer}/oidc/jwks",
        "revocation_endpoint": f"{issuer}/oidc/revoke",
        "introspection_endpoint": f"{issuer}/oidc/introspect",
        "pushed_authorization_request_endpoint": f"{issuer}/oidc/par",
        "signing_transaction_endpoint": f"{issuer}/oidc/sign",  # the sign scope (デジタル認証アプリ's profile)
        # Per client too: a client registered with require_pushed_authorization_requests must push (RFC 9126 §6).
        "require_pushed_authorization_requests": False,
        "scopes_supported": sorted(SUPPORTED_SCOPES),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": [ALGORITHM],
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["ES256", "PS256", "RS256", "EdDSA"],
        "revocation_endpoint_auth_methods_supported": ["private_key_jwt"],
        "introspection_endpoint_auth_methods_supported": ["private_key_jwt"],
        "pushed_authorization_request_endpoint_auth_methods_supported": ["private_key_jwt"],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "amr", "name", "name_kana",
                             "address", "birthdate", "gender"],
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
        "prompt_values_supported": ["login", "consent"],
        "authorization_response_iss_parameter_supported": False,
        "ui_locales_supported": ["ja"],
    }


def page(title: str, body: str, *, status: int = 200, refresh: str | None = None) -> HTMLResponse:
    meta = f'<meta http-equiv="refresh" content="2;url={html.escape(refresh)}">' if refresh else ""
    return HTMLResponse(
        f'<!doctype html><html lang="ja"><head><meta charset="utf-8">{meta}<title>{html.escape(title)}</title>'
        '<meta name="viewport" content="width=device-width,initial-scale=1"></head>'
        f'<body><main><h1>{html.escape(title)}</h1>{body}</main></body></html>',
        status_code=status, headers={**NO_STORE, "content-security-policy": "default-src 'none'; img-src data:; "
                                     "style-src 'unsafe-inline'", "x-frame-options": "DENY"})


def qr_svg(text: str) -> str:
    out = io.BytesIO()
    segno.make(text, error="m").save(out, kind="svg", scale=4, xmldecl=False, svgns=True)
    return out.getvalue().decode()


def login_page(client: OidcClient, scopes: list[str], short_code: str, continue_url: str) -> HTMLResponse:
    shown = f"{short_code[:4]}-{short_code[4:]}"
    claims = "".join(f"<li>{html.escape(SCOPE_TITLES.get(s, s))}</li>" for s in scopes)
    body = (f'<p><strong id="client">{html.escape(client.name)}</strong>'
            ' がマイナポータルでのログインを求めています。</p>'
            f'<p>利用目的: <span id="purpose">{html.escape(client.purpose)}</span></p>'
            f'<p>提供される情報:</p><ul id="claims">{claims}</ul>'
            '<p>マイナポータルアプリでこの QR コードを読み取るか、コードを入力して承認してください。</p>'
            f'<figure id="qr">{qr_svg(APP_LINK + short_code)}</figure>'
            f'<p>コード: <strong id="short-code" data-code="{short_code}">{shown}</strong></p>'
            f'<p><a id="continue" href="{html.escape(continue_url)}">承認したら続ける</a></p>')
    return page("マイナポータルでログイン", body, refresh=continue_url)
