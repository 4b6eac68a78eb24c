"""Single-use login challenges bound to the client (app id), valid two minutes.

What the card (or phone) signs is rebuilt here from the stored challenge, never taken from the
client: ``login_message(client_id, nonce)``.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from api.identity.login_models import LoginChallenge
from api.platform.errors import PortalError

CHALLENGE_TTL = dt.timedelta(minutes=2)
LOGIN_CONTEXT = b"mynaportal-login-v1"


@dataclass(frozen=True)
class Challenge:
    id: uuid.UUID
    nonce: bytes
    client_id: str
    expires_at: dt.datetime


def login_message(client_id: str, nonce: bytes) -> bytes:
    """The bytes signed at login: a fixed context, the client id and the nonce (length-prefixed)."""
    client = client_id.encode()
    return LOGIN_CONTEXT + len(client).to_bytes(2, "big") + client + nonce


def challenge_text(nonce: bytes) -> str:
    """The nonce as a browser's card helper receives it (base64url, no padding)."""
    return base64.urlsafe_b64encode(nonce).rstrip(b"=").decode()


def origin_bound_message(origin: str, nonce: bytes) -> bytes:
    """What a browser's card helper signs (Web eID's design): SHA-256(origin) ‖ SHA-256(challenge text).

    The origin is the page's, as the helper saw it; the server rebuilds it from its own public address, never
    from the token, so a signature made for a look-alike site's page does not verify here (no relay)."""
    return hashlib.sha256(origin.encode()).digest() + hashlib.sha256(challenge_text(nonce).encode()).digest()


def check_client_id(client_id: str) -> str:
    if not 1 <= len(client_id) <= 100 or not client_id.isascii() or not client_id.isprintable():
        raise PortalError("BAD_USER_INPUT", "The client id must be 1-100 printable ASCII characters.")
    return client_id


def check_terminal_id(terminal_id: str) -> str:
    if not 1 <= len(terminal_id) <= 100 or not terminal_id.isascii() or not terminal_id.isprintable():
        raise PortalError("BAD_USER_INPUT", "The terminal id must be 1-100 printable ASCII characters.",
                          extensions={"field": "sharedTerminalId"})
    return terminal_id


async def start_challenge(session: AsyncSession, client_id: str, now: dt.datetime) -> Challenge:
    challenge = LoginChallenge(nonce=secrets.token_bytes(32), client_id=check_client_id(client_id), created_at=now,
                               expires_at=now + CHALLENGE_TTL)
    session.add(challenge)
    await session.flush()
    return Challenge(challenge.id, challenge.nonce, challenge.client_id, challenge.expires_at)


async def spend_challenge(session: AsyncSession, challenge_id: uuid.UUID, client_id: str,
                          now: dt.datetime) -> Challenge:
    """Use the challenge once, whatever the outcome of the login (conditional UPDATE)."""
    spent = await session.scalar(
        update(LoginChallenge)
        .where(LoginChallenge.id == challenge_id, LoginChallenge.client_id == client_id,
               LoginChallenge.used_at.is_(None), LoginChallenge.expires_at > now)
        .values(used_at=now)
        .returning(LoginChallenge)
    )
    if spent is not None:
        return Challenge(spent.id, spent.nonce, spent.client_id, spent.expires_at)
    row = await session.get(LoginChallenge, challenge_id)
    if row is None:
        raise PortalError("CHALLENGE_UNKNOWN", "No such login challenge.")
    if row.client_id != client_id:
        raise PortalError("CHALLENGE_CLIENT_MISMATCH", "This challenge was issued to another client.")
    if row.used_at is not None:
        raise PortalError("CHALLENGE_USED", "This challenge was already used; start a new login.")
    raise PortalError("CHALLENGE_EXPIRED", "This challenge has expired; start a new login.")
