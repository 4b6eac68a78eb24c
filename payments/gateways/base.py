"""The one interface every card/net-banking gateway implements, and the shapes it returns."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

# The gateway's session states (our payment states map onto them one to one).
GATEWAY_STATES = ("created", "submitted", "success", "declined", "timedout", "cancelled", "error")


class GatewayUnavailable(Exception):
    """The gateway could not be reached or answered 5xx: try again later (nothing is known)."""


class GatewayRejected(Exception):
    """The gateway definitely refused the request (4xx): retrying will not help."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class GatewaySession:
    reference: str
    merchant_reference: str
    amount: int
    state: str
    next_url: str | None = None
    error_code: str | None = None
    card_brand: str | None = None
    card_last4: str | None = None
    captured_at: datetime | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GatewaySession:
        """The gateway's session; ValueError (or KeyError, TypeError) for anything our tables cannot hold."""
        state = data["state"]
        if state not in GATEWAY_STATES:
            raise ValueError(f"unknown gateway state {state!r}")
        amount = data["amount"]
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise ValueError("amount is not an integer")
        captured = _text(data, "captured_at", 64)
        captured_at = datetime.fromisoformat(captured) if captured else None
        if captured_at is not None and captured_at.tzinfo is None:
            raise ValueError("captured_at has no time zone")
        return cls(reference=_required(data, "id", 64), merchant_reference=_required(data, "merchant_reference", 64),
                   amount=amount, state=state, next_url=_text(data, "next_url", 500),
                   error_code=_text(data, "error_code", 64), card_brand=_text(data, "card_brand", 20),
                   card_last4=_text(data, "card_last4", 4), captured_at=captured_at)


def _text(data: dict[str, Any], name: str, max_length: int) -> str | None:
    """A text field that fits its column: no NUL (PostgreSQL refuses it), no lone surrogate, not too long."""
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > max_length or "\x00" in value:
        raise ValueError(f"{name} is not text of at most {max_length} characters")
    value.encode("utf-8")  # UnicodeEncodeError (a ValueError) on a lone surrogate
    return value


def _required(data: dict[str, Any], name: str, max_length: int) -> str:
    value = _text(data, name, max_length)
    if not value:
        raise ValueError(f"{name} is required")
    return value


@dataclass(frozen=True)
class GatewayRefund:
    reference: str
    state: str  # success or error


class Gateway(Protocol):
    name: str

    async def create_session(self, *, merchant: str, merchant_reference: str, amount: int, method: str,
                             description: str, return_url: str, notification_url: str,
                             expires_in: int) -> GatewaySession: ...

    async def get_session(self, reference: str) -> GatewaySession: ...

    async def find_session(self, merchant_reference: str) -> GatewaySession | None: ...

    async def cancel_session(self, reference: str, *, reason: str = "service") -> GatewaySession:
        """Cancel an unfinished session (reason "expired" makes it a timeout); a finished one answers as is."""
        ...

    async def refund(self, reference: str, *, amount: int, refund_reference: str) -> GatewayRefund: ...

    async def settlement_file(self, day: date, merchant: str) -> str: ...
