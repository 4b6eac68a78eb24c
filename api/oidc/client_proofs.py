"""The client's proofs at the token endpoint, as Authlib extensions: ``private_key_jwt`` (RFC 7523 §2.2, OIDC Core
§9; each assertion's ``jti`` once) and PKCE with S256 required of every client (FAPI 2.0, デジタル認証アプリ)."""

from __future__ import annotations

import functools
import json
from datetime import datetime, timedelta
from typing import Any

from authlib.oauth2.rfc6749.errors import InvalidClientError, InvalidRequestError
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from authlib.oauth2.rfc7636 import CodeChallenge
from joserfc.jwk import KeySet

from api.oidc.stored import Client, remember_jwt_id
from api.platform.db import utcnow


class ClientAssertion(JWTBearerClientAssertion):
    """private_key_jwt (RFC 7523 §2.2, OIDC Core §9): the client signs an assertion with a key of its JWK set."""

    CLIENT_AUTH_METHOD = "private_key_jwt"

    def __init__(self, audiences: list[str]) -> None:
        super().__init__(validate_jti=True, leeway=30)
        self._audiences = audiences

    def get_audiences(self) -> list[str]:
        return self._audiences

    def validate_jti(self, claims: Any, jti: str) -> bool:
        expires = datetime.fromtimestamp(int(claims.get("exp", 0)), tz=utcnow().tzinfo) + timedelta(seconds=60)
        return remember_jwt_id(f"client:{claims['sub']}", jti, expires,
                               InvalidClientError(description="JWT ID is used before."))

    def resolve_client_public_key(self, client: Client) -> KeySet:
        # Parsed once per distinct key set: a client's JWKS changes only when the operator rotates it.
        return _key_set(json.dumps(client.row.jwks, sort_keys=True, separators=(",", ":")))


@functools.lru_cache(maxsize=256)
def _key_set(canonical_jwks: str) -> KeySet:
    return KeySet.import_key_set(json.loads(canonical_jwks))


class S256Challenge(CodeChallenge):
    """PKCE with S256 required of every client, confidential ones too (FAPI 2.0, デジタル認証アプリ)."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]  # noqa: RUF012 (Authlib's class attribute)

    def validate_code_challenge(self, grant: AuthorizationCodeGrant, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("Missing 'code_challenge'", redirect_uri=redirect_uri)
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("'code_challenge_method' must be S256", redirect_uri=redirect_uri)
        super().validate_code_challenge(grant, redirect_uri)

    def validate_code_verifier(self, grant: AuthorizationCodeGrant, result: Any) -> None:
        if not grant.request.form.get("code_verifier"):
            raise InvalidRequestError("Missing 'code_verifier'")
        super().validate_code_verifier(grant, result)
