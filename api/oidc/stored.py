"""Authlib's views of the provider's rows: the request, the client, the end user, stored codes and tokens, and
the replay record of client assertions. They run inside Authlib's synchronous hooks, on the synchronous session of
the call (``current_session``)."""


import contextvars
import hashlib
import uuid
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from authlib.oauth2 import rfc6749
from authlib.oauth2.rfc6749 import OAuth2Request
from authlib.oauth2.rfc6749.errors import OAuth2Error
from authlib.oauth2.rfc6749.requests import OAuth2Payload
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from api.oidc.exchange import Part
from api.oidc.keys import ALGORITHM
from api.oidc.models import OidcAuthorizationCode, OidcClient, OidcConsent, OidcSeenJwt, OidcToken
from api.oidc.scopes import scope_list
from api.people.models import Person
from api.platform.db import utcnow

T = TypeVar("T")
current_session: contextvars.ContextVar[Session] = contextvars.ContextVar("oidc_sync_session")


def digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


class PortalPayload(OAuth2Payload):
    def __init__(self, datalist: Mapping[str, list[str]]) -> None:
        self._datalist = defaultdict(list, {key: list(values) for key, values in datalist.items()})
        self._data = {key: values[0] for key, values in datalist.items() if values}

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> defaultdict[str, list]:
        return self._datalist


class PortalRequest(OAuth2Request):
    """An HTTP request already read by the async handler: query and form as lists of values."""

    def __init__(self, method: str, uri: str, headers: Mapping[str, str], query: Mapping[str, list[str]],
                 form: Mapping[str, list[str]] | None = None) -> None:
        super().__init__(method, uri, headers=dict(headers))
        self._args = {key: values[0] for key, values in query.items() if values}
        self._form = {key: values[0] for key, values in (form or {}).items() if values}
        merged: dict[str, list[str]] = {key: list(values) for key, values in query.items()}
        for key, values in (form or {}).items():
            merged.setdefault(key, []).extend(values)
        self.payload = PortalPayload(merged)

    @property
    def args(self) -> dict[str, str]:
        return self._args

    @property
    def form(self) -> dict[str, str]:
        return self._form


@dataclass
class Client(rfc6749.ClientMixin):
    """An approved client as Authlib sees it (a suspended or pending one is not found)."""

    row: OidcClient

    def get_client_id(self) -> str:
        return self.row.client_id

    def get_default_redirect_uri(self) -> str | None:
        return None  # redirect_uri is required, and must match a registered one exactly

    def get_allowed_scope(self, scope: str | None) -> str:
        allowed = set(self.row.scopes.split())
        return " ".join(part for part in scope_list(scope) if part in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.row.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return False  # no shared secrets: private_key_jwt only

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == "private_key_jwt"

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"

    @property
    def id_token_signed_response_alg(self) -> str:
        return ALGORITHM


@dataclass(frozen=True)
class EndUser:
    """The person who approved in the app, with the consent the approval rests on."""

    person_id: uuid.UUID
    consent_id: uuid.UUID
    auth_time: datetime
    client: OidcClient
    person: Person | None = None  # when already read (the token endpoint reads it with the code)


@dataclass
class StoredCode(rfc6749.AuthorizationCodeMixin):
    row: OidcAuthorizationCode
    consent: OidcConsent | None = None  # read with the code (the session's identity map holds rows weakly)
    person: Person | None = None

    @property
    def code_challenge(self) -> str:
        return self.row.code_challenge

    @property
    def code_challenge_method(self) -> str:
        return self.row.code_challenge_method

    def get_redirect_uri(self) -> str:
        return self.row.redirect_uri

    def get_scope(self) -> str:
        return self.row.scope

    def get_nonce(self) -> str:
        return self.row.nonce

    def get_auth_time(self) -> int:
        return int(self.row.auth_time.timestamp())

    def get_acr(self) -> str | None:
        return None

    def get_amr(self) -> list[str] | None:
        return ["hwk", "pin"]  # the card's or phone's key, unlocked by its PIN, approved in the app


@dataclass
class StoredToken(rfc6749.TokenMixin):
    row: OidcToken
    client_id: str

    def check_client(self, client: Client) -> bool:
        return client.row.id == self.row.client_pk

    def get_scope(self) -> str:
        return self.row.scope

    def get_expires_in(self) -> int:
        return int((self.row.expires_at - self.row.issued_at).total_seconds())

    def is_expired(self) -> bool:
        return self.row.expires_at <= utcnow()

    def is_revoked(self) -> bool:
        return self.row.revoked_at is not None


_SEEN = OidcSeenJwt.__table__
# One statement per dialect, compiled once: the (issuer, jti) row, or nothing when it is there already.
CLAIM_JWT_ID = {name: dialect.insert(_SEEN).on_conflict_do_nothing(index_elements=["issuer", "jti"])
                .returning(_SEEN.c.jti) for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))}


def claim_jwt_id(session: Session, issuer: str, jti: str, expires_at: datetime) -> bool:
    """True the first time (issuer, jti) is seen; False for a replay. One statement (no savepoint)."""
    statement = CLAIM_JWT_ID[session.get_bind().dialect.name]
    return session.execute(statement, {"issuer": issuer[:100], "jti": jti[:255], "expires_at": expires_at}
                           ).first() is not None


# -- writes that wait for a short transaction ---------------------------------------------------------------------
# The token endpoint verifies the client's assertion, checks the code and signs the ID token on a read transaction;
# what it writes waits here and is applied after, in one short write transaction (SQLite has one writer: it is not
# held while keys are parsed and tokens signed). A write that finds the row changed meanwhile (the code used, the
# JWT id seen) raises WriteConflict: the call's answer is replaced by that refusal and its other writes undone.

@dataclass(frozen=True)
class Write:
    apply: Callable[[Session], None]
    kept_on_refusal: bool = False  # a replay record (a JWT id) stays even when the call is refused
    # The same write as a part of one combined statement (api.oidc.exchange), where the database has them.
    part: Callable[[Session], Part] | None = None


class WriteConflict(Exception):
    def __init__(self, error: OAuth2Error) -> None:
        super().__init__(error.description)
        self.error = error


pending_writes: contextvars.ContextVar[list[Write] | None] = contextvars.ContextVar("oidc_pending_writes",
                                                                                    default=None)


def write(apply: Callable[[Session], None], *, kept_on_refusal: bool = False,
          part: Callable[[Session], Part] | None = None) -> None:
    """Apply now on the call's session, or, in a call whose writes wait, at its short write transaction."""
    queue = pending_writes.get()
    if queue is None:
        apply(current_session.get())
    else:
        queue.append(Write(apply, kept_on_refusal, part))


def remember_jwt_id(issuer: str, jti: str, expires_at: datetime, replayed: OAuth2Error) -> bool:
    """Remember (issuer, jti) once: False now for a replay; where writes wait, True now and, if it was a replay
    after all, the call is refused with ``replayed`` at its write."""
    if pending_writes.get() is None:
        return claim_jwt_id(current_session.get(), issuer, jti, expires_at)

    def claim(session: Session) -> None:
        if not claim_jwt_id(session, issuer, jti, expires_at):
            raise WriteConflict(replayed)
    values = {"issuer": issuer[:100], "jti": jti[:255], "expires_at": expires_at}
    write(claim, kept_on_refusal=True, part=lambda _: Part("claim", values, replayed))
    return True
