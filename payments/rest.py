"""HTTP routes: the gateway's notification endpoint, the browser's return page, and the agencies' REST API.

Agencies authenticate with their API key (``Authorization: Bearer mpa_…``); every state-changing
request needs an ``Idempotency-Key`` header (201 first time, 200 with the original resource on a
replay, 409 ``IDEMPOTENCY_KEY_REUSED`` for another body). Errors are RFC 9457 problem JSON with a
stable ``code``.
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
    resolve_agency_key,
)
from api.db import utcnow
from api.identity.tokens import TokenRejected
from api.pagination import InvalidPageRequest, PageRequest
from api.settings import Settings
from api.webhooks import WebhookVerificationError, verify_webhook
from payments import callbacks, orders, queries, reconciliation, refunds, service
from payments.config import gateway_for
from payments.errors import PaymentRefused
from payments.gateways.base import GatewaySession, GatewayUnavailable
from payments.ledger import business_day
from payments.models import Payment, PaymentState
from payments.units import in_transaction
from payments.views import order_json, payment_json, refund_json

logger = logging.getLogger("payments.rest")
PROBLEM = "application/problem+json"


def problem(status: int, code: str, detail: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"type": f"https://mynaportal.example/problems/{code.lower().replace('_', '-')}",
                         "title": code.replace("_", " ").capitalize(), "status": status, "detail": detail,
                         "code": code, **extra}, status_code=status, media_type=PROBLEM)


class Problem(Exception):
    def __init__(self, status: int, code: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.response = problem(status, code, detail, **extra)


def payment_routes(settings: Settings, session_factory: async_sessionmaker[AsyncSession]) -> list[BaseRoute]:
    async def agency(request: Request, scope: str) -> AgencyPrincipal:
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise Problem(401, "UNAUTHENTICATED", "Send the agency's API key as a bearer token.")
        async with session_factory() as session:
            try:
                principal = await resolve_agency_key(session, key.strip())
            except TokenRejected as error:
                raise Problem(401, "UNAUTHENTICATED", "The API key is not valid.") from error
        if scope not in principal.scopes:
            raise Problem(403, "FORBIDDEN", f"This API key lacks the scope {scope}.")
        return principal

    def idempotency_key(request: Request) -> str:
        key = request.headers.get("idempotency-key")
        if not key:
            raise Problem(400, "IDEMPOTENCY_KEY_INVALID", "This request needs an Idempotency-Key header.",
                          header="Idempotency-Key")
        return key

    async def json_body(request: Request) -> dict[str, Any]:
        try:
            body = json.loads(await request.body())
        except ValueError as error:
            raise Problem(400, "BAD_USER_INPUT", "The body is not JSON.") from error
        if not isinstance(body, dict):
            raise Problem(400, "BAD_USER_INPUT", "The body must be a JSON object.")
        return body

    def endpoint(handler: Any) -> Any:
        async def run(request: Request) -> Response:
            try:
                return await handler(request)
            except Problem as error:
                return error.response
            except PaymentRefused as refused:
                return problem(refused.status, refused.code, str(refused))
            except InvalidPageRequest as error:
                return problem(400, "BAD_USER_INPUT", str(error))
        return run

    def path_id(request: Request, name: str) -> uuid.UUID:
        try:
            return uuid.UUID(request.path_params[name])
        except ValueError as error:
            raise Problem(404, "NOT_FOUND", "Nothing has this id.") from error

    def day_param(raw: str | None, name: str) -> date | None:
        if raw is None:
            return None
        try:
            return date.fromisoformat(raw)
        except ValueError as error:
            raise Problem(400, "BAD_USER_INPUT", f"{name} must be a date (YYYY-MM-DD).", field=name) from error

    async def notification(request: Request) -> Response:
        body = await request.body()
        try:
            # No replay guard: a repeated notification is applied once by the state machine.
            verify_webhook(settings.payment_gateway_secret, request.headers, body, replay_guard=None,
                           now=utcnow().timestamp())
        except WebhookVerificationError:
            logger.warning("gateway notification with a bad signature refused")
            return problem(401, "SIGNATURE_INVALID", "The notification's signature does not verify.")
        try:
            remote = GatewaySession.from_json(json.loads(body)["data"])
        except (ValueError, KeyError, TypeError):
            return problem(400, "BAD_USER_INPUT", "The notification is not a gateway session.")
        try:
            await in_transaction(session_factory, lambda session: service.apply_gateway_session(
                session, remote, source="gateway", now=utcnow()))
        except LookupError:
            return problem(404, "NOT_FOUND", "No payment matches this session.")
        return Response(status_code=204)

    async def browser_return(request: Request) -> Response:
        payment_id = path_id(request, "payment_id")
        async with session_factory() as session:
            payment = await session.get(Payment, payment_id)
        if payment is None:
            return problem(404, "NOT_FOUND", "No such payment.")
        if payment.gateway_reference and payment.state in (PaymentState.STARTED, PaymentState.SUBMITTED):
            # The browser may come back before the notification: ask the gateway now (GOV.UK Pay does).
            try:
                async with gateway_for(settings) as gateway:
                    remote = await gateway.get_session(payment.gateway_reference)
                async with session_factory() as session, session.begin():
                    await service.apply_gateway_session(session, remote, source="return", now=utcnow())
            except (GatewayUnavailable, LookupError):
                logger.info("gateway status unavailable on return; the notification or recovery will settle it")
        return RedirectResponse(service.APP_RETURN_URL.format(payment_id=payment_id), status_code=303)

    async def create_order(request: Request) -> Response:
        principal = await agency(request, PAYMENTS_ORDERS)
        key = idempotency_key(request)
        body = await json_body(request)
        try:
            new = orders.NewOrder(
                person_code=str(body["person_code"]), amount=body["amount"], purpose=str(body["purpose"]),
                due_date=date.fromisoformat(body["due_date"]), agency_reference=str(body["reference"]),
                payable_until=date.fromisoformat(body["payable_until"]) if body.get("payable_until") else None,
                notice_id=uuid.UUID(body["notice_id"]) if body.get("notice_id") else None)
        except KeyError as error:
            raise Problem(400, "BAD_USER_INPUT", f"{error.args[0]} is required.", field=error.args[0]) from error
        except (ValueError, TypeError) as error:
            raise Problem(400, "BAD_USER_INPUT", "A date or id is malformed.") from error
        now = utcnow()
        order, created = await in_transaction(session_factory, lambda session: orders.create_order(
            session, principal.agency_id, new, idempotency_key=key, today=business_day(now), now=now))
        return JSONResponse(order_json(order, person_code=new.person_code), status_code=201 if created else 200)

    async def get_order(request: Request) -> Response:
        principal = await agency(request, PAYMENTS_ORDERS)
        async with session_factory() as session:
            order = await orders.agency_order(session, principal.agency_id, path_id(request, "order_id"))
            codes = await queries.agency_codes(session, principal.agency_id, [order.person_id])
        return JSONResponse(order_json(order, person_code=codes.get(order.person_id)))

    async def cancel_order(request: Request) -> Response:
        principal = await agency(request, PAYMENTS_ORDERS)
        key = idempotency_key(request)
        async with session_factory() as session, session.begin():
            order = await orders.cancel_order(session, principal.agency_id, path_id(request, "order_id"),
                                              idempotency_key=key, now=utcnow())
            codes = await queries.agency_codes(session, principal.agency_id, [order.person_id])
        return JSONResponse(order_json(order, person_code=codes.get(order.person_id)))

    async def list_payments(request: Request) -> Response:
        principal = await agency(request, PAYMENTS_REPORTS)
        params = request.query_params
        raw_first = params.get("first")
        try:
            first = int(raw_first) if raw_first is not None else None
            state = PaymentState(params["state"]) if "state" in params else None
        except ValueError as error:
            raise Problem(400, "BAD_USER_INPUT", "first must be an integer and state a payment state.") from error
        page_request = PageRequest.parse(first, params.get("after"))
        async with session_factory() as session:
            page = await queries.agency_payments_page(
                session, principal.agency_id, page_request, state=state,
                from_day=day_param(params.get("from_date"), "from_date"),
                to_day=day_param(params.get("to_date"), "to_date"), reference=params.get("reference"))
            payments = [payment for _, payment in page.items]
            codes = await queries.agency_codes(session, principal.agency_id, [p.person_id for p in payments])
            references = await queries.order_references(session, [p.order_id for p in payments])
        return JSONResponse({
            "results": [payment_json(p, person_code=codes.get(p.person_id), agency_reference=references.get(p.order_id))
                        for p in payments],
            "next_cursor": page.items[-1][0] if page.has_next_page else None,
        })

    async def get_payment(request: Request) -> Response:
        principal = await agency(request, PAYMENTS_REPORTS)
        async with session_factory() as session:
            payment = await session.get(Payment, path_id(request, "payment_id"))
            if payment is None or payment.agency_id != principal.agency_id:
                raise Problem(404, "NOT_FOUND", "No such payment.")
            view = await service.agency_view(session, payment)
            view["refunds"] = [refund_json(r) for r in await queries.refunds_of(session, payment.id)]
        return JSONResponse(view)

    async def refund(request: Request) -> Response:
        principal = await agency(request, PAYMENTS_REFUND)
        key = idempotency_key(request)
        body = await json_body(request)
        if "amount" not in body:
            raise Problem(400, "BAD_USER_INPUT", "amount is required.", field="amount")
        async with gateway_for(settings) as gateway:
            result, created = await refunds.refund_payment(
                session_factory, gateway, agency_id=principal.agency_id, payment_id=path_id(request, "payment_id"),
                amount=body["amount"], refund_amount_available=body.get("refund_amount_available"),
                idempotency_key=key)
        return JSONResponse(refund_json(result), status_code=201 if created else 200)

    async def reconcile(request: Request) -> Response:
        principal = await agency(request, PAYMENTS_REPORTS)
        day = day_param(request.path_params["day"], "day")
        assert day is not None
        try:
            async with gateway_for(settings) as gateway:
                settlement = await gateway.settlement_file(day, str(principal.agency_id))
        except GatewayUnavailable as error:
            raise Problem(503, "GATEWAY_UNAVAILABLE", "The gateway's settlement file is unavailable.") from error
        async with session_factory() as session:
            report = await reconciliation.reconcile(session, principal.agency_id, day, settlement)
        return JSONResponse(report_json(report))

    async def callback_endpoint(request: Request) -> Response:
        principal = await agency(request, PAYMENTS_REPORTS)
        body = await json_body(request)
        try:
            async with session_factory() as session, session.begin():
                await callbacks.set_endpoint(session, principal.agency_id, str(body.get("url", "")), now=utcnow(),
                                             allow_private=not settings.production)
        except ValueError as error:
            raise Problem(400, "BAD_USER_INPUT", str(error), field="url") from error
        return JSONResponse({"url": body["url"],
                             "secret": callbacks.agency_secret(settings.payment_callback_key, principal.agency_id)})

    return [Mount("/payments", routes=[
        Route("/gateway/notifications", endpoint(notification), methods=["POST"]),
        Route("/return/{payment_id}", endpoint(browser_return), methods=["GET"]),
        Route("/v1/orders", endpoint(create_order), methods=["POST"]),
        Route("/v1/orders/{order_id}", endpoint(get_order), methods=["GET"]),
        Route("/v1/orders/{order_id}/cancel", endpoint(cancel_order), methods=["POST"]),
        Route("/v1/payments", endpoint(list_payments), methods=["GET"]),
        Route("/v1/payments/{payment_id}", endpoint(get_payment), methods=["GET"]),
        Route("/v1/payments/{payment_id}/refunds", endpoint(refund), methods=["POST"]),
        Route("/v1/reconciliation/{day}", endpoint(reconcile), methods=["GET"]),
        Route("/v1/callback-endpoint", endpoint(callback_endpoint), methods=["PUT"]),
    ])]


def report_json(report: reconciliation.Report) -> dict[str, Any]:
    return {
        "agency_id": str(report.agency_id), "date": report.day.isoformat(), "balanced": report.balanced,
        "ledger": {"count": report.ledger_count, "total": report.ledger_total},
        "settlement": {"count": report.settlement_count, "total": report.settlement_total, "fees": report.fees},
        "differences": [{"kind": d.kind, "reference": d.reference, "ledger_amount": d.ledger_amount,
                         "settlement_amount": d.settlement_amount} for d in report.differences],
    }
