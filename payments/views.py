"""The payment resource as JSON (REST answers, callbacks): GOV.UK Pay's shape, with ``finished`` and codes."""

from __future__ import annotations

from typing import Any

from payments.models import Payment, PaymentOrder, PaymentState, Refund

FINISHED = frozenset({PaymentState.SUCCESS, PaymentState.DECLINED, PaymentState.TIMEDOUT, PaymentState.CANCELLED,
                      PaymentState.ERROR})
FAILURE_MESSAGES = {
    "P0010": "Payment method rejected",
    "P0020": "Payment expired",
    "P0030": "Payment was cancelled by the user",
    "P0040": "Payment was cancelled by the service",
    "P0050": "Payment provider returned an error",
}


def payment_json(payment: Payment, *, person_code: str | None = None,
                 agency_reference: str | None = None) -> dict[str, Any]:
    return {
        "payment_id": str(payment.id),
        "order_id": str(payment.order_id),
        "reference": agency_reference,
        "person_code": person_code,
        "amount": payment.amount,
        "method": payment.method.value,
        "state": {"status": payment.state.value, "finished": payment.state in FINISHED,
                  **({"code": payment.failure_code, "message": payment.failure_message}
                     if payment.failure_code else {})},
        "applied_to_order": payment.paid_order_id is not None,
        "refund_summary": {"amount_available": payment.amount - payment.refunded_amount
                           if payment.state == PaymentState.SUCCESS else 0,
                           "amount_refunded": payment.refunded_amount},
        "gateway_reference": payment.gateway_reference,
        "created_date": payment.created_at.isoformat(),
        "captured_date": payment.captured_at.isoformat() if payment.captured_at else None,
    }


def order_json(order: PaymentOrder, *, person_code: str | None = None) -> dict[str, Any]:
    return {
        "order_id": str(order.id), "reference": order.agency_reference, "person_code": person_code,
        "amount": order.amount, "purpose": order.purpose, "due_date": order.due_date.isoformat(),
        "payable_until": order.payable_until.isoformat(), "state": order.state.value,
        "payeasy": {"payee_number": order.payee_number, "payment_number": order.payment_number,
                    "confirmation_number": order.confirmation_number},
        "notice_id": str(order.notice_id) if order.notice_id else None,
        "paid_payment_id": str(order.paid_payment_id) if order.paid_payment_id else None,
        "created_date": order.created_at.isoformat(),
    }


def refund_json(refund: Refund) -> dict[str, Any]:
    return {"refund_id": str(refund.id), "payment_id": str(refund.payment_id), "amount": refund.amount,
            "status": refund.state.value, "created_date": refund.created_at.isoformat()}
