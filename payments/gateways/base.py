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
        state = data["state"]
        if state not in GATEWAY_STATES:
            raise ValueError(f"unknown gateway state {state!r}")
        amount = data["amount"]
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise ValueError("amount is not an integer")
        captured = data.get("captured_at")
        return cls(reference=str(data["id"]), merchant_reference=str(data["merchant_reference"]), amount=amount,
                   state=state, next_url=data.get("next_url"), error_code=data.get("error_code"),
                   card_brand=data.get("card_brand"), card_last4=data.get("card_last4"),
                   captured_at=datetime.fromisoformat(captured) if captured else None)


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
