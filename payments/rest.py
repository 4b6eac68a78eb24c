"""HTTP routes: the gateway's notification endpoint, the browser's return page, and the agencies' REST API.

Agencies authenticate with their API key (``Authorization: Bearer mpa_…``); every state-changing
request needs an ``Idempotency-Key`` header (201 first time, 200 with the original resource on a
replay, 409 ``IDEMPOTENCY_KEY_REUSED`` for another body). Errors are RFC 9457 problem JSON with a
stable ``code`` (api.platform.errors). Handlers validate, call one payments unit of work and shape the answer.
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from api.agencies.credentials import (
    PAYMENTS_ORDERS,
    PAYMENTS_REFUND,
    PAYMENTS_REPORTS,
    AgencyPrincipal,
)
from api.agencies.requests import agency_of_request
from api.platform.db import utcnow
from api.platform.errors import ErrorCode, PortalError, answering_problems
from api.platform.pagination import PageRequest
from api.platform.replay import DatabaseReplayGuard
from api.platform.settings import Settings
from api.platform.text import check_date, check_params, json_object
from api.platform.webhooks import WebhookVerificationError, verify_webhook
from payments import actions, orders, reads, reconciliation, service
from payments.gateways.base import GatewaySession
from payments.models import PaymentState
from payments.views import order_json, refund_json

logger = logging.getLogger("payments.rest")


def payment_routes(settings: Settings, session_factory: async_sessionmaker[AsyncSession]) -> list[BaseRoute]:
    replay_guard = DatabaseReplayGuard(session_factory, "payment-gateway")
    certificates_required = settings.agency_client_certificates == "required"

    async def agency(request: Request, scope: str) -> AgencyPrincipal:
        return await agency_of_request(request, session_factory, scope,
                                       certificates_required=certificates_required)

    def idempotency_key(request: Request) -> str:
        key = request.headers.get("idempotency-key")
        if not key:
            raise PortalError(ErrorCode.IDEMPOTENCY_KEY_INVALID, "This request needs an Idempotency-Key header.",
                              extensions={"header": "Idempotency-Key"})
        return key

    async def json_body(request: Request) -> dict[str, Any]:
        return json_object(await request.body())  # every text and integer of it checked (api.platform.text)

    def path_id(request: Request, name: str) -> uuid.UUID:
        try:
            return uuid.UUID(request.path_params[name])
        except ValueError as error:
            raise PortalError(ErrorCode.NOT_FOUND, "Nothing has this id.") from error

    def day_param(raw: str | None, name: str) -> date | None:
        if raw is None:
            return None
        try:
            day = date.fromisoformat(raw)
        except ValueError as error:
            raise PortalError(ErrorCode.BAD_USER_INPUT, f"{name} must be a date (YYYY-MM-DD).",
                              extensions={"field": name}) from error
        return check_date(day, name)

    async def notification(request: Request) -> Response:
        body = await request.body()
        now = utcnow()
        try:
            # The state machine applies a notification once however often it comes; the guard (shared by every
            # worker, kept across restarts) spares a replay that work and answers it at once.
            message_id = verify_webhook(settings.payment_gateway_secret, request.headers, body, replay_guard=None,
                                        now=now.timestamp())
        except WebhookVerificationError as error:
            logger.warning("gateway notification with a bad signature refused")
            raise PortalError(ErrorCode.SIGNATURE_INVALID,
                              "The notification's signature does not verify.") from error
        try:
            remote = GatewaySession.from_json(json.loads(body)["data"])
        except (ValueError, KeyError, TypeError, RecursionError) as error:  # RecursionError: nested too deep
            raise PortalError(ErrorCode.BAD_USER_INPUT, "The notification is not a gateway session.") from error
        # The guard's claim commits with the change it guards (one transaction): a message received before is
        # answered at once (Standard Webhooks retries reuse ids), and one that fails to apply leaves no claim.
        await actions.apply_notification(session_factory, remote, claim=lambda session: replay_guard.claim_in(
            session, message_id, now))
        return Response(status_code=204)

    async def browser_return(request: Request) -> Response:
        payment_id = path_id(request, "payment_id")
        await actions.settle_on_return(settings, session_factory, payment_id)
        back = service.WEB_RETURN_URL if request.query_params.get("to") == "web" else service.APP_RETURN_URL
        return RedirectResponse(back.format(payment_id=payment_id), status_code=303)

    async def create_order(request: Request) -> Response:
        principal = await agency(request, PAYMENTS_ORDERS)
        key = idempotency_key(request)
        body = await json_body(request)
        try:
            new = orders.NewOrder(
                person_code=str(body["person_code"]), amount=body["amount"], purpose=str(body["purpose"]),
                due_date=check_date(date.fromisoformat(body["due_date"]), "due_date"),
                agency_reference=str(body["reference"]),
                payable_until=check_date(date.fromisoformat(body["payable_until"]), "payable_until")
                if body.get("payable_until") else None,
                notice_id=uuid.UUID(body["notice_id"]) if body.get("notice_id") else None)
        except KeyError as error:
            raise PortalError(ErrorCode.BAD_USER_INPUT, f"{error.args[0]} is required.",
                              extensions={"field": error.args[0]}) from error
        except (ValueError, TypeError, AttributeError) as error:  # AttributeError: uuid.UUID of a non-string
            raise PortalError(ErrorCode.BAD_USER_INPUT, "A date or id is malformed.") from error
        order, created = await actions.create_order(session_factory, principal.agency_id, new, idempotency_key=key)
        return JSONResponse(order_json(order, person_code=new.person_code), status_code=201 if created else 200)

    async def get_order(request: Request) -> Response:
        principal = await agency(request, PAYMENTS_ORDERS)
        order, code = await reads.agency_order(session_factory, principal.agency_id, path_id(request, "order_id"))
        return JSONResponse(order_json(order, person_code=code))

    async def cancel_order(request: Request) -> Response:
        principal = await agency(request, PAYMENTS_ORDERS)
        key = idempotency_key(request)
        order, code = await actions.cancel_order(session_factory, principal.agency_id, path_id(request, "order_id"),
                                                 idempotency_key=key)
        return JSONResponse(order_json(order, person_code=code))

    async def list_payments(request: Request) -> Response:
        principal = await agency(request, PAYMENTS_REPORTS)
        params = request.query_params
        check_params(params)
        raw_first = params.get("first")
        try:
            first = int(raw_first) if raw_first is not None else None
            state = PaymentState(params["state"]) if "state" in params else None
        except ValueError as error:
            raise PortalError(ErrorCode.BAD_USER_INPUT,
                              "first must be an integer and state a payment state.") from error
        return JSONResponse(await reads.agency_payments_view(
            session_factory, principal.agency_id, PageRequest.parse(first, params.get("after")), state=state,
            from_day=day_param(params.get("from_date"), "from_date"),
            to_day=day_param(params.get("to_date"), "to_date"), reference=params.get("reference")))

    async def get_payment(request: Request) -> Response:
        principal = await agency(request, PAYMENTS_REPORTS)
        return JSONResponse(await reads.agency_payment_view(session_factory, principal.agency_id,
                                                            path_id(request, "payment_id")))

    async def refund(request: Request) -> Response:
        principal = await agency(request, PAYMENTS_REFUND)
        key = idempotency_key(request)
        body = await json_body(request)
        if "amount" not in body:
            raise PortalError(ErrorCode.BAD_USER_INPUT, "amount is required.", extensions={"field": "amount"})
        result, created = await actions.refund_payment(
            settings, session_factory, agency_id=principal.agency_id, payment_id=path_id(request, "payment_id"),
            amount=body["amount"], refund_amount_available=body.get("refund_amount_available"), idempotency_key=key)
        return JSONResponse(refund_json(result), status_code=201 if created else 200)

    async def reconcile(request: Request) -> Response:
        principal = await agency(request, PAYMENTS_REPORTS)
        day = day_param(request.path_params["day"], "day")
        assert day is not None
        report = await reads.agency_reconciliation(settings, session_factory, principal.agency_id, day)
        return JSONResponse(report_json(report))

    async def callback_endpoint(request: Request) -> Response:
        principal = await agency(request, PAYMENTS_REPORTS)
        body = await json_body(request)
        secret = await actions.set_callback_endpoint(settings, session_factory, principal.agency_id,
                                                     str(body.get("url", "")))
        return JSONResponse({"url": body["url"], "secret": secret})

    return [Mount("/payments", routes=[
        Route("/gateway/notifications", answering_problems(notification), methods=["POST"]),
        Route("/return/{payment_id}", answering_problems(browser_return), methods=["GET"]),
        Route("/v1/orders", answering_problems(create_order), methods=["POST"]),
        Route("/v1/orders/{order_id}", answering_problems(get_order), methods=["GET"]),
        Route("/v1/orders/{order_id}/cancel", answering_problems(cancel_order), methods=["POST"]),
        Route("/v1/payments", answering_problems(list_payments), methods=["GET"]),
        Route("/v1/payments/{payment_id}", answering_problems(get_payment), methods=["GET"]),
        Route("/v1/payments/{payment_id}/refunds", answering_problems(refund), methods=["POST"]),
        Route("/v1/reconciliation/{day}", answering_problems(reconcile), methods=["GET"]),
        Route("/v1/callback-endpoint", answering_problems(callback_endpoint), methods=["PUT"]),
    ])]


def report_json(report: reconciliation.Report) -> dict[str, Any]:
    return {
        "agency_id": str(report.agency_id), "date": report.day.isoformat(), "balanced": report.balanced,
        "ledger": {"count": report.ledger_count, "total": report.ledger_total},
        "settlement": {"count": report.settlement_count, "total": report.settlement_total, "fees": report.fees},
        "differences": [{"kind": d.kind, "reference": d.reference, "ledger_amount": d.ledger_amount,
                         "settlement_amount": d.settlement_amount} for d in report.differences],
    }
