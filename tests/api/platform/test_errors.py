"""The one error type: a stable code, its HTTP status from one table, and the RFC 9457 problem every REST module
answers with."""

from __future__ import annotations

import json

import pytest
from sqlalchemy.exc import DataError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.requests import Request
from starlette.responses import Response

from api.platform.errors import ErrorCode, PortalError, answering_problems, problem_response


@pytest.mark.parametrize(("code", "status"), [
    ("BAD_USER_INPUT", 400), ("AMOUNT_INVALID", 400), ("IDEMPOTENCY_KEY_INVALID", 400),
    ("UNAUTHENTICATED", 401), ("SIGNATURE_INVALID", 401), ("FORBIDDEN", 403), ("NOT_FOUND", 404),
    ("IDEMPOTENCY_KEY_REUSED", 409), ("ORDER_REFERENCE_TAKEN", 409), ("ORDER_NOT_PAYABLE", 409),
    ("ORDER_NOT_CANCELLABLE", 409), ("PAYMENT_IN_PROGRESS", 409), ("PAYMENT_NOT_CANCELLABLE", 409),
    ("REFUND_NOT_AVAILABLE", 409), ("REFUND_EXCEEDS_AVAILABLE", 409), ("REFUND_AMOUNT_AVAILABLE_MISMATCH", 409),
    ("RATE_LIMITED", 429), ("GATEWAY_UNAVAILABLE", 503),
])
def test_the_status_follows_the_code(code: str, status: int) -> None:
    assert PortalError(code, "m").status == status


def test_the_code_is_one_of_the_stable_codes() -> None:
    error = PortalError("PROXY_SELF", "A person cannot be their own proxy.")
    assert (error.code, error.code == "PROXY_SELF", error.message, str(error), error.extensions) == (
        ErrorCode.PROXY_SELF, True, "A person cannot be their own proxy.", "A person cannot be their own proxy.", {})
    with pytest.raises(ValueError, match="NOT_A_CODE"):
        PortalError("NOT_A_CODE", "m")


def test_a_problem_carries_the_code_the_message_and_the_extensions() -> None:
    response = problem_response(PortalError(ErrorCode.IDEMPOTENCY_KEY_INVALID, "This request needs an "
                                            "Idempotency-Key header.", extensions={"header": "Idempotency-Key"}))
    assert (response.status_code, response.media_type) == (400, "application/problem+json")
    assert json.loads(response.body) == {
        "type": "https://mynaportal.example/problems/idempotency-key-invalid", "title": "Idempotency key invalid",
        "status": 400, "detail": "This request needs an Idempotency-Key header.", "code": "IDEMPOTENCY_KEY_INVALID",
        "header": "Idempotency-Key"}


async def test_a_wrapped_handler_answers_a_refusal_as_a_problem() -> None:
    async def handler(request: Request) -> Response:
        raise PortalError(ErrorCode.NOT_FOUND, "No such CRL.")

    response = await answering_problems(handler)(Request({"type": "http", "method": "GET", "headers": []}))
    assert response.status_code == 404
    assert json.loads(response.body)["detail"] == "No such CRL."


async def test_a_value_the_database_refuses_is_answered_as_bad_input() -> None:


    async def handler(request: Request) -> Response:
        raise DataError("INSERT ...", {}, Exception("integer out of range"))

    response = await answering_problems(handler)(Request({"type": "http", "method": "POST", "headers": [],
                                                          "path": "/payments/v1/orders"}))
    assert response.status_code == 400
    assert json.loads(response.body)["code"] == "BAD_USER_INPUT"


async def test_a_pool_timeout_is_a_503_with_retry_after_not_a_500() -> None:
    async def handler(request: Request) -> Response:
        raise PoolTimeout("QueuePool limit of size 1 overflow 0 reached, connection timed out, timeout 0.20")

    response = await answering_problems(handler)(Request({"type": "http", "method": "GET", "headers": [],
                                                          "path": "/x", "query_string": b""}))
    assert (response.status_code, response.headers["retry-after"], json.loads(response.body)) == (503, "1", {
        "type": "https://mynaportal.example/problems/service-unavailable", "title": "Service unavailable",
        "status": 503, "detail": "The portal is busy; retry after the time in Retry-After.",
        "code": "SERVICE_UNAVAILABLE", "retryAfter": 1})


def test_only_a_refusal_to_retry_later_carries_retry_after() -> None:
    limited = problem_response(PortalError(ErrorCode.RATE_LIMITED, "Too many.", extensions={"retryAfter": 30}))
    refused = problem_response(PortalError(ErrorCode.FORBIDDEN, "No."))
    assert (limited.status_code, limited.headers["retry-after"], "retry-after" in refused.headers) == (429, "30", False)
