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
# A code that would give a person's full session (the PC's QR login) lives shorter: less time to relay it to a
# victim (RFC 8628 §5.4, remote phishing). A TV's notices-only code keeps the room-friendly 10 minutes.
FULL_ACCESS_CODE_TTL = dt.timedelta(minutes=2)
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
class DeviceRequester:
    """Where a sign-in was asked from, as the server saw it: what the app shows before its owner approves."""

    address: str | None
    agent: str | None


@dataclass(frozen=True)
class DeviceSignInRequest:
    user_code: str
    client_id: str
    scopes: frozenset[str]
    full_access: bool  # more than a TV's notices-only session: approval needs an explicit confirmation
    requested_at: dt.datetime
    expires_at: dt.datetime
    requester: DeviceRequester


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


def is_full_access(scopes: frozenset[str]) -> bool:
    return not scopes <= TV_SCOPES | TV_OPTIONAL_SCOPES


async def start_device_authorization(session: AsyncSession, client_id: str, scope: str | None,
                                     now: dt.datetime, requester: DeviceRequester | None = None) -> DeviceStart:
    scopes = frozenset(scope.split()) if scope else TV_SCOPES
    allowed = PERSON_SCOPES if client_id == WEB_QR_CLIENT else TV_SCOPES | TV_OPTIONAL_SCOPES
    if not scopes <= allowed:
        raise DeviceTokenError("invalid_scope", "This client may ask only for: " + " ".join(sorted(allowed)))
    ttl = FULL_ACCESS_CODE_TTL if is_full_access(scopes) else DEVICE_CODE_TTL
    requester = requester or DeviceRequester(None, None)
    for _ in range(5):  # a user-code collision is rare; the unique key decides
        device_code = secrets.token_urlsafe(32)
        letters = "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(8))
        user_code = f"{letters[:4]}-{letters[4:]}"
        try:
            async with session.begin_nested():
                session.add(DeviceAuthorization(
                    device_code_hash=_hash(device_code), user_code=user_code, client_id=client_id[:100],
                    scopes=" ".join(sorted(scopes)), interval_seconds=POLL_INTERVAL, created_at=now,
                    expires_at=now + ttl, requester_address=(requester.address or None) and requester.address[:45],
                    requester_agent=(requester.agent or None) and requester.agent[:200]))
        except IntegrityError:
            continue
        return DeviceStart(device_code, user_code, int(ttl.total_seconds()), POLL_INTERVAL, scopes)
    raise RuntimeError("could not allocate a user code")


async def describe(session: AsyncSession, user_code: str, now: dt.datetime) -> DeviceSignInRequest:
    """What asks to sign in with ``user_code``, for the app to show before its owner decides (pending codes only:
    a decided or expired one answers as the decision would)."""
    code = normalise_user_code(user_code)
    row = await session.scalar(select(DeviceAuthorization).where(DeviceAuthorization.user_code == code))
    _check_pending(row, now)
    assert row is not None
    scopes = frozenset(row.scopes.split())
    return DeviceSignInRequest(row.user_code, row.client_id, scopes, is_full_access(scopes), row.created_at,
                               row.expires_at, DeviceRequester(row.requester_address, row.requester_agent))


def _check_pending(row: DeviceAuthorization | None, now: dt.datetime) -> None:
    if row is None:
        raise PortalError("DEVICE_CODE_UNKNOWN", "No TV is waiting for this code.")
    if row.status != DeviceGrantStatus.PENDING:
        raise PortalError("DEVICE_CODE_DECIDED", "This TV sign-in was already decided.")
    if row.expires_at <= now:
        raise PortalError("DEVICE_CODE_EXPIRED", "This code has expired; start again on the TV.")


async def decide(session: AsyncSession, user_code: str, person_id: uuid.UUID, *, approve: bool,
                 now: dt.datetime, session_token_id: uuid.UUID | None = None,
                 confirmed_in_front_of_it: bool = False) -> DeviceAuthorization:
    """The signed-in person approves or denies the TV showing ``user_code`` (once), from the session
    ``session_token_id``, whose certificate the grant records.

    Approving a full session (a browser's QR login) needs ``confirmed_in_front_of_it``: the app has shown where
    the request came from and its owner said the screen is theirs, not a code someone sent them."""
    code = normalise_user_code(user_code)
    if approve and not confirmed_in_front_of_it:
        row = await session.scalar(select(DeviceAuthorization).where(DeviceAuthorization.user_code == code))
        _check_pending(row, now)
        assert row is not None
        if is_full_access(frozenset(row.scopes.split())):
            raise PortalError("DEVICE_CONFIRMATION_REQUIRED",
                              "This sign-in gives full access: confirm that the screen showing the code is yours.")
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
    _check_pending(await session.scalar(select(DeviceAuthorization).where(DeviceAuthorization.user_code == code)),
                   now)
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
