"""DPoP (RFC 9449): the proof checks of §4.3 one by one, the thumbprint of RFC 7638, and DPoP-bound tokens at the
token endpoint and userinfo, with a replayed proof, a proof of another key and a bound token sent as Bearer refused.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, OctKey

from api.oidc.dpop import DPoPError, access_token_hash, verify_proof
from tests.api.conftest import Portal
from tests.api.oidc.conftest import ISSUER, REDIRECT, RelyingParty, add_client, login

NOW = datetime(2026, 12, 5, 4, 0, tzinfo=UTC)
URL = "https://server.example.com/token"


def proof(key: Any, *, alg: str = "ES256", typ: str = "dpop+jwt", method: str = "POST", url: str = URL,
          iat: int | None = None, jwk: dict | None = None, **claims: Any) -> str:
    header = {"typ": typ, "alg": alg, "jwk": jwk if jwk is not None else key.as_dict(private=False)}
    body = {"jti": secrets.token_urlsafe(12), "htm": method, "htu": url,
            "iat": int(NOW.timestamp()) if iat is None else iat, **claims}
    return jwt.encode(header, body, key, algorithms=[alg])


@pytest.fixture(scope="module")
def key() -> ECKey:
    return ECKey.generate_key("P-256", private=True)


def test_a_good_proof_gives_the_keys_thumbprint(key: ECKey) -> None:
    checked = verify_proof(proof(key), method="POST", url=URL, now=NOW)
    assert checked.jkt == key.thumbprint()
    # htu compares without query and fragment (§4.3 item 9)
    assert verify_proof(proof(key, url=URL), method="POST", url=URL + "?a=1", now=NOW).jkt == checked.jkt


def test_thumbprint_is_rfc7638s(key: ECKey) -> None:
    # RFC 7638 §3.2: the required members only (crv, kty, x, y for EC), in lexical order, no whitespace.
    public = key.as_dict(private=False)
    canonical = json.dumps({name: public[name] for name in ("crv", "kty", "x", "y")}, separators=(",", ":"),
                           sort_keys=True)
    expected = base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()
    assert verify_proof(proof(key), method="POST", url=URL, now=NOW).jkt == expected


@pytest.mark.parametrize(("_case", "make", "message"), [
    ("not a JWT", lambda k: "abc", "not a JWT"),
    ("wrong typ", lambda k: proof(k, typ="JWT"), "typ must be dpop+jwt"),
    ("symmetric alg", lambda k: proof(OctKey.generate_key(256), alg="HS256", jwk={"kty": "oct"}),
     "alg must be asymmetric"),
    ("private jwk", lambda k: proof(k, jwk=k.as_dict(private=True)), "jwk must be a public key"),
    ("another key's jwk", lambda k: proof(k, jwk=ECKey.generate_key("P-256").as_dict(private=False)),
     "signature does not verify"),
    ("wrong method", lambda k: proof(k, method="GET"), "htm is not"),
    ("wrong URI", lambda k: proof(k, url="https://server.example.com/other"), "htu is not"),
    ("too old", lambda k: proof(k, iat=int(NOW.timestamp()) - 301), "too old or in the future"),
    ("from the future", lambda k: proof(k, iat=int(NOW.timestamp()) + 61), "too old or in the future"),
    ("no ath", lambda k: proof(k), "ath is not"),
    ("wrong ath", lambda k: proof(k, ath=access_token_hash("another")), "ath is not"),
])
def test_refused_proofs(key: ECKey, _case: str, make: Any, message: str) -> None:
    token = "the-token" if "ath" in _case else None
    with pytest.raises(DPoPError, match=re.escape(message)):
        verify_proof(make(key), method="POST", url=URL, now=NOW, access_token=token)


async def _dpop_token(portal: Portal, rp: RelyingParty, key: ECKey) -> dict[str, Any]:
    async with rp.oauth(portal) as oauth:
        response, _, verifier = await login(portal, rp, oauth)
    code = response.split("code=")[1].split("&")[0]
    from authlib.oauth2.rfc7523 import private_key_jwt_sign
    answer = await portal.client.post("/oidc/token", headers={"DPoP": _live(key, "POST", f"{ISSUER}/oidc/token")},
                                      data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
                                            "code_verifier": verifier,
                                            "client_assertion_type":
                                                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                                            "client_assertion": private_key_jwt_sign(
                                                rp.key, rp.client_id, f"{ISSUER}/oidc/token", alg="ES256")})
    return answer.json()


def _live(key: ECKey, method: str, url: str, **claims: Any) -> str:
    header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": key.as_dict(private=False)}
    return jwt.encode(header, {"jti": secrets.token_urlsafe(12), "htm": method, "htu": url, "iat": int(time.time()),
                               **claims}, key, algorithms=["ES256"])


async def test_dpop_bound_token_at_userinfo(portal: Portal, key: ECKey) -> None:
    rp = await add_client(portal, "fapirp", "FAPI RP", require_dpop=True)
    token = await _dpop_token(portal, rp, key)
    assert token["token_type"] == "DPoP"
    url = f"{ISSUER}/oidc/userinfo"
    good = _live(key, "GET", url, ath=access_token_hash(token["access_token"]))
    headers = {"authorization": f"DPoP {token['access_token']}", "DPoP": good}
    assert (await portal.client.get("/oidc/userinfo", headers=headers)).status_code == 200
    replayed = await portal.client.get("/oidc/userinfo", headers=headers)
    assert (replayed.status_code, replayed.json()["error"]) == (401, "invalid_dpop_proof")
    assert replayed.headers["www-authenticate"].startswith("DPoP ")
    other = ECKey.generate_key("P-256", private=True)
    stolen = await portal.client.get("/oidc/userinfo", headers={
        "authorization": f"DPoP {token['access_token']}",
        "DPoP": _live(other, "GET", url, ath=access_token_hash(token["access_token"]))})
    assert stolen.json()["error_description"] == "The DPoP proof's key is not the one the token is bound to."
    as_bearer = await portal.client.get("/oidc/userinfo", headers={"authorization": f"Bearer {token['access_token']}"})
    assert as_bearer.json()["error_description"].startswith("This access token is DPoP-bound")


async def test_a_dpop_client_must_send_a_proof(portal: Portal, key: ECKey) -> None:
    rp = await add_client(portal, "fapirp", "FAPI RP", require_dpop=True)
    async with rp.oauth(portal) as oauth:
        response, state, verifier = await login(portal, rp, oauth)
        from authlib.integrations.base_client.errors import OAuthError
        with pytest.raises(OAuthError) as refused:
            await oauth.fetch_token(f"{ISSUER}/oidc/token", authorization_response=response, state=state,
                                    code_verifier=verifier)
    assert refused.value.error == "invalid_request"
