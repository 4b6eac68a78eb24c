"""HTTP client of the portal's GraphQL endpoint, and the login and phone-credential flows."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from nfc_bridge.jpki import Cert, Key, MyNumberCard, Pin
from nfc_bridge.portal import persisted
from nfc_bridge.portal.store import PhoneCredential, Session

DEFAULT_CLIENT_ID = "jp.go.mynaportal.bridge"
# Must match the server's api.identity.service.PHONE_CREDENTIAL_CONTEXT (a protocol constant).
PHONE_CREDENTIAL_CONTEXT = b"mynaportal-phone-credential-v2"


def phone_credential_message(nonce: bytes, auth_csr: bytes, sign_csr: bytes) -> bytes:
    """What the card signs to vouch for the phone's two CSRs: the context, then the server's nonce and the two
    CSRs, each with a 2-byte big-endian length (the server's api.identity.service.phone_credential_message)."""
    return PHONE_CREDENTIAL_CONTEXT + b"".join(len(part).to_bytes(2, "big") + part
                                               for part in (nonce, auth_csr, sign_csr))


def _csr(key: ec.EllipticCurvePrivateKey, name: str) -> bytes:
    return (x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, name)]))
            .sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER))


def _pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


class PortalError(Exception):
    """The server refused; ``code`` is its stable extensions.code (e.g. CHALLENGE_USED)."""

    def __init__(self, code: str, message: str, retry_after: int | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.retry_after = retry_after


def b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


class PortalClient:
    def __init__(self, server: str, *, client_id: str = DEFAULT_CLIENT_ID, timeout: float = 30.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.server = server.rstrip("/")
        self.client_id = client_id
        self.http = httpx.Client(base_url=self.server, timeout=timeout, transport=transport)

    def close(self) -> None:
        self.http.close()

    def graphql(self, operation: str, variables: dict[str, Any], token: str | None = None) -> dict[str, Any]:
        """Run the persisted operation named ``operation`` (sent as its document text)."""
        headers = {"authorization": f"Bearer {token}"} if token else {}
        request = {"query": persisted.document(operation), "variables": variables}
        try:
            response = self.http.post("/graphql", json=request, headers=headers)
        except httpx.HTTPError as error:
            raise PortalError("NETWORK", f"cannot reach {self.server}: {type(error).__name__}") from error
        try:
            body = response.json()
        except ValueError as error:
            raise PortalError("BAD_RESPONSE", f"HTTP {response.status_code} without JSON") from error
        if body.get("errors"):
            error = body["errors"][0]
            extensions = error.get("extensions") or {}
            raise PortalError(extensions.get("code", "UNKNOWN"), error.get("message", ""),
                              extensions.get("retryAfter"))
        return body["data"]

    def _session(self, payload: dict[str, Any]) -> Session:
        return Session(self.server, payload["accessToken"], payload["refreshToken"], payload["scopes"])

    def _login(self, certificate: bytes, chain: list[bytes], sign: Any) -> Session:
        challenge = self.graphql(persisted.START_CARD_LOGIN, {"clientId": self.client_id})["startCardLogin"]
        signature = sign(base64.b64decode(challenge["toBeSigned"]))
        done = self.graphql(persisted.COMPLETE_CARD_LOGIN, {"input": {
            "challengeId": challenge["challengeId"], "clientId": self.client_id, "certificate": b64(certificate),
            "chain": [b64(c) for c in chain], "signature": b64(signature)}})
        return self._session(done["completeCardLogin"])

    def card_login(self, card: MyNumberCard, pin: str) -> Session:
        """The whole card login: read the certificates, VERIFY the PIN, sign the challenge with the auth key."""
        certificate = card.read_certificate(Cert.AUTH)
        chain = [card.read_certificate(Cert.AUTH_CA)]
        card.verify_pin(Pin.AUTH, pin)  # before the challenge: a wrong or blocked PIN spends no challenge
        return self._login(certificate, chain, lambda data: card.sign_data(Key.AUTH, data))

    def phone_login(self, phone: PhoneCredential) -> Session:
        key = serialization.load_pem_private_key(phone.key_pem.encode(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError("the stored phone key is not an EC key")
        return self._login(base64.b64decode(phone.authentication_certificate),
                           [base64.b64decode(c) for c in phone.chain],
                           lambda data: key.sign(data, ec.ECDSA(hashes.SHA256())))

    def refresh(self, session: Session) -> Session:
        done = self.graphql(persisted.REFRESH_SESSION, {"refreshToken": session.refresh_token})
        return self._session(done["refreshSession"])

    def issue_phone_credential(self, card: MyNumberCard, sign_password: str, session: Session) -> PhoneCredential:
        """Play the phone: make its two key pairs (authentication, signature) and their CSRs, ask the portal for a
        single-use challenge, and have the card's signature key vouch for the challenge and both CSRs."""
        auth_key, sign_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
        auth_csr, sign_csr = _csr(auth_key, "myna-bridge phone"), _csr(sign_key, "myna-bridge phone signature")
        card.verify_pin(Pin.SIGN, sign_password)  # before the challenge: a wrong password spends no challenge
        certificate = card.read_certificate(Cert.SIGN)
        chain = [card.read_certificate(Cert.SIGN_CA)]
        started = self.graphql(persisted.START_PHONE_CREDENTIAL, {},
                               token=session.access_token)["startPhoneCredential"]
        message = phone_credential_message(base64.b64decode(started["nonce"]), auth_csr, sign_csr)
        signature = card.sign_data(Key.SIGN, message)
        issued = self.graphql(persisted.ISSUE_PHONE_CREDENTIAL, {"input": {
            "challengeId": started["challengeId"], "authenticationCsr": b64(auth_csr), "signatureCsr": b64(sign_csr),
            "cardSignCertificate": b64(certificate), "chain": [b64(c) for c in chain],
            "signature": b64(signature)}}, token=session.access_token)["issuePhoneCredential"]
        return PhoneCredential(self.server, _pem(auth_key), issued["authenticationCertificate"],
                               issued["signatureCertificate"], issued["chain"], sign_key_pem=_pem(sign_key))

    def sign_application(self, card: MyNumberCard, sign_password: str, session: Session,
                         application_id: str) -> dict[str, Any]:
        """Sign an application (ぴったりサービス) with the card's signature key and send it: the portal gives the
        SHA-256 of the application's canonical JSON; the card signs that digest (as `myna-bridge sign --key sign
        --digest` does) after the signature password, and the certificate and its CA go with the signature."""
        token = session.access_token
        application = self.graphql(persisted.APPLICATION, {"id": application_id}, token=token)["application"]
        to_sign = self.graphql(persisted.APPLICATION_TO_SIGN, {"id": application_id},
                               token=token)["applicationToSign"]
        document = base64.b64decode(to_sign["document"])
        digest = bytes.fromhex(to_sign["sha256"])
        if hashlib.sha256(document).digest() != digest:
            raise PortalError("BAD_RESPONSE", "the digest to sign is not the SHA-256 of the document shown")
        card.verify_pin(Pin.SIGN, sign_password)
        certificate = card.read_certificate(Cert.SIGN)
        chain = [card.read_certificate(Cert.SIGN_CA)]
        signature = card.sign_digest(Key.SIGN, digest, "sha256")
        return self.graphql(persisted.SUBMIT_APPLICATION, {"input": {
            "id": application_id, "formVersion": application["formVersion"], "certificate": b64(certificate),
            "chain": [b64(c) for c in chain], "signature": b64(signature)}}, token=token)["submitApplication"]
