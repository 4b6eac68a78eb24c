"""Tables of the OpenID Provider: registered clients, consents, login requests, codes, tokens, used JWT ids.

Codes and tokens are stored only as SHA-256 hashes. A person is never stored under a client's ``sub``: the
pairwise ``sub`` is computed from the client's own salt (api.oidc.clients), so two clients' tables cannot be joined.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import JSON, Boolean, Enum, ForeignKey, Index, Integer, LargeBinary, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from api.platform.db import Base, UTCDateTime, new_id, utcnow


class ClientStatus(enum.StrEnum):
    PENDING = "pending"  # registered by the operator, not yet reviewed
    APPROVED = "approved"
    SUSPENDED = "suspended"


class LoginStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    COMPLETED = "completed"  # the code was handed to the browser


def _enum(kind: type[enum.StrEnum], length: int) -> Enum:
    return Enum(kind, native_enum=False, create_constraint=True, length=length,
                values_callable=lambda e: [m.value for m in e])


class OidcClient(Base):
    """A relying party: one registered purpose, exact redirect URIs, its public keys (private_key_jwt)."""

    __tablename__ = "oidc_clients"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    purpose: Mapped[str] = mapped_column(String(500))
    # The client's name on the person's record (やりとり履歴): the requester of what it reads.
    agency_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("agencies.id", ondelete="CASCADE"))
    redirect_uris: Mapped[list] = mapped_column(JSON)
    scopes: Mapped[str] = mapped_column(String(1000))
    jwks: Mapped[dict] = mapped_column(JSON)
    status: Mapped[ClientStatus] = mapped_column(_enum(ClientStatus, 16), default=ClientStatus.PENDING)
    require_par: Mapped[bool] = mapped_column(Boolean, default=False)
    require_dpop: Mapped[bool] = mapped_column(Boolean, default=False)
    rate_limit_per_minute: Mapped[int] = mapped_column(Integer, default=600)
    consent_ttl_seconds: Mapped[int | None] = mapped_column(Integer)
    pairwise_salt: Mapped[bytes] = mapped_column(LargeBinary(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OidcConsent(Base):
    """The person's consent to one client, for its purpose, to these scopes; withdrawn rows stay as history."""

    __tablename__ = "oidc_consents"
    __table_args__ = (Index("ix_oidc_consents_person_client", "person_id", "client_pk"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    person_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("persons.id", ondelete="CASCADE"))
    client_pk: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("oidc_clients.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(500))
    scopes: Mapped[str] = mapped_column(String(1000))
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OidcLoginRequest(Base):
    """An authorization request waiting for the person's approval in the app (QR code / short code)."""

    __tablename__ = "oidc_login_requests"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    client_pk: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("oidc_clients.id", ondelete="CASCADE"),
                                                 index=True)
    short_code: Mapped[str] = mapped_column(String(16), unique=True)
    # SHA-256 of the browser's secret (its cookie): only that browser continues the request.
    browser_secret_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    parameters: Mapped[dict] = mapped_column(JSON)
    scopes: Mapped[str] = mapped_column(String(1000))
    force_consent: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[LoginStatus] = mapped_column(_enum(LoginStatus, 16), default=LoginStatus.PENDING)
    person_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("persons.id", ondelete="CASCADE"))
    consent_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("oidc_consents.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OidcAuthorizationCode(Base):
    __tablename__ = "oidc_authorization_codes"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    code_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    client_pk: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("oidc_clients.id", ondelete="CASCADE"),
                                                 index=True)
    person_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    consent_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("oidc_consents.id", ondelete="CASCADE"),
                                                  index=True)
    redirect_uri: Mapped[str] = mapped_column(String(500))
    scope: Mapped[str] = mapped_column(String(1000))
    nonce: Mapped[str] = mapped_column(String(255))
    code_challenge: Mapped[str] = mapped_column(String(128))
    code_challenge_method: Mapped[str] = mapped_column(String(8))
    auth_time: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Set when exchanged; a second exchange revokes every token issued from it (RFC 9700 §4.5.3.1).
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # scope sign (デジタル認証アプリ's sign_transaction_id): the token response carries this transaction's signature.
    sign_transaction_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("oidc_sign_transactions.id", ondelete="CASCADE"))


class OidcToken(Base):
    __tablename__ = "oidc_tokens"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    access_token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    client_pk: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("oidc_clients.id", ondelete="CASCADE"),
                                                 index=True)
    person_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    consent_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("oidc_consents.id", ondelete="CASCADE"),
                                                  index=True)
    code_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("oidc_authorization_codes.id", ondelete="CASCADE"), index=True)
    scope: Mapped[str] = mapped_column(String(1000))
    # RFC 9449: the thumbprint of the DPoP key the token is bound to (cnf.jkt); NULL for a bearer token.
    dpop_jkt: Mapped[str | None] = mapped_column(String(64))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OidcSeenJwt(Base):
    """JWT ids already accepted (client assertions, DPoP proofs) until they expire: a replay is refused."""

    __tablename__ = "oidc_seen_jwts"

    issuer: Mapped[str] = mapped_column(String(100), primary_key=True)
    jti: Mapped[str] = mapped_column(String(255), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class OidcPushedRequest(Base):
    """A pushed authorization request (RFC 9126): the parameters a client sent to the PAR endpoint, named by a
    one-time ``request_uri`` (stored as its SHA-256), for the client that pushed it only, for a minute."""

    __tablename__ = "oidc_pushed_requests"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    request_uri_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    client_pk: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("oidc_clients.id", ondelete="CASCADE"),
                                                 index=True)
    parameters: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Set when the authorization endpoint takes it: a request_uri is used once (RFC 9126 §4).
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SignStatus(enum.StrEnum):
    PENDING = "pending"
    SIGNED = "signed"


class OidcSignTransaction(Base):
    """A signing transaction (the ``sign`` scope, as デジタル認証アプリ's): a client registers the SHA-256 digest of
    its document; the person signs it once in the app with the card's or phone's signature credential; the client
    then takes the signature and the signer's certificate. The document itself never reaches the portal."""

    __tablename__ = "oidc_sign_transactions"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    client_pk: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("oidc_clients.id", ondelete="CASCADE"),
                                                 index=True)
    short_code: Mapped[str] = mapped_column(String(16), unique=True)
    digest: Mapped[bytes] = mapped_column(LargeBinary(32))
    title: Mapped[str] = mapped_column(String(200))
    status: Mapped[SignStatus] = mapped_column(_enum(SignStatus, 16), default=SignStatus.PENDING)
    person_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("persons.id", ondelete="CASCADE"),
                                                        index=True)
    signature: Mapped[bytes | None] = mapped_column(LargeBinary(1024))
    certificate: Mapped[bytes | None] = mapped_column(LargeBinary(8192))
    certificate_chain: Mapped[list | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
