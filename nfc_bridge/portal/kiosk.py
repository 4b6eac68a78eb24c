"""`myna-bridge kiosk`: a コンビニ交付 terminal simulated through the portal's kiosk API, with the card in the reader.

What a store's multi-copy machine does (README: Certificates and コンビニ交付): with its kiosk key it asks the
issuing centre for a challenge, the card signs it with its user-authentication key (4-digit PIN), the centre opens
a session for that card at that kiosk; the person chooses the certificate (the fee is paid at the machine: a
receipt), the kiosk takes the PDF once, "prints" it (here: writes it to a file) and reports the print, and the
session ends when the card leaves the reader.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from nfc_bridge.jpki import Cert, Key, MyNumberCard, Pin
from nfc_bridge.portal.client import PortalError, b64

# Must match the server's api.identity.challenges.LOGIN_CONTEXT (a protocol constant; a test checks it).
LOGIN_CONTEXT = b"mynaportal-login-v1"


def login_message(client_id: str, nonce: bytes) -> bytes:
    """The bytes the card signs for a login (api.identity.challenges.login_message): context, client id, nonce."""
    client = client_id.encode()
    return LOGIN_CONTEXT + len(client).to_bytes(2, "big") + client + nonce


@dataclass(frozen=True)
class Printed:
    certificate_id: str
    serial: str | None
    pages: int | None
    fee: int
    path: Path
    size: int


class KioskClient:
    """HTTP client of the kiosk API (``/kiosk/v1``), authenticated by the terminal's key."""

    def __init__(self, server: str, kiosk_key: str, *, timeout: float = 60.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.server = server.rstrip("/")
        self.http = httpx.Client(base_url=self.server, timeout=timeout, transport=transport,
                                 headers={"authorization": f"Bearer {kiosk_key}"})

    def close(self) -> None:
        self.http.close()

    def _call(self, method: str, path: str, *, json: dict[str, Any] | None = None,
              headers: dict[str, str] | None = None) -> httpx.Response:
        try:
            response = self.http.request(method, path, json=json, headers=headers)
        except httpx.HTTPError as error:
            raise PortalError("NETWORK", f"cannot reach {self.server}: {type(error).__name__}") from error
        if response.status_code >= 400:
            try:
                problem = response.json()
            except ValueError:
                problem = {}
            raise PortalError(str(problem.get("code") or f"HTTP_{response.status_code}"),
                              str(problem.get("detail") or problem.get("title") or response.reason_phrase))
        return response

    def open_session(self, card: MyNumberCard, pin: str) -> str:
        """Authenticate the card at this kiosk: read its certificates, VERIFY the PIN, sign the challenge."""
        certificate = card.read_certificate(Cert.AUTH)
        chain = [card.read_certificate(Cert.AUTH_CA)]
        card.verify_pin(Pin.AUTH, pin)  # before the challenge: a wrong or blocked PIN spends no challenge
        challenge = self._call("POST", "/kiosk/v1/challenges").json()
        signature = card.sign_data(Key.AUTH, login_message(challenge["client_id"],
                                                           base64.b64decode(challenge["nonce"])))
        opened = self._call("POST", "/kiosk/v1/sessions", json={
            "challenge_id": challenge["challenge_id"], "certificate": b64(certificate),
            "chain": [b64(c) for c in chain], "signature": b64(signature)}).json()
        return str(opened["session_id"])

    def obtain(self, session_id: str, certificate: str, options: dict[str, Any], receipt: str, output: Path) -> Printed:
        """Ask for the certificate (one idempotency key, so a retry gets the same one), take the PDF once, write it,
        and report the print."""
        base = f"/kiosk/v1/sessions/{session_id}/certificates"
        asked = self._call("POST", base, json={"certificate": certificate, "receipt": receipt, "options": options},
                           headers={"idempotency-key": f"kiosk-{secrets.token_hex(8)}"}).json()
        pdf = self._call("POST", f"{base}/{asked['id']}/document").content
        if not pdf.startswith(b"%PDF-"):
            self._call("POST", f"{base}/{asked['id']}/print-result", json={"printed": False})
            raise PortalError("BAD_RESPONSE", "the document is not a PDF")
        try:
            output.write_bytes(pdf)
        except OSError:
            self._call("POST", f"{base}/{asked['id']}/print-result", json={"printed": False})
            raise
        self._call("POST", f"{base}/{asked['id']}/print-result", json={"printed": True})
        return Printed(asked["id"], asked.get("serial"), asked.get("pages"), asked["fee"], output, len(pdf))

    def end_session(self, session_id: str) -> None:
        """The card left the reader."""
        self._call("DELETE", f"/kiosk/v1/sessions/{session_id}")
