"""`myna-bridge serve`: the local card helper a web page on a PC logs in through (Estonia's Web eID design).

It listens on 127.0.0.1 only. A page of an allowed origin POSTs a challenge; the helper asks for the
authentication PIN itself (on its own terminal: the page never sees it), then signs
SHA-256(origin) ‖ SHA-256(challenge) with the card's authentication key, the origin being the one the browser
stated, which a page cannot forge. The token names neither: the server rebuilds both from its own session,
so a signature made for one site's page cannot be relayed to another.

Requests from origins not on the allowlist get no CORS headers (the browser refuses the page the answer) and a
403; a Host header other than our own loopback address is refused (DNS rebinding). Chromium's Private/Local
Network Access preflight is answered for allowed origins only.

Applications are signed at ``/web-eid/sign`` with the signature key (署名用電子証明書): the page sends the
document itself (the application's canonical JSON, not a digest it could have made up), the helper shows what
it is about to sign on its own terminal (procedure, applicant, origin), asks the signature password itself and
signs SHA-256(document). It answers the signature certificate (read after the password, as the card requires),
its CA and the signature; the server verifies them against the document it rebuilt.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import re
import sys
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from nfc_bridge.card_access import PinSource, open_card
from nfc_bridge.errors import CardError, PinBlockedError, WrongPinError
from nfc_bridge.jpki import Cert, Key, Pin

DEFAULT_PORT = 24727
VERSION = "1.0"
WEB_EID_FORMAT = "web-eid:1.0"
AUTHENTICATE = "/web-eid/authenticate"
STATUS = "/web-eid/status"
SIGN = "/web-eid/sign"
PATHS = (AUTHENTICATE, STATUS, SIGN)
_CHALLENGE = re.compile(r"^[A-Za-z0-9_-]{32,128}$")
MAX_BODY = 4096
MAX_DOCUMENT = 256 * 1024  # an application's canonical JSON (its form is at most 64 KiB)


def signed_data(origin: str, challenge: str) -> bytes:
    """What the card signs over: SHA-256(origin) ‖ SHA-256(challenge) (hashed again by the signature)."""
    return hashlib.sha256(origin.encode()).digest() + hashlib.sha256(challenge.encode()).digest()


def authenticate(args: argparse.Namespace, pins: PinSource, origin: str, challenge: str,
                 ask: Callable[[str], None]) -> dict[str, Any]:
    """Read the certificates, ask the PIN, sign: the Web eID authentication token (plus the card's CA cert)."""
    with open_card(args) as card:
        certificate = card.read_certificate(Cert.AUTH)
        chain = [card.read_certificate(Cert.AUTH_CA)]
        key = x509.load_der_x509_certificate(certificate).public_key()
        hash_name, algorithm = ("sha384", "ES384") if isinstance(key, ec.EllipticCurvePublicKey) else \
            ("sha256", "RS256")
        ask(origin)
        card.verify_pin(Pin.AUTH, pins.get("authentication PIN (4 digits)"))
        digest = hashlib.new(hash_name, signed_data(origin, challenge)).digest()
        signature = card.sign_digest(Key.AUTH, digest, hash_name)
    encode = lambda raw: base64.b64encode(raw).decode()  # noqa: E731
    return {"format": WEB_EID_FORMAT, "appVersion": f"myna-bridge/{VERSION}", "algorithm": algorithm,
            "unverifiedCertificate": encode(certificate), "certificateChain": [encode(c) for c in chain],
            "signature": encode(signature)}


def describe(document: bytes) -> str:
    """What the person is shown before typing the signature password: a document we can read, or nothing."""
    try:
        data = json.loads(document)
    except ValueError as error:
        raise ValueError("the document is not JSON") from error
    if not isinstance(data, dict) or data.get("format") != "mynaportal-application/1":
        raise ValueError("not an application document")
    applicant = data.get("applicant") if isinstance(data.get("applicant"), dict) else {}
    subject = data.get("subject") if isinstance(data.get("subject"), dict) else {}
    return (f"application {data.get('procedure')} (form {data.get('formVersion')}) to municipality "
            f"{data.get('municipality')}\n  applicant: {applicant.get('name')}  for: {subject.get('name')}\n"
            f"  SHA-256: {hashlib.sha256(document).hexdigest()}")


def sign_document(args: argparse.Namespace, pins: PinSource, origin: str, document: bytes,
                  ask: Callable[[str, str], None]) -> dict[str, Any]:
    """Show the document, ask the signature password, sign SHA-256(document) with the signature key."""
    what = describe(document)
    with open_card(args) as card:
        ask(origin, what)
        card.verify_pin(Pin.SIGN, pins.get("signature password"))
        certificate = card.read_certificate(Cert.SIGN)
        chain = [card.read_certificate(Cert.SIGN_CA)]
        signature = card.sign_digest(Key.SIGN, hashlib.sha256(document).digest(), "sha256")
    encode = lambda raw: base64.b64encode(raw).decode()  # noqa: E731
    return {"format": "web-eid-sign:1.0", "appVersion": f"myna-bridge/{VERSION}", "algorithm": "RS256",
            "certificate": encode(certificate), "certificateChain": [encode(c) for c in chain],
            "signature": encode(signature)}


class HelperServer(HTTPServer):
    """One request at a time: there is one card and one person at the keyboard."""

    def __init__(self, port: int, origins: frozenset[str], args: argparse.Namespace, pins: PinSource) -> None:
        self.origins, self.args, self.pins = origins, args, pins
        self.card_lock = threading.Lock()
        super().__init__(("127.0.0.1", port), HelperHandler)

    @property
    def hosts(self) -> frozenset[str]:
        port = self.server_address[1]
        return frozenset({f"127.0.0.1:{port}", f"localhost:{port}"})


class HelperHandler(BaseHTTPRequestHandler):
    server: HelperServer
    server_version = "myna-bridge"

    def log_message(self, format: str, *args: Any) -> None:
        sys.stderr.write(f"myna-bridge serve: {format % args}\n")

    def _allowed_origin(self) -> str | None:
        origin = self.headers.get("Origin", "")
        if self.headers.get("Host", "") not in self.server.hosts:
            return None
        return origin if origin in self.server.origins else None

    def _answer(self, status: int, body: dict[str, Any] | None, origin: str | None,
                extra: dict[str, str] | None = None) -> None:
        payload = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        if origin is not None:
            self.send_header("Access-Control-Allow-Origin", origin)
        self.send_header("Vary", "Origin")
        self.send_header("Cache-Control", "no-store")
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_OPTIONS(self) -> None:
        origin = self._allowed_origin()
        if origin is None or self.path not in PATHS:
            self._answer(HTTPStatus.FORBIDDEN, None, None)
            return
        extra = {"Access-Control-Allow-Methods": "GET, POST", "Access-Control-Allow-Headers": "Content-Type",
                 "Access-Control-Max-Age": "600"}
        # Chromium asks a public or local page before it lets it reach a loopback service.
        if self.headers.get("Access-Control-Request-Private-Network") == "true":
            extra["Access-Control-Allow-Private-Network"] = "true"
        if self.headers.get("Access-Control-Request-Local-Network") == "true":
            extra["Access-Control-Allow-Local-Network"] = "true"
        self._answer(HTTPStatus.NO_CONTENT, None, origin, extra)

    def do_GET(self) -> None:
        origin = self._allowed_origin()
        if origin is None or self.path != STATUS:
            self._answer(HTTPStatus.FORBIDDEN, {"code": "ORIGIN_NOT_ALLOWED"}, None)
            return
        self._answer(HTTPStatus.OK, {"version": VERSION, "format": WEB_EID_FORMAT}, origin)

    def do_POST(self) -> None:
        origin = self._allowed_origin()
        if origin is None or self.path not in (AUTHENTICATE, SIGN):
            self._answer(HTTPStatus.FORBIDDEN, {"code": "ORIGIN_NOT_ALLOWED",
                                                "message": "This site may not use your card."}, None)
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        limit = MAX_DOCUMENT * 2 if self.path == SIGN else MAX_BODY
        try:
            body = json.loads(self.rfile.read(length)) if 0 < length <= limit else None
        except ValueError:
            body = None
        if self.path == SIGN:
            self._sign_document(origin, body)
            return
        challenge = body.get("challenge") if isinstance(body, dict) else None
        if not isinstance(challenge, str) or not _CHALLENGE.match(challenge):
            self._answer(HTTPStatus.BAD_REQUEST, {"code": "BAD_CHALLENGE", "message": "No valid challenge."}, origin)
            return
        status, answer = self._sign(origin, challenge)
        self._answer(status, answer, origin)

    def _sign_document(self, origin: str, body: Any) -> None:
        raw = body.get("document") if isinstance(body, dict) else None
        try:
            if not isinstance(raw, str):
                raise ValueError
            document = base64.b64decode(raw, validate=True)
            if len(document) > MAX_DOCUMENT:
                raise ValueError
            describe(document)
        except (ValueError, binascii.Error):
            self._answer(HTTPStatus.BAD_REQUEST, {"code": "BAD_DOCUMENT",
                                                  "message": "署名する申請書を読み取れませんでした。"}, origin)
            return

        def ask(who: str, what: str) -> None:
            sys.stderr.write(f"\n{who} asks you to SIGN with your My Number card's signature certificate:\n"
                             f"  {what}\n")
            sys.stderr.flush()

        status, answer = self._card(lambda: sign_document(self.server.args, self.server.pins, origin, document,
                                                          ask))
        self._answer(status, answer, origin)

    def _sign(self, origin: str, challenge: str) -> tuple[int, dict[str, Any]]:
        def ask(who: str) -> None:
            sys.stderr.write(f"\n{who} asks to log you in with your My Number card.\n")
            sys.stderr.flush()

        return self._card(lambda: authenticate(self.server.args, self.server.pins, origin, challenge, ask))

    def _card(self, work: Callable[[], dict[str, Any]]) -> tuple[int, dict[str, Any]]:
        with self.server.card_lock:
            try:
                return HTTPStatus.OK, work()
            except WrongPinError as error:
                return HTTPStatus.BAD_REQUEST, {"code": "WRONG_PIN", "triesLeft": error.tries_left,
                                                "message": f"暗証番号が違います (残り{error.tries_left}回)。"}
            except PinBlockedError:
                return HTTPStatus.BAD_REQUEST, {"code": "PIN_BLOCKED",
                                                "message": "暗証番号がロックされています。市区町村の窓口へ。"}
            except (CardError, ValueError, SystemExit) as error:
                sys.stderr.write(f"myna-bridge serve: {error}\n")
                return HTTPStatus.SERVICE_UNAVAILABLE, {"code": "CARD_UNAVAILABLE",
                                                        "message": "カードを読み取れませんでした。"}


def cmd_serve(args: argparse.Namespace, pins: PinSource) -> int:
    origins = frozenset(origin.rstrip("/") for origin in args.origin)
    server = HelperServer(args.port, origins, args, pins)
    print(f"myna-bridge serve: http://127.0.0.1:{server.server_address[1]} for {', '.join(sorted(origins))}",
          flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
