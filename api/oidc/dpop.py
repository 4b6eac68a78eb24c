"""DPoP (RFC 9449): checking a proof JWT (§4.3) and the thumbprint (RFC 7638) a token is bound to (``cnf.jkt``).

Authlib 1.9 has no server side for DPoP: this is the small extension the token endpoint (api.oidc.server's grant)
and the resources (api.oidc.resources) call. The replay check (a proof's ``jti`` used once) is the caller's, in
its own transaction (the table of seen JWT ids, api.oidc.models.OidcSeenJwt).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

from authlib.oauth2.rfc6749.errors import OAuth2Error
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, JWKRegistry, OKPKey, RSAKey

ALGORITHMS = ("ES256", "PS256", "RS256", "EdDSA")  # asymmetric only (§4.2); never none or HMAC
MAX_AGE = 300  # seconds a proof's iat may lie in the past
MAX_SKEW = 60  # … or in the future (clocks differ)
MAX_PROOF = 8000


class DPoPError(Exception):
    """The proof is not acceptable (invalid_dpop_proof)."""


def thumbprint(key: ECKey | RSAKey | OKPKey) -> str:
    """RFC 7638 SHA-256 thumbprint, base64url without padding (the ``jkt``)."""
    return key.thumbprint()


def access_token_hash(access_token: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(access_token.encode()).digest()).rstrip(b"=").decode()


def normalise_htu(url: str) -> str:
    """The request's URI without query and fragment (§4.3 item 9), scheme and host lower-case."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path, "", ""))


@dataclass(frozen=True)
class Proof:
    jkt: str  # the key's thumbprint: what the token is (or must be) bound to
    replay_key: str  # the key's thumbprint and the proof's jti: seen once
    until: datetime  # after this the proof is refused for its age anyway, so the key may be forgotten


def verify_proof(proof: str, *, method: str, url: str, now: datetime, access_token: str | None = None) -> Proof:
    """Check the proof of one request (all but the replay check, which is the caller's, in its transaction)."""
    if not proof or len(proof) > MAX_PROOF or proof.count(".") != 2:
        raise DPoPError("The DPoP proof is not a JWT.")
    try:
        header = jws.extract_compact(proof.encode()).protected
    except (JoseError, ValueError) as error:
        raise DPoPError("The DPoP proof is not a JWT.") from error
    if header.get("typ") != "dpop+jwt":
        raise DPoPError("The DPoP proof's typ must be dpop+jwt.")
    if header.get("alg") not in ALGORITHMS:
        raise DPoPError("The DPoP proof's alg must be asymmetric (ES256, PS256, RS256, EdDSA).")
    public = header.get("jwk")
    if not isinstance(public, dict) or any(name in public for name in ("d", "p", "q", "dp", "dq", "qi", "k")):
        raise DPoPError("The DPoP proof's jwk must be a public key.")
    try:
        key, jkt = _public_key(json.dumps(public, sort_keys=True, separators=(",", ":")))
        token = jwt.decode(proof, key, algorithms=[header["alg"]])
    except (JoseError, ValueError, TypeError, KeyError) as error:
        raise DPoPError("The DPoP proof's signature does not verify with its jwk.") from error
    claims = token.claims
    jti, htm, htu, iat = claims.get("jti"), claims.get("htm"), claims.get("htu"), claims.get("iat")
    if not isinstance(jti, str) or not 1 <= len(jti) <= 255:
        raise DPoPError("The DPoP proof has no jti.")
    if htm != method:
        raise DPoPError("The DPoP proof's htm is not this request's method.")
    if not isinstance(htu, str) or normalise_htu(htu) != normalise_htu(url):
        raise DPoPError("The DPoP proof's htu is not this request's URI.")
    if not isinstance(iat, int) or isinstance(iat, bool):
        raise DPoPError("The DPoP proof has no iat.")
    issued = datetime.fromtimestamp(iat, UTC)
    if issued < now - timedelta(seconds=MAX_AGE) or issued > now + timedelta(seconds=MAX_SKEW):
        raise DPoPError("The DPoP proof's iat is too old or in the future.")
    if access_token is not None and claims.get("ath") != access_token_hash(access_token):
        raise DPoPError("The DPoP proof's ath is not this access token's hash.")
    return Proof(jkt, f"{jkt}:{jti}", issued + timedelta(seconds=MAX_AGE + MAX_SKEW))


@functools.lru_cache(maxsize=1024)
def _public_key(canonical_jwk: str) -> tuple[ECKey | RSAKey | OKPKey, str]:
    """A client's DPoP key, imported and its thumbprint taken once (a client sends the same key on every request)."""
    key = JWKRegistry.import_key(json.loads(canonical_jwk))
    if not isinstance(key, ECKey | RSAKey | OKPKey):
        raise ValueError("not an asymmetric key")
    return key, thumbprint(key)


class InvalidDPoPProofError(OAuth2Error):
    """RFC 9449 §7.1's error in OAuth's format, for Authlib's responses (the token endpoint)."""

    error = "invalid_dpop_proof"
    status_code = 400
