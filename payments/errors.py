"""Refusals with stable codes: the GraphQL layer maps them to ``extensions.code``, REST to problem JSON."""

from __future__ import annotations

# code -> HTTP status for the REST API (GraphQL uses the code alone).
STATUS = {
    "BAD_USER_INPUT": 400,
    "AMOUNT_INVALID": 400,
    "IDEMPOTENCY_KEY_INVALID": 400,
    "IDEMPOTENCY_KEY_REUSED": 409,
    "NOT_FOUND": 404,
    "ORDER_REFERENCE_TAKEN": 409,
    "ORDER_NOT_PAYABLE": 409,
    "ORDER_NOT_CANCELLABLE": 409,
    "PAYMENT_IN_PROGRESS": 409,
    "PAYMENT_NOT_CANCELLABLE": 409,
    "REFUND_NOT_AVAILABLE": 409,
    "REFUND_EXCEEDS_AVAILABLE": 409,
    "REFUND_AMOUNT_AVAILABLE_MISMATCH": 409,
    "GATEWAY_UNAVAILABLE": 503,
}


class PaymentRefused(Exception):
    """An expected refusal; the message is safe to show (it never carries personal data)."""

    def __init__(self, code: str, message: str) -> None:
        assert code in STATUS, code
        super().__init__(message)
        self.code = code

    @property
    def status(self) -> int:
        return STATUS[self.code]
