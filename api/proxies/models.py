"""Proxy grants: principal, proxy, scopes, valid until, revoked at.

A grant made by e-mail is an invitation until the person with that address accepts it: it names the address
(``proxy_email``) and no proxy yet, whether or not the address is registered, so the granter learns nothing
about who is registered."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from api.platform.db import Base, UTCDateTime, new_id, utcnow


class ProxyGrant(Base):
    __tablename__ = "proxy_grants"
    __table_args__ = (
        CheckConstraint("principal_person_id <> proxy_person_id", name="not_self"),
        CheckConstraint("proxy_person_id IS NOT NULL OR proxy_email IS NOT NULL", name="has_proxy"),
        Index("ix_proxy_grants_proxy_principal", "proxy_person_id", "principal_person_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    principal_person_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("persons.id", ondelete="CASCADE"),
                                                           index=True)
    # Set when the proxy accepted (or for a grant made to a known person): only then does the grant act.
    proxy_person_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("persons.id", ondelete="CASCADE"))
    # The address the principal invited, lower-cased (None for a grant made to a known person).
    proxy_email: Mapped[str | None] = mapped_column(String(254), index=True)
    # Space-separated scope names (api.platform.scopes.DELEGABLE_SCOPES).
    scopes: Mapped[str] = mapped_column(String(500))
    valid_until: Mapped[date] = mapped_column(Date)  # inclusive
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def scope_set(self) -> frozenset[str]:
        return frozenset(self.scopes.split())
