"""Signing in on a PC: with the card through the local helper (`myna-bridge serve`, Web eID's design), or by a
QR code approved in the app (RFC 8628, the TV's flow with the web portal as client). Signing out.

The card path: the page fetches a challenge, hands its text to the helper on 127.0.0.1, which asks for the PIN
itself, checks the page's origin against its allowlist and signs SHA-256(origin) ‖ SHA-256(challenge) with the
card's authentication key. The server verifies with the identity domain's card login, for its own origin.

A login's tokens never reach the browser: they go into a server-side session (api.identity.web_sessions) whose
opaque id is the ``mp_web`` cookie."""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import uuid
from typing import Any

import segno
from starlette.responses import JSONResponse, RedirectResponse, Response

from api.identity import web_sessions
from api.identity.challenges import challenge_text
from api.identity.device import WEB_QR_CLIENT, DeviceRequester, DeviceTokenError
from api.identity.sessions import TokenPair
from api.platform.errors import ErrorCode, PortalError
from api.platform.scopes import PERSON_SCOPES
from api.web.rendering import Visit, Web, render

CARD_CLIENT = "mynaportal-web-card"
WEB_EID_FORMAT = "web-eid:1.0"
MAX_TOKEN = 16384


async def sign_in(web: Web, visit: Visit, pair: TokenPair) -> None:
    """A new session (a new id and form token: nothing of before the sign-in carries over)."""
    if visit.signed_in is not None:  # signed in again over a session: the old one ends
        await web_sessions.sign_out(web.session_factory, visit.signed_in.session_id)
    visit.started = await web_sessions.sign_in(web.session_factory, pair)
    visit.session.pop("challenge")
    visit.session.pop("device")


async def login_page(web: Web, visit: Visit) -> Response:
    if visit.principal is not None:
        return RedirectResponse("/web/", status_code=303)
    return render(web, visit, "login.html", helper=web.settings.card_helper_url)


async def card_challenge(web: Web, visit: Visit) -> Response:
    challenge = await web.identity.service.start_login(CARD_CLIENT)
    visit.session.set("challenge", str(challenge.id))
    return JSONResponse({"challenge": challenge_text(challenge.nonce), "origin": web.origin,
                         "expiresAt": challenge.expires_at.isoformat()})


def _b64(token: dict[str, Any], name: str) -> bytes:
    value = token.get(name)
    try:
        if not isinstance(value, str):
            raise ValueError
        return base64.b64decode(value, validate=True)
    except (ValueError, binascii.Error) as error:
        raise PortalError(ErrorCode.BAD_USER_INPUT, f"{name} is not base64.") from error


async def card_login(web: Web, visit: Visit) -> Response:
    """The helper's token, relayed by the page: verified against the challenge this browser holds."""
    body = await visit.request.body()
    try:
        token = json.loads(body) if len(body) <= MAX_TOKEN else None
    except ValueError:
        token = None
    if not isinstance(token, dict) or token.get("format") != WEB_EID_FORMAT:
        raise PortalError(ErrorCode.BAD_USER_INPUT, "The card helper's answer is not a web-eid:1.0 token.")
    raw_id = visit.session.pop("challenge")
    try:
        challenge_id = uuid.UUID(str(raw_id))
    except ValueError as error:
        raise PortalError("CHALLENGE_UNKNOWN", "No login was started in this browser.") from error
    chain = token.get("certificateChain") or []
    if not isinstance(chain, list) or len(chain) > 4:
        raise PortalError(ErrorCode.BAD_USER_INPUT, "certificateChain must be a short list.")
    terminal = None
    if token.get("sharedTerminal") is True:
        terminal = visit.session.get("terminal") or secrets.token_urlsafe(12)
        visit.session.set("terminal", terminal)
    pair = await web.identity.service.complete_login(
        challenge_id, CARD_CLIENT, _b64(token, "unverifiedCertificate"),
        [_b64({"c": item}, "c") for item in chain], _b64(token, "signature"),
        shared_terminal_id=terminal, origin=web.origin)
    await sign_in(web, visit, pair)
    return JSONResponse({"next": "/web/"})


async def start_device(web: Web, visit: Visit, client_id: str, scopes: frozenset[str]) -> dict[str, Any]:
    try:
        started = await web.identity.service.start_device(client_id, " ".join(sorted(scopes)), DeviceRequester(
            visit.request.client.host if visit.request.client else None, visit.request.headers.get("user-agent")))
    except DeviceTokenError as error:
        raise PortalError(ErrorCode.BAD_USER_INPUT, str(error)) from error
    visit.session.set("device", [started.device_code, client_id])
    url = f"{web.settings.public_url}/device?user_code={started.user_code}"
    return {"user_code": started.user_code, "qr": segno.make(url, error="m").svg_data_uri(scale=8),
            "verification_url": url, "interval": started.interval, "expires_in": started.expires_in}


async def qr_login(web: Web, visit: Visit) -> Response:
    started = await start_device(web, visit, WEB_QR_CLIENT, PERSON_SCOPES)
    return render(web, visit, "login_qr.html", **started)


async def device_poll(web: Web, visit: Visit) -> Response:
    """One poll of the sign-in this browser started (PC QR login or the TV): pending, done or ended."""
    held = visit.session.get("device")
    if not isinstance(held, list) or len(held) != 2:
        return JSONResponse({"state": "ended", "message": "サインインをやり直してください。"}, status_code=400)
    device_code, client_id = held
    try:
        pair = await web.identity.service.poll_device(device_code, client_id)
    except DeviceTokenError as error:
        if error.error in ("authorization_pending", "slow_down"):
            return JSONResponse({"state": "pending", "slowDown": error.error == "slow_down"})
        visit.session.pop("device")
        return JSONResponse({"state": "ended", "message": "サインインできませんでした。やり直してください。",
                             "error": error.error}, status_code=400)
    await sign_in(web, visit, pair)
    return JSONResponse({"state": "done", "next": "/web/tv" if client_id != WEB_QR_CLIENT else "/web/"})


async def logout(web: Web, visit: Visit) -> Response:
    """The session's row and its tokens end: its cookie, replayed, finds nothing."""
    if visit.signed_in is not None:
        await web_sessions.sign_out(web.session_factory, visit.signed_in.session_id)
    visit.ended = True
    tv = visit.request.query_params.get("tv") == "1"
    visit.session.clear()
    return RedirectResponse("/web/tv" if tv else "/web/login", status_code=303)
