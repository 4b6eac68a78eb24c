"""The OpenAPI 3.1 document of the OpenID Provider and the 自己情報取得API (api.oidc.http).

OAuth endpoints answer OAuth's error format (RFC 6749 §5.2, RFC 6750 §3.1: ``error``, ``error_description``),
which relying parties' OAuth libraries read, rather than problem JSON.
"""

from __future__ import annotations

from typing import Any

from api.platform.openapi import document, json_answer, path_param, query_param
from api.selfinfo.groups import InfoGroup

_OAUTH_ERROR = {"type": "object", "required": ["error"],
                "properties": {"error": {"type": "string"}, "error_description": {"type": "string"}}}
_HTML = {"text/html": {"schema": {"type": "string"}}}
_CLIENT_AUTH = {
    "client_assertion_type": {"type": "string", "const": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
    "client_assertion": {"type": "string", "description": "private_key_jwt: a JWT signed with a key of the "
                                                          "client's registered JWK set (iss = sub = client_id)."}}
_BEARER = [{"accessToken": []}]


def _oauth_error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _OAUTH_ERROR}}}


def _form(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": {
        "type": "object", "properties": {**properties, **_CLIENT_AUTH},
        "required": [*required, "client_assertion_type", "client_assertion"]}}}}


def _authorize_params() -> list[dict[str, Any]]:
    text = {"type": "string", "maxLength": 255}
    return [query_param("response_type", {"type": "string", "enum": ["code"]}, "Only code."),
            query_param("client_id", text, "The registered client."),
            query_param("request_uri", text, "From the PAR endpoint (RFC 9126): then client_id and request_uri "
                                             "only."),
            query_param("redirect_uri", text, "One of the client's registered URIs, exactly."),
            query_param("scope", {"type": "string"}, "openid, and name, address, birthdate, gender, sign, "
                                                     "selfinfo:<group>."),
            query_param("sign_transaction_id", text, "With the sign scope: the client's open signing transaction "
                                                     "(POST /oidc/sign); its signature comes in the token response "
                                                     "(sign_result)."),
            query_param("state", text, "Required."), query_param("nonce", text, "Required."),
            query_param("code_challenge", {"type": "string"}, "PKCE, required."),
            query_param("code_challenge_method", {"type": "string", "enum": ["S256"]}, "S256 only."),
            query_param("prompt", {"type": "string"}, "consent asks the person again.")]


def openapi_document() -> dict[str, Any]:
    resource_errors = {"401": _oauth_error("No, an unknown, expired or revoked token, or the consent ended "
                                           "(invalid_token)."),
                       "403": _oauth_error("The token lacks the scope (insufficient_scope)."),
                       "429": _oauth_error("The client's rate limit (slow_down).")}
    paths = {
        "/.well-known/openid-configuration": {"get": {
            "summary": "OpenID Provider metadata (discovery)", "responses": {"200": json_answer("The metadata.")}}},
        "/oidc/jwks": {"get": {"summary": "The provider's public keys (ES256), every generation still in use",
                               "responses": {"200": json_answer("A JWK set.")}}},
        "/oidc/authorize": {"get": {
            "summary": "The authorization endpoint: the login page (QR code and short code, approved in the app)",
            "parameters": _authorize_params(),
            "responses": {"200": {"description": "The login page.", "content": _HTML},
                          "302": {"description": "An error sent back to the client's redirect URI."},
                          "400": {"description": "An error page: no redirect URI to trust.", "content": _HTML},
                          "429": _oauth_error("The client's rate limit (slow_down).")}}},
        "/oidc/authorize/continue": {"get": {
            "summary": "The login page's next step: waiting, or the redirect with the code once approved",
            "parameters": [query_param("request", {"type": "string", "format": "uuid"}, "The waiting login.")],
            "responses": {"200": {"description": "Still waiting.", "content": _HTML},
                          "302": {"description": "Back to the client with code and state (or an error)."},
                          "400": {"description": "Unknown, expired, used, or another browser's.",
                                  "content": _HTML}}}},
        "/oidc/par": {"post": {
            "summary": "Push an authorization request (RFC 9126): a one-time request_uri for /oidc/authorize",
            "description": "The parameters of the authorization request, authenticated with private_key_jwt and "
                           "validated as the authorization endpoint would. The browser is then sent to "
                           "/oidc/authorize with client_id and request_uri only; the request_uri is used once and "
                           "lives expires_in seconds. Clients registered with "
                           "require_pushed_authorization_requests can only log people in this way.",
            "requestBody": _form({**{param["name"]: param["schema"] for param in _authorize_params()},
                                  "client_id": {"type": "string", "maxLength": 255}},
                                 ["response_type", "redirect_uri", "scope", "state", "nonce", "code_challenge",
                                  "code_challenge_method"]),
            "responses": {"201": json_answer("The one-time request_uri and its lifetime.", {
                "type": "object", "required": ["request_uri", "expires_in"],
                "properties": {"request_uri": {"type": "string", "pattern": "^urn:ietf:params:oauth:request_uri:"},
                               "expires_in": {"type": "integer", "minimum": 1}}}),
                          "400": _oauth_error("invalid_request, invalid_client, unsupported_response_type …"),
                          "401": _oauth_error("invalid_client."),
                          "429": _oauth_error("The client's rate limit (slow_down).")}}},
        "/oidc/sign": {"post": {
            "summary": "Open a signing transaction (the sign scope): the SHA-256 digest of the client's document, "
                       "signed by the person in the app with the card's or phone's signature credential",
            "description": "Client credentials only (private_key_jwt), as デジタル認証アプリ: no person yet. Show the "
                           "short code (or a QR code of it) to the person; take the outcome from /oidc/sign/result.",
            "requestBody": _form({"digest": {"type": "string", "description": "base64url of the 32-byte SHA-256 "
                                                                             "digest."},
                                  "title": {"type": "string", "maxLength": 200}}, ["digest", "title"]),
            "responses": {"201": json_answer("The transaction.", {
                "type": "object", "required": ["transaction_id", "short_code", "expires_in"],
                "properties": {"transaction_id": {"type": "string", "format": "uuid"},
                               "short_code": {"type": "string"}, "expires_in": {"type": "integer"}}}),
                          "400": _oauth_error("invalid_request (a digest not of 32 bytes, no title, a client "
                                              "without the sign scope), invalid_client."),
                          "401": _oauth_error("invalid_client."),
                          "429": _oauth_error("The client's rate limit (slow_down).")}}},
        "/oidc/sign/result": {"post": {
            "summary": "A signing transaction's outcome: pending, expired, or the signature with the signer's "
                       "certificate and chain and the signer's sub",
            "requestBody": _form({"transaction_id": {"type": "string"}}, ["transaction_id"]),
            "responses": {"200": json_answer("status pending | expired | signed; when signed: digest, signature "
                                             "(base64url), certificate and certificate_chain (base64 DER), "
                                             "signed_at, sub.", {
                "type": "object", "required": ["transaction_id", "status"],
                "properties": {"transaction_id": {"type": "string"},
                               "status": {"type": "string", "enum": ["pending", "expired", "signed"]}}}),
                          "400": _oauth_error("invalid_request (no such transaction for this client), "
                                              "invalid_client."),
                          "401": _oauth_error("invalid_client."),
                          "429": _oauth_error("The client's rate limit (slow_down).")}}},
        "/oidc/token": {"post": {
            "summary": "Exchange a code (PKCE verifier, private_key_jwt) for an access token and an ID token",
            "requestBody": _form({"grant_type": {"type": "string", "enum": ["authorization_code"]},
                                  "code": {"type": "string"}, "redirect_uri": {"type": "string"},
                                  "code_verifier": {"type": "string"}},
                                 ["grant_type", "code", "redirect_uri", "code_verifier"]),
            "responses": {"200": json_answer("The tokens; with the sign scope also sign_result (the signature, "
                                             "certificate and chain, as /oidc/sign/result answers)."),
                          "400": _oauth_error("invalid_request, invalid_grant, invalid_client, "
                                              "unsupported_grant_type …"),
                          "401": _oauth_error("invalid_client."),
                          "429": _oauth_error("The client's rate limit (slow_down).")}}},
        "/oidc/userinfo": {method: {
            "summary": "The claims the token's scopes name (on the person's record)", "security": _BEARER,
            "responses": {"200": json_answer("The claims."), **resource_errors}} for method in ("get", "post")},
        "/oidc/revoke": {"post": {
            "summary": "Revoke an access token (RFC 7009)",
            "requestBody": _form({"token": {"type": "string"}, "token_type_hint": {"type": "string"}}, ["token"]),
            "responses": {"200": json_answer("Revoked (or unknown)."),
                          "400": _oauth_error("invalid_request, invalid_client."),
                          "401": _oauth_error("invalid_client."),
                          "429": _oauth_error("The client's rate limit (slow_down).")}}},
        "/oidc/introspect": {"post": {
            "summary": "Introspect one of the client's own access tokens (RFC 7662)",
            "requestBody": _form({"token": {"type": "string"}, "token_type_hint": {"type": "string"}}, ["token"]),
            "responses": {"200": json_answer("active, and the token's details when active."),
                          "400": _oauth_error("invalid_request, invalid_client."),
                          "401": _oauth_error("invalid_client."),
                          "429": _oauth_error("The client's rate limit (slow_down).")}}},
        "/oidc/selfinfo/{category}": {"get": {
            "summary": "自己情報取得API: the person's data of one group with provenance (needs selfinfo:<group>); "
                       "each read is an exchange on the person's record naming the client",
            "security": _BEARER,
            "parameters": [path_param("category", {"type": "string", "enum": [g.value for g in InfoGroup]},
                                      "The group.")],
            "responses": {"200": json_answer("The items, each with source, lastUpdated and legal basis."),
                          "404": _oauth_error("No such category."), **resource_errors}}},
    }
    return document("Mynaportal: OpenID Provider and 自己情報取得API",
                    "Relying parties log people in through the portal (authorization code flow, PKCE S256, "
                    "private_key_jwt, ES256 ID tokens, pairwise sub) and read the data a person consented to.",
                    paths, security_schemes={"accessToken": {"type": "http", "scheme": "bearer"}})
