"""The token endpoint's code exchange in few statements: one read (the client, the code, its consent and the person)
and, on PostgreSQL, one write: the replay records (assertion, DPoP proof), the code's single use, the release on the
person's record and the token, as data-modifying CTEs of one statement in the call's one transaction.

The per-statement cost in Python (SQLAlchemy's execution, psycopg's round trip) was most of the exchange's CPU;
each write is still what it was on its own (the same rows, the same conflicts: a part that writes no row refuses the
call and the transaction rolls back). SQLite has no data-modifying CTEs: there the writes go one by one.
"""

from __future__ import annotations

import contextvars
from collections import namedtuple
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from authlib.oauth2.rfc6749.errors import OAuth2Error
from sqlalchemy import CTE, Select, and_, bindparam, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from api.exchange.models import ExchangeRecord
from api.oidc.models import ClientStatus, OidcAuthorizationCode, OidcClient, OidcConsent, OidcSeenJwt, OidcToken
from api.oidc.record import LEAF_COLUMNS, RECORD_COLUMNS
from api.people.models import Person
from api.records.models import LogLeaf

# -- the one read -------------------------------------------------------------------------------------------------
# Built once, in Core: the rows come back as plain named tuples of their columns (what Authlib's views of them read;
# the ORM's loading of four entities cost more than the statement). The consent's and the person's columns are the
# ones the exchange reads (the consent's end, the ID token's claims), never the number's ciphertext.
_CLIENTS, _CODES = OidcClient.__table__, OidcAuthorizationCode.__table__
_CONSENTS, _PERSONS = OidcConsent.__table__, Person.__table__
_SHAPES = ((_CLIENTS, tuple(_CLIENTS.c.keys())), (_CODES, tuple(_CODES.c.keys())),
           (_CONSENTS, ("id", "withdrawn_at", "expires_at")),
           (_PERSONS, ("id", "name", "name_kana", "address", "birth_date", "sex")))
_VIEWS = tuple(namedtuple(f"{table.name}_columns", names) for table, names in _SHAPES)
READ_EXCHANGE = (
    select(*(table.c[name] for table, names in _SHAPES for name in names))
    .select_from(_CLIENTS)
    .outerjoin(_CODES, and_(_CODES.c.client_pk == _CLIENTS.c.id, _CODES.c.code_hash == bindparam("code_hash")))
    .outerjoin(_CONSENTS, _CONSENTS.c.id == _CODES.c.consent_id)
    .outerjoin(_PERSONS, _PERSONS.c.id == _CODES.c.person_id)
    .where(_CLIENTS.c.client_id == bindparam("client_id"), _CLIENTS.c.status == ClientStatus.APPROVED))


@dataclass(frozen=True)
class Prefetched:
    """What the one read found for (client_id, code_hash): the approved client or None; the client's code (with
    its consent and person) or None. Each a named tuple of its table's columns (an ORM row's attributes)."""

    client_id: str
    code_hash: bytes
    client: Any
    code: Any
    consent: Any
    person: Any


prefetched: contextvars.ContextVar[Prefetched | None] = contextvars.ContextVar("oidc_prefetched", default=None)


def read_exchange(session: Session, client_id: str, code_hash: bytes) -> Prefetched:
    found = session.execute(READ_EXCHANGE, {"client_id": client_id, "code_hash": code_hash}).first()
    if found is None:
        return Prefetched(client_id, code_hash, None, None, None, None)
    views, start = [], 0
    for view, (_, names) in zip(_VIEWS, _SHAPES, strict=True):
        values = found[start:start + len(names)]
        start += len(names)
        views.append(view._make(values) if values[0] is not None else None)  # an outer join's missing row
    return Prefetched(client_id, code_hash, *views)


# -- the one write (PostgreSQL) -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Part:
    """One write as a part of the combined statement: its kind (PARTS), its values, and the call's answer when
    it writes no row (a replayed JWT id, a code used meanwhile); None: it always writes."""

    kind: str
    values: dict[str, Any]
    refusal: OAuth2Error | None = None


def _named(prefix: str, values: dict[str, Any]) -> dict[str, Any]:
    return {f"{prefix}_{name}": value for name, value in values.items()}


def _claim(prefix: str) -> CTE:
    seen = OidcSeenJwt.__table__
    return (pg_insert(seen).values({name: bindparam(f"{prefix}_{name}") for name in ("issuer", "jti", "expires_at")})
            .on_conflict_do_nothing(index_elements=["issuer", "jti"]).returning(seen.c.jti).cte(prefix))


def _use_code(prefix: str) -> CTE:
    codes = OidcAuthorizationCode.__table__
    return (codes.update().where(codes.c.id == bindparam(f"{prefix}_code_id"), codes.c.used_at.is_(None))
            .values(used_at=bindparam(f"{prefix}_at")).returning(codes.c.id).cte(prefix))


TOKEN_COLUMNS = ("id", "access_token_hash", "client_pk", "person_id", "consent_id", "code_id", "scope", "dpop_jkt",
                 "issued_at", "expires_at", "revoked_at")


def _token(prefix: str) -> CTE:
    tokens = OidcToken.__table__
    return (tokens.insert().values({name: bindparam(f"{prefix}_{name}") for name in TOKEN_COLUMNS})
            .returning(tokens.c.id).cte(prefix))


def _release(prefix: str) -> CTE:
    """The transparency log's leaf, then the record naming it (api.oidc.record)."""
    leaves, records = LogLeaf.__table__, ExchangeRecord.__table__
    leaf = (leaves.insert().values({name: bindparam(f"{prefix}_{name}") for name in LEAF_COLUMNS})
            .returning(leaves.c.id).cte(f"{prefix}_leaf"))
    columns = [bindparam(f"{prefix}_{name}", type_=records.c[name].type) for name in RECORD_COLUMNS]
    return (records.insert().from_select([*RECORD_COLUMNS, "log_leaf_id"], select(*columns, leaf.c.id))
            .returning(records.c.id).cte(prefix))


PARTS: dict[str, Callable[[str], CTE]] = {"claim": _claim, "use_code": _use_code, "token": _token,
                                          "release": _release}
_STATEMENTS: dict[tuple[str, ...], Select[Any]] = {}  # by the parts' kinds, in order: a handful of shapes


def combined(kinds: tuple[str, ...]) -> Select[Any]:
    """One statement: each part a CTE, and how many rows each wrote."""
    statement = _STATEMENTS.get(kinds)
    if statement is None:
        ctes = [PARTS[kind](f"p{index}") for index, kind in enumerate(kinds)]
        statement = select(*(select(func.count()).select_from(cte).scalar_subquery() for cte in ctes))
        _STATEMENTS[kinds] = statement
    return statement


class PartRefused(Exception):
    def __init__(self, error: OAuth2Error) -> None:
        super().__init__(error.description)
        self.error = error


def write_parts(session: Session, parts: list[Part]) -> None:
    """Apply the parts in one statement; the first (in order) that wrote no row and has a refusal raises it."""
    parameters: dict[str, Any] = {}
    for index, part in enumerate(parts):
        parameters.update(_named(f"p{index}", part.values))
    counts = session.execute(combined(tuple(part.kind for part in parts)), parameters).one()
    for part, count in zip(parts, counts, strict=True):
        if count == 0 and part.refusal is not None:
            raise PartRefused(part.refusal)
