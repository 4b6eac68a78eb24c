"""The sandbox gateway's own tables: its sessions, refunds and the notifications it owes merchants.

A real gateway keeps this in its own database; the sandbox keeps it in a database too (by default the portal's,
under these ``sandbox_gateway_`` names), so that several gateway processes share it and a restart loses nothing.
The rules that keep money from being captured twice or refunded beyond the captured amount are here, in the
database: the state moves by conditional UPDATE, ``refunded_amount`` can never exceed ``amount`` (CHECK),
and references are unique.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from api.platform.db import Base, UTCDateTime

SESSION_STATES = ("created", "submitted", "success", "declined", "timedout", "cancelled", "error")


class SandboxSessionRow(Base):
    __tablename__ = "sandbox_gateway_sessions"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("refunded_amount >= 0 AND refunded_amount <= amount", name="refunds_within_amount"),
        CheckConstraint("state IN (" + ", ".join(f"'{s}'" for s in SESSION_STATES) + ")", name="state_known"),
        CheckConstraint("method IN ('card', 'net_banking')", name="method_known"),
        Index("ix_sandbox_gateway_sessions_captured", "merchant", "captured_at"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    merchant: Mapped[str] = mapped_column(String(64))
    merchant_reference: Mapped[str] = mapped_column(String(64), unique=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    method: Mapped[str] = mapped_column(String(20))
    description: Mapped[str] = mapped_column(String(200))
    return_url: Mapped[str] = mapped_column(String(500))
    notification_url: Mapped[str] = mapped_column(String(500))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    state: Mapped[str] = mapped_column(String(20))
    error_code: Mapped[str | None] = mapped_column(String(10))
    card_brand: Mapped[str | None] = mapped_column(String(20))
    card_last4: Mapped[str | None] = mapped_column(String(4))
    captured_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    refunded_amount: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SandboxRefundRow(Base):
    __tablename__ = "sandbox_gateway_refunds"
    __table_args__ = (CheckConstraint("amount > 0", name="amount_positive"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    session_id: Mapped[str] = mapped_column(String(64), ForeignKey("sandbox_gateway_sessions.id"), index=True)
    refund_reference: Mapped[str] = mapped_column(String(64), unique=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SandboxNotificationRow(Base):
    """A notification owed to a merchant: written with the change it reports, deleted once delivered."""

    __tablename__ = "sandbox_gateway_notifications"
    __table_args__ = (Index("ix_sandbox_gateway_notifications_due", "next_attempt_at"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # the webhook-id, stable across retries
    url: Mapped[str] = mapped_column(String(500))
    body: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
