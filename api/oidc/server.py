"""The OpenID Provider on Authlib: the authorization code grant with PKCE (S256 only) and OpenID Connect (ES256 ID
tokens, pairwise ``sub``), ``private_key_jwt`` client authentication, revocation and introspection.

Authlib's server hooks are synchronous: each call runs in a worker thread with a synchronous SQLAlchemy session on
the same database (``current_session``), committed when the call succeeds. Codes and tokens are stored as hashes.
"""

from __future__ import annotations

import contextlib
import contextvars
import secrets
import threading
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from authlib.oauth2.rfc6749 import AuthorizationServer, OAuth2Request
from authlib.oauth2.rfc6749.errors import (
    AccessDeniedError,
    InvalidGrantError,
    InvalidRequestError,
)
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oidc.core import OpenIDCode
from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session, sessionmaker

from api.oidc.claims import ID_TOKEN_DUTY, basic_claims
from api.oidc.client_proofs import ClientAssertion, S256Challenge
from api.oidc.clients import pairwise_subject
from api.oidc.exchange import Part, PartRefused, prefetched, read_exchange, write_parts
from api.oidc.keys import ALGORITHM, ProviderKeys
from api.oidc.models import ClientStatus, OidcAuthorizationCode, OidcClient, OidcConsent, OidcToken
from api.oidc.record import PortalAgency, record_release_sync, release_values
from api.oidc.scopes import SUPPORTED_SCOPES, scope_list
from api.oidc.signing import SignRequestError, check_authorization, signed_result
from api.oidc.stored import (
    Client,
    EndUser,
    PortalRequest,
    StoredCode,
    StoredToken,
    Write,
    WriteConflict,
    current_session,
    digest,
    pending_writes,
    write,
)
from api.people.models import Person
from api.platform.db import utcnow
from api.platform.text import text_problem

CODE_TTL = timedelta(seconds=60)
ID_TOKEN_TTL = 600
MAX_STATE = 255  # デジタル認証アプリ: state and nonce are 1..255 visible characters
T = TypeVar("T")
# Compiled once (the ORM's per-call statement building cost more than the statements themselves).
_INSERT_TOKEN = OidcToken.__table__.insert()
_CODES = OidcAuthorizationCode.__table__
_USE_CODE = _CODES.update().where(_CODES.c.id == bindparam("code_id"), _CODES.c.used_at.is_(None)).values(
    used_at=bindparam("at"))
class OpenIDConnect(OpenIDCode):
    def __init__(self, provider: Provider) -> None:
        super().__init__(require_nonce=True)
        self.provider = provider

    def exists_nonce(self, nonce: str, request: OAuth2Request) -> bool:
        return False  # a nonce is the RP's; replay protection is the single-use code bound to it

    def resolve_client_private_key(self, client: Client) -> Any:
        return self.provider.keys.signing

    def get_client_algorithm(self, client: Client) -> str:
        return ALGORITHM

    def get_encode_header(self, client: Client) -> dict[str, str]:
        return {"alg": ALGORITHM, "kid": self.provider.keys.signing.kid, "typ": "JWT"}

    def get_client_claims(self, client: Client) -> dict[str, Any]:
        now = int(utcnow().timestamp())
        return {"iss": self.provider.issuer, "aud": client.get_client_id(), "iat": now, "exp": now + ID_TOKEN_TTL}

    def generate_user_info(self, user: EndUser, scope: str) -> dict[str, Any]:
        return self.provider.user_claims(user, scope)


class CodeGrant(AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["private_key_jwt"]  # noqa: RUF012 (Authlib's class attribute)

    def validate_authorization_request(self) -> str:
        redirect_uri = super().validate_authorization_request()
        data = self.request.payload.data
        state, nonce = data.get("state", ""), data.get("nonce", "")
        if not 1 <= len(state) <= MAX_STATE or not state.isprintable():
            raise InvalidRequestError("'state' is required (1 to 255 characters)", redirect_uri=redirect_uri)
        if not 1 <= len(nonce) <= MAX_STATE or not nonce.isprintable():
            raise InvalidRequestError("'nonce' is required (1 to 255 characters)", redirect_uri=redirect_uri,
                                      state=state)
        if "openid" not in scope_list(self.request.scope):
            raise InvalidRequestError("The scope must include openid", redirect_uri=redirect_uri, state=state)
        try:
            # The scope as asked (Authlib narrows request.scope to the client's registered ones).
            check_authorization(current_session.get(), self.request.client.row, scope_list(data.get("scope")),
                                data.get("sign_transaction_id"), again=getattr(self.request, "validated_before", False))
        except SignRequestError as error:
            raise InvalidRequestError(str(error), redirect_uri=redirect_uri, state=state) from None
        return redirect_uri

    def validate_token_request(self) -> None:
        super().validate_token_request()
        if self.request.client.row.require_dpop and not getattr(self.request, "dpop_jkt", None):
            raise InvalidRequestError("This client's tokens are DPoP-bound: send a DPoP proof (RFC 9449).")

    def generate_token(self, **kwargs: Any) -> dict[str, Any]:
        token = super().generate_token(**kwargs)
        if getattr(self.request, "dpop_jkt", None):
            token["token_type"] = "DPoP"  # noqa: S105 (RFC 9449 §5: bound to the proof key, cnf.jkt)
        code: StoredCode = self.request.authorization_code
        if code.row.sign_transaction_id is not None:  # scope sign: the person's signature and certificate
            result = signed_result(current_session.get(), self.request.client.row, code.row.sign_transaction_id,
                                   code.row.person_id)
            if result is None:
                raise AccessDeniedError("The signing transaction was not signed by the person.")
            token["sign_result"] = result
        return token

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        user: EndUser = request.user
        data = request.payload.data
        now = utcnow()
        current_session.get().add(OidcAuthorizationCode(
            code_hash=digest(code), client_pk=request.client.row.id, person_id=user.person_id,
            consent_id=user.consent_id, redirect_uri=data["redirect_uri"], scope=request.scope,
            nonce=data["nonce"], code_challenge=data["code_challenge"],
            code_challenge_method=data["code_challenge_method"], auth_time=user.auth_time, created_at=now,
            expires_at=now + CODE_TTL, sign_transaction_id=uuid.UUID(data["sign_transaction_id"])
            if "sign_transaction_id" in data else None))

    def query_authorization_code(self, code: str, client: Client) -> StoredCode | None:
        read = prefetched.get()
        if read is not None and read.client is client.row and read.code_hash == digest(code):
            found = (read.code, read.consent, read.person)  # read with the client (api.oidc.exchange)
        else:
            # One read brings the code, its consent and the person (authenticate_user and the claims find them).
            found = current_session.get().execute(
                select(OidcAuthorizationCode, OidcConsent, Person)
                .join(OidcConsent, OidcConsent.id == OidcAuthorizationCode.consent_id, isouter=True)
                .join(Person, Person.id == OidcAuthorizationCode.person_id, isouter=True)
                .where(OidcAuthorizationCode.code_hash == digest(code),
                       OidcAuthorizationCode.client_pk == client.row.id)).first() or (None, None, None)
        row = found[0]
        if row is None:
            return None
        if row.used_at is not None:
            # A replayed code: whoever holds it may have stolen it, so what it gave is taken back (RFC 9700).
            self.server.after_commit(lambda: self.server.revoke_from_code(row.id))
            return None
        if row.expires_at <= utcnow():
            return None
        return StoredCode(row, found[1], found[2])

    def delete_authorization_code(self, authorization_code: StoredCode) -> None:
        # Single use even under concurrency: only one exchange flips used_at (where writes wait, the loser's
        # answer is replaced by this refusal and nothing it wrote stays).
        parameters = {"code_id": authorization_code.row.id, "at": utcnow()}

        def use(session: Session) -> None:
            if session.execute(_USE_CODE, parameters).rowcount != 1:
                raise WriteConflict(InvalidGrantError("Invalid 'code' in request."))
        try:
            write(use, part=lambda _: Part("use_code", parameters, InvalidGrantError("Invalid 'code' in request.")))
        except WriteConflict as conflict:
            raise conflict.error from None

    def authenticate_user(self, authorization_code: StoredCode) -> EndUser | None:
        row = authorization_code.row
        consent = authorization_code.consent or current_session.get().get(OidcConsent, row.consent_id)
        now = utcnow()
        if consent is None or consent.withdrawn_at is not None or (consent.expires_at and consent.expires_at <= now):
            raise AccessDeniedError("The person's consent has ended.")
        # The code was found for this client (query_authorization_code): its row as read (ORM or api.oidc.exchange's).
        client = self.request.client.row
        return EndUser(row.person_id, row.consent_id, row.auth_time, client, authorization_code.person)


class Revocation(RevocationEndpoint):
    CLIENT_AUTH_METHODS = ["private_key_jwt"]  # noqa: RUF012 (Authlib's class attribute)

    def query_token(self, token_string: str, token_type_hint: str | None) -> StoredToken | None:
        return self.server.find_token(token_string)

    def revoke_token(self, token: StoredToken, request: OAuth2Request) -> None:
        current_session.get().execute(update(OidcToken).where(OidcToken.id == token.row.id,
                                                              OidcToken.revoked_at.is_(None))
                                      .values(revoked_at=utcnow()))


class Introspection(IntrospectionEndpoint):
    CLIENT_AUTH_METHODS = ["private_key_jwt"]  # noqa: RUF012 (Authlib's class attribute)

    def query_token(self, token_string: str, token_type_hint: str | None) -> StoredToken | None:
        return self.server.find_token(token_string)

    def check_permission(self, token: StoredToken, client: Client, request: OAuth2Request) -> bool:
        return token.check_client(client)  # a client (or its resource server, with its keys) sees its own tokens

    def introspect_token(self, token: StoredToken) -> dict[str, Any]:
        row = token.row
        client = current_session.get().get(OidcClient, row.client_pk)
        assert client is not None
        answer: dict[str, Any] = {
            "active": self.server.token_active(row), "client_id": token.client_id, "scope": row.scope,
            "token_type": "DPoP" if row.dpop_jkt else "Bearer", "sub": pairwise_subject(client.pairwise_salt,
                                                                                         row.person_id),
            "iss": self.server.issuer, "exp": int(row.expires_at.timestamp()),
            "iat": int(row.issued_at.timestamp())}
        if row.dpop_jkt:
            answer["cnf"] = {"jkt": row.dpop_jkt}
        return answer


class Provider(AuthorizationServer):
    def __init__(self, issuer: str, sessions: sessionmaker[Session], keys: ProviderKeys,
                 access_token_ttl: timedelta, *, read_sessions: sessionmaker[Session] | None = None) -> None:
        super().__init__(scopes_supported=sorted(SUPPORTED_SCOPES))
        self.issuer = issuer
        self.sessions = sessions
        self.read_sessions = read_sessions or sessions
        self.portal = PortalAgency()
        # SQLite has one writer: this process's short write transactions take turns here rather than in SQLite's
        # busy handler (which sleeps in steps); PostgreSQL's run at once, a call's writes in one statement.
        self._one_writer = sessions.kw["bind"].dialect.name == "sqlite"
        self._combined_writes = sessions.kw["bind"].dialect.name == "postgresql"
        self._write_turn: threading.Lock | contextlib.nullcontext[None] = (
            threading.Lock() if self._one_writer else contextlib.nullcontext())
        self.keys = keys
        self.access_token_ttl = access_token_ttl
        self._after_commit: contextvars.ContextVar[list[Callable[[], None]]] = contextvars.ContextVar("after")
        self.register_token_generator("default", self._generate_token)
        audiences = [issuer, f"{issuer}/oidc/token", f"{issuer}/oidc/revoke", f"{issuer}/oidc/introspect",
                     f"{issuer}/oidc/par", f"{issuer}/oidc/sign", f"{issuer}/oidc/sign/result"]
        self.register_client_auth_method("private_key_jwt", ClientAssertion(audiences))
        self.register_grant(CodeGrant, [S256Challenge(required=True), OpenIDConnect(self)])
        self.register_endpoint(Revocation)
        self.register_endpoint(Introspection)

    # -- the unit of work ------------------------------------------------------------------------------------
    def run(self, call: Callable[[], T], *, short_writes: bool = False) -> T:
        """Run one Authlib call in a session, committed if it returns (an OAuth error response returns too:
        only what it wrote on purpose, e.g. a remembered assertion id, is kept).

        With ``short_writes`` the call's writes wait (api.oidc.stored.write) until it has verified and signed: on
        SQLite (one writer) the call runs on a read transaction and they go in one short write transaction after;
        on PostgreSQL (row locks) they end the call's own transaction. A write that conflicts undoes them all and
        turns the answer into its refusal."""
        pending: list[Callable[[], None]] = []
        after = self._after_commit.set(pending)
        writes: list[Write] | None = [] if short_writes else None
        queued = pending_writes.set(writes)
        split = short_writes and self._one_writer
        try:
            with (self.read_sessions if split else self.sessions)() as session, session.begin():
                token = current_session.set(session)
                try:
                    result = call()
                    if writes and not split:
                        self._apply(session, writes)
                finally:
                    current_session.reset(token)
            if writes and split:
                with self._write_turn, self.sessions() as session, session.begin():
                    self._apply(session, writes)
        except WriteConflict as conflict:
            assert writes is not None
            result = self._refused(writes, conflict)  # type: ignore[assignment]
        finally:
            pending_writes.reset(queued)
            self._after_commit.reset(after)
        for action in pending:
            action()
        return result

    def _apply(self, session: Session, writes: list[Write]) -> None:
        parts = [each.part for each in writes if each.part is not None]
        if self._combined_writes and len(writes) > 1 and len(parts) == len(writes):
            try:
                write_parts(session, [part(session) for part in parts])
            except PartRefused as refused:
                raise WriteConflict(refused.error) from None
            return
        for each in writes:
            each.apply(session)

    def _refused(self, writes: list[Write], conflict: WriteConflict) -> Any:
        """The writes were undone; the replay records among them are kept (a refused request's JWT id is used)."""
        kept = [each for each in writes if each.kept_on_refusal]
        if kept:
            with self._write_turn, self.sessions() as session, session.begin():
                for each in kept:
                    with contextlib.suppress(WriteConflict):
                        each.apply(session)
        return self.handle_response(*conflict.error())

    def after_commit(self, action: Callable[[], None]) -> None:
        self._after_commit.get().append(action)

    # -- Authlib's framework hooks -------------------------------------------------------------------------------
    def query_client(self, client_id: str) -> Client | None:
        read = prefetched.get()
        if read is not None and read.client_id == client_id:
            return Client(read.client) if read.client is not None else None
        if text_problem(client_id) is not None:
            return None  # no client has an id the portal cannot store (PostgreSQL refuses a NUL: a 500, not "unknown")
        row = current_session.get().scalar(select(OidcClient).where(OidcClient.client_id == client_id,
                                                                    OidcClient.status == ClientStatus.APPROVED))
        return Client(row) if row is not None else None

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        user: EndUser = request.user
        code: StoredCode | None = request.authorization_code
        now = utcnow()
        values = {
            "id": uuid.uuid4(), "access_token_hash": digest(token["access_token"]), "client_pk": request.client.row.id,
            "person_id": user.person_id, "consent_id": user.consent_id, "code_id": code.row.id if code else None,
            "scope": token["scope"], "dpop_jkt": getattr(request, "dpop_jkt", None), "issued_at": now,
            "expires_at": now + timedelta(seconds=token["expires_in"]), "revoked_at": None}
        write(lambda session: session.execute(_INSERT_TOKEN, values), part=lambda _: Part("token", values))

    def create_exchange_response(self, request: PortalRequest, client_id: str | None) -> Any:
        """The token endpoint: the client (``client_id``: the one its assertion names) and the code are read in
        one statement first, where query_client and query_authorization_code find them."""
        code = request.form.get("code")
        if not client_id or not code or text_problem(client_id) is not None:
            return self.create_token_response(request)
        read = prefetched.set(read_exchange(current_session.get(), client_id, digest(code)))
        try:
            return self.create_token_response(request)
        finally:
            prefetched.reset(read)

    def create_oauth2_request(self, request: PortalRequest) -> PortalRequest:
        return request

    def create_json_request(self, request: Any) -> Any:
        raise NotImplementedError("no JSON endpoints")

    def handle_response(self, status: int, body: Any, headers: Any) -> tuple[int, Any, list[tuple[str, str]]]:
        return status, body, list(headers)

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        return None

    def _generate_token(self, grant_type: str, client: Client, user: EndUser | None = None, scope: str | None = None,
                        expires_in: int | None = None, include_refresh_token: bool = True) -> dict[str, Any]:
        return {"token_type": "Bearer", "access_token": secrets.token_urlsafe(32),
                "expires_in": expires_in or int(self.access_token_ttl.total_seconds()), "scope": scope or ""}

    # -- the provider's own helpers ------------------------------------------------------------------------------
    def find_token(self, token_string: str) -> StoredToken | None:
        session = current_session.get()
        row = session.scalar(select(OidcToken).where(OidcToken.access_token_hash == digest(token_string)))
        if row is None:
            return None
        client = session.get(OidcClient, row.client_pk)
        return StoredToken(row, client.client_id if client else "")

    def token_active(self, row: OidcToken) -> bool:
        session = current_session.get()
        now = utcnow()
        consent = session.get(OidcConsent, row.consent_id)
        client = session.get(OidcClient, row.client_pk)
        return (row.revoked_at is None and row.expires_at > now and consent is not None
                and consent.withdrawn_at is None and (consent.expires_at is None or consent.expires_at > now)
                and client is not None and client.status is ClientStatus.APPROVED)

    def revoke_from_code(self, code_id: uuid.UUID) -> None:
        with self.sessions() as session, session.begin():
            session.execute(update(OidcToken).where(OidcToken.code_id == code_id, OidcToken.revoked_at.is_(None))
                            .values(revoked_at=utcnow()))

    def user_claims(self, user: EndUser, scope: str) -> dict[str, Any]:
        """The ID token's claims about the person; releasing them goes on the person's record."""
        session = current_session.get()
        claims: dict[str, Any] = {"sub": pairwise_subject(user.client.pairwise_salt, user.person_id)}
        person = user.person or session.get(Person, user.person_id)
        if person is not None:
            released = basic_claims(person, scope_list(scope))
            claims.update(released)
            write(lambda s: record_release_sync(s, self.portal.sync(s), user.client, user.person_id, sorted(released),
                                                duty=ID_TOKEN_DUTY),
                  part=lambda s: Part("release", release_values(self.portal.sync(s), user.client, user.person_id,
                                                                sorted(released), duty=ID_TOKEN_DUTY)))
        return claims
