"""Authenticating a request's bearer token in one database round trip.

The token, its person and the person's municipality come back in a single SELECT, so the GraphQL
context can prime its loaders: a `viewer` query then costs one statement (aiosqlite spends ~0.7 ms per
statement on a thread hop, so round trips, not SQL, dominate the hot path).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.db import RawSelect, Reader, detached_instance, utcnow
from api.identity.models import SessionToken
from api.identity.tokens import TOKEN_PREFIX, Principal, TokenRejected, hash_token
from api.people.models import Municipality, Person


@dataclass(frozen=True)
class AuthenticatedPerson:
    principal: Principal
    person: Person
    municipality: Municipality


async def authenticate_person(
    session: AsyncSession, token: str, *, now: datetime | None = None
) -> AuthenticatedPerson:
    _check_shape(token)
    connection = await session.connection()
    params = _params(token)
    return _authenticated(await connection.run_sync(lambda sync: _LOOKUP.first(sync, params)), now)


async def authenticate_person_with(reader: Reader, token: str, *, now: datetime | None = None) -> AuthenticatedPerson:
    """``authenticate_person`` through ``api.db.Reader`` (every request's hot path).

    One prepared statement on the driver's cursor (``RawSelect``: ~90 µs on SQLite, inline, instead of
    ~500 µs through the ORM); the person and municipality come back as detached ORM objects, ready to
    prime the loaders.
    """
    _check_shape(token)
    return _authenticated(await reader.first(_LOOKUP, _params(token), inline=True), now)


def _check_shape(token: str) -> None:
    if not token.startswith(TOKEN_PREFIX) or len(token) > 100:
        raise TokenRejected("invalid")


def _params(token: str) -> dict[str, bytes]:
    return {"token_hash": hash_token(token)}


def _authenticated(row: tuple[Any, ...] | None, now: datetime | None) -> AuthenticatedPerson:
    if row is None or row[_REVOKED_AT] is not None:
        raise TokenRejected("invalid")
    if row[_EXPIRES_AT] <= (now or utcnow()):
        raise TokenRejected("expired")
    principal = Principal(person_id=row[_PERSON_ID], scopes=frozenset(row[_SCOPES].split()), token_id=row[_TOKEN_ID])
    person = detached_instance(Person, dict(zip(_PERSON_KEYS, row[_PERSON_START:_MUNICIPALITY_START], strict=True)))
    municipality = detached_instance(Municipality,
                                     dict(zip(_MUNICIPALITY_KEYS, row[_MUNICIPALITY_START:], strict=True)))
    return AuthenticatedPerson(principal, person, municipality)


_TOKEN_COLUMNS = (SessionToken.id, SessionToken.person_id, SessionToken.scopes, SessionToken.expires_at,
                  SessionToken.revoked_at)
_TOKEN_ID, _PERSON_ID, _SCOPES, _EXPIRES_AT, _REVOKED_AT = range(len(_TOKEN_COLUMNS))
_PERSON_KEYS = tuple(column.key for column in Person.__mapper__.column_attrs)
_MUNICIPALITY_KEYS = tuple(column.key for column in Municipality.__mapper__.column_attrs)
_PERSON_START = len(_TOKEN_COLUMNS)
_MUNICIPALITY_START = _PERSON_START + len(_PERSON_KEYS)
_LOOKUP = RawSelect(
    select(*_TOKEN_COLUMNS, *(getattr(Person, key) for key in _PERSON_KEYS),
           *(getattr(Municipality, key) for key in _MUNICIPALITY_KEYS))
    .join(Person, Person.id == SessionToken.person_id)
    .join(Municipality, Municipality.code == Person.municipality_code)
    .where(SessionToken.token_hash == bindparam("token_hash"))
)
