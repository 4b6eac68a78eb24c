"""Session tokens: opaque bearer tokens, stored only as SHA-256 hashes, with expiry and scopes."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from api.identity import pki_models  # noqa: F401 - the table certificate_id points at
from api.platform.db import Base, UTCDateTime, new_id, utcnow


class SessionToken(Base):
    __tablename__ = "session_tokens"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    person_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    scopes: Mapped[str] = mapped_column(String(500))
    client: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)  # purge finds expired tokens by it
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set when the token was issued with a refresh token: reusing a spent refresh token revokes the family.
    family_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    # The certificate the session came from (card, phone, or the approving session's for a TV): revoking it
    # revokes the session. NULL only for sessions made without one (the dev `mynaportal token` command).
    certificate_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("issued_certificates.id", ondelete="CASCADE"), index=True)
    # A session on a shared terminal (a municipal counter, a public kiosk): it ends after this many idle seconds
    # (each use extends it), has no refresh token, and a new login on the same terminal ends it.
    idle_timeout_seconds: Mapped[int | None] = mapped_column(Integer)
    terminal_id: Mapped[str | None] = mapped_column(String(100), index=True)
