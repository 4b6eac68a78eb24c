"""The OAuth 2.0 device authorization grant (RFC 8628) for TVs: user code, approval on a phone, polling."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api.identity.login_models import DeviceAuthorization, DeviceGrantStatus
from api.identity.models import SessionToken
from api.platform.errors import PortalError
from api.platform.scopes import PERSON_SCOPES, TV_OPTIONAL_SCOPES, TV_SCOPES

DEVICE_CODE_TTL = dt.timedelta(minutes=10)
POLL_INTERVAL = 5
# The web portal's sign-in on a PC by a QR code approved in the app: a person's full session (the app shows who
# asks before its owner approves), where a TV gets only what a shared living-room screen needs.
WEB_QR_CLIENT = "mynaportal-web"
SLOW_DOWN_STEP = 5  # RFC 8628 §3.5: add 5 seconds to the interval on slow_down
# RFC 8628 §6.1: consonants only (no vowels, no look-alikes), 8 characters shown as XXXX-XXXX.
USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"


class DeviceTokenError(Exception):
    """An RFC 8628 §3.5 token-endpoint error: authorization_pending, slow_down, access_denied,
    expired_token, invalid_grant, invalid_scope."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error


@dataclass(frozen=True)
class DeviceStart:
    device_code: str
    user_code: str
    expires_in: int
    interval: int
    scopes: frozenset[str]


@dataclass(frozen=True)
class ApprovedDevice:
    person_id: uuid.UUID
    client_id: str
    scopes: frozenset[str]
    certificate_id: uuid.UUID | None  # the approving session's, which the TV's session inherits


def _hash(device_code: str) -> bytes:
    return hashlib.sha256(device_code.encode()).digest()


def normalise_user_code(raw: str) -> str:
    letters = "".join(c for c in raw.upper() if c.isalnum())
    if len(letters) != 8 or any(c not in USER_CODE_ALPHABET for c in letters):
        raise PortalError("DEVICE_CODE_UNKNOWN", "No TV is waiting for this code.")
    return f"{letters[:4]}-{letters[4:]}"


async def start_device_authorization(session: AsyncSession, client_id: str, scope: str | None,
                                     now: dt.datetime) -> DeviceStart:
    scopes = frozenset(scope.split()) if scope else TV_SCOPES
    allowed = PERSON_SCOPES if client_id == WEB_QR_CLIENT else TV_SCOPES | TV_OPTIONAL_SCOPES
    if not scopes <= allowed:
        raise DeviceTokenError("invalid_scope", "This client may ask only for: " + " ".join(sorted(allowed)))
    for _ in range(5):  # a user-code collision is rare; the unique key decides
        device_code = secrets.token_urlsafe(32)
        letters = "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(8))
        user_code = f"{letters[:4]}-{letters[4:]}"
        try:
            async with session.begin_nested():
                session.add(DeviceAuthorization(
                    device_code_hash=_hash(device_code), user_code=user_code, client_id=client_id[:100],
                    scopes=" ".join(sorted(scopes)), interval_seconds=POLL_INTERVAL, created_at=now,
                    expires_at=now + DEVICE_CODE_TTL))
        except IntegrityError:
            continue
        return DeviceStart(device_code, user_code, int(DEVICE_CODE_TTL.total_seconds()), POLL_INTERVAL, scopes)
    raise RuntimeError("could not allocate a user code")


async def decide(session: AsyncSession, user_code: str, person_id: uuid.UUID, *, approve: bool,
                 now: dt.datetime, session_token_id: uuid.UUID | None = None) -> DeviceAuthorization:
    """The signed-in person approves or denies the TV showing ``user_code`` (once), from the session
    ``session_token_id``, whose certificate the grant records."""
    code = normalise_user_code(user_code)
    certificate = select(SessionToken.certificate_id).where(SessionToken.id == session_token_id).scalar_subquery()
    decided = await session.scalar(
        update(DeviceAuthorization)
        .where(DeviceAuthorization.user_code == code, DeviceAuthorization.status == DeviceGrantStatus.PENDING,
               DeviceAuthorization.expires_at > now)
        .values(status=DeviceGrantStatus.APPROVED if approve else DeviceGrantStatus.DENIED, person_id=person_id,
                decided_at=now, certificate_id=certificate)
        .returning(DeviceAuthorization)
    )
    if decided is not None:
        return decided
    row = await session.scalar(select(DeviceAuthorization).where(DeviceAuthorization.user_code == code))
    if row is None:
        raise PortalError("DEVICE_CODE_UNKNOWN", "No TV is waiting for this code.")
    if row.status != DeviceGrantStatus.PENDING:
        raise PortalError("DEVICE_CODE_DECIDED", "This TV sign-in was already decided.")
    raise PortalError("DEVICE_CODE_EXPIRED", "This code has expired; start again on the TV.")


async def approving_certificate(session: AsyncSession, device_code: str) -> uuid.UUID | None:
    """The certificate of the session that approved this device code, if it was approved."""
    return await session.scalar(select(DeviceAuthorization.certificate_id).where(
        DeviceAuthorization.device_code_hash == _hash(device_code)))


async def poll(session: AsyncSession, device_code: str, client_id: str,
               now: dt.datetime) -> ApprovedDevice | DeviceTokenError:
    """One token-endpoint poll: the approval (once), or the RFC 8628 error to answer.

    The error is returned, not raised, so the caller commits the poll's bookkeeping with it.
    """
    try:
        return await _poll(session, device_code, client_id, now)
    except DeviceTokenError as error:
        return error


async def _poll(session: AsyncSession, device_code: str, client_id: str, now: dt.datetime) -> ApprovedDevice:
    row = await session.scalar(select(DeviceAuthorization).where(
        DeviceAuthorization.device_code_hash == _hash(device_code)))
    if row is None or row.client_id != client_id:
        raise DeviceTokenError("invalid_grant", "Unknown device code.")
    if row.expires_at <= now:
        raise DeviceTokenError("expired_token", "The device code has expired.")
    seen = row.last_polled_at
    too_fast = seen is not None and (now - seen).total_seconds() < row.interval_seconds
    # Optimistic: only the poll that saw this last_polled_at records itself, so racing polls slow down too.
    moved = await session.scalar(
        update(DeviceAuthorization)
        .where(DeviceAuthorization.id == row.id, DeviceAuthorization.last_polled_at.is_not_distinct_from(seen))
        .values(last_polled_at=now,
                interval_seconds=row.interval_seconds + (SLOW_DOWN_STEP if too_fast else 0))
        .returning(DeviceAuthorization.id)
    )
    if too_fast or moved is None:
        raise DeviceTokenError("slow_down", "Polling too fast; wait longer between requests.")
    if row.status == DeviceGrantStatus.PENDING:
        raise DeviceTokenError("authorization_pending", "Waiting for approval on the phone.")
    if row.status == DeviceGrantStatus.DENIED:
        raise DeviceTokenError("access_denied", "The sign-in was denied on the phone.")
    consumed = await session.scalar(
        update(DeviceAuthorization)
        .where(DeviceAuthorization.id == row.id, DeviceAuthorization.status == DeviceGrantStatus.APPROVED)
        .values(status=DeviceGrantStatus.CONSUMED).returning(DeviceAuthorization.id))
    if consumed is None or row.person_id is None:
        raise DeviceTokenError("invalid_grant", "The device code was already used.")
    return ApprovedDevice(row.person_id, row.client_id, frozenset(row.scopes.split()), row.certificate_id)
