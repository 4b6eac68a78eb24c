"""The sandbox payment gateway: its own process (``mynaportal dev-payment-gateway``), a realistic protocol.

- ``POST /v1/sessions`` (Bearer secret): a hosted-page session for a card or net-banking payment;
  idempotent on ``merchant_reference``. ``GET /v1/sessions/{id}``, ``GET /v1/sessions?merchant_reference=``
  (status queries), ``POST /v1/sessions/{id}/cancel``, ``POST /v1/sessions/{id}/refunds`` (idempotent on
  ``refund_reference``), ``GET /v1/settlements/{YYYY-MM-DD}?merchant=`` (the daily settlement CSV).
- ``GET /pay/{id}``: the hosted page, an HTML form; ``POST /pay/{id}`` submits it and redirects (303)
  to the session's ``return_url``.
- Every state change is notified to the session's ``notification_url``, signed with Standard Webhooks
  (HMAC-SHA256 with the shared secret), retried on failure; notifications may therefore arrive late,
  twice or out of order, as with a real gateway.

Test cards (after GOV.UK Pay's and Stripe's): 4242424242424242 and 5555555555554444 succeed,
4000000000000002 is declined, 4000000000000044 times out, 4000000000000119 fails with a processor error.
Any other Luhn-valid number succeeds; a Luhn-invalid one is refused on the form. Net banking: account
1234567 succeeds, 0000002 is declined. State lives in memory: this is a sandbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import html
import io
import json
import logging
import secrets
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from api.platform.webhooks import sign_headers
from payments.ledger import business_day

logger = logging.getLogger("payments.sandbox_gateway")

SUCCEED_CARDS = frozenset({"4242424242424242", "5555555555554444"})
DECLINE_CARD = "4000000000000002"
TIMEOUT_CARD = "4000000000000044"
ERROR_CARD = "4000000000000119"
BANK_SUCCEED_ACCOUNT = "1234567"
BANK_DECLINE_ACCOUNT = "0000002"
CARD_FEE_BASIS_POINTS = 100  # 1.00 % of card payments, rounded down; net banking is free here
NOTIFICATION_RETRY_DELAYS = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
SETTLEMENT_COLUMNS = ("settlement_date", "merchant", "type", "gateway_reference", "merchant_reference", "amount",
                      "fee", "net", "captured_at")
FINISHED = frozenset({"success", "declined", "timedout", "cancelled", "error"})


def luhn_valid(number: str) -> bool:
    if not number.isdigit() or not 12 <= len(number) <= 19:
        return False
    total = 0
    for index, digit in enumerate(int(d) for d in reversed(number)):
        if index % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def card_brand(number: str) -> str:
    return {"4": "visa", "5": "mastercard", "3": "jcb"}.get(number[:1], "other")


@dataclass
class SandboxSession:
    id: str
    merchant: str
    merchant_reference: str
    amount: int
    method: str
    description: str
    return_url: str
    notification_url: str
    expires_at: float
    state: str = "created"
    error_code: str | None = None
    card_brand: str | None = None
    card_last4: str | None = None
    captured_at: datetime | None = None
    refunds: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self, base_url: str) -> dict[str, Any]:
        return {
            "id": self.id, "merchant": self.merchant, "merchant_reference": self.merchant_reference,
            "amount": self.amount, "currency": "JPY", "method": self.method, "state": self.state,
            "finished": self.state in FINISHED, "error_code": self.error_code, "card_brand": self.card_brand,
            "card_last4": self.card_last4,
            "captured_at": self.captured_at.isoformat() if self.captured_at else None,
            "next_url": None if self.state in FINISHED else f"{base_url}/pay/{self.id}",
            "refunded_amount": sum(r["amount"] for r in self.refunds),
        }


def render_settlement(rows: Iterable[dict[str, Any]]) -> str:
    """The settlement CSV (also used by the benchmark to bulk-generate a day)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=SETTLEMENT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def card_fee(amount: int) -> int:
    return amount * CARD_FEE_BASIS_POINTS // 10_000


class SandboxGatewayState:
    def __init__(self, secret: str, base_url: str, *, retry_delays: tuple[float, ...] = NOTIFICATION_RETRY_DELAYS):
        self.secret = secret
        self.base_url = base_url.rstrip("/")
        self.retry_delays = retry_delays
        self.sessions: dict[str, SandboxSession] = {}
        self.by_reference: dict[str, str] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.client: httpx.AsyncClient | None = None
        self.notifications_sent = 0

    def expire_if_due(self, session: SandboxSession) -> None:
        if session.state == "created" and time.time() > session.expires_at:
            self.change(session, "timedout", "P0020")

    def change(self, session: SandboxSession, state: str, error_code: str | None = None) -> None:
        session.state = state
        session.error_code = error_code
        if state == "success":
            session.captured_at = datetime.now(UTC)
        self.notify(session)

    def notify(self, session: SandboxSession) -> None:
        body = json.dumps({"type": f"session.{session.state}", "data": session.as_json(self.base_url)}).encode()
        task = asyncio.get_running_loop().create_task(self._deliver(session.notification_url, body))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _deliver(self, url: str, body: bytes) -> None:
        message_id = "gwmsg_" + secrets.token_hex(12)
        for delay in (0.0, *self.retry_delays):
            if delay:
                await asyncio.sleep(delay)
            headers = {**sign_headers(self.secret, message_id, body), "content-type": "application/json"}
            try:
                assert self.client is not None
                response = await self.client.post(url, content=body, headers=headers)
                if response.status_code < 300:
                    self.notifications_sent += 1
                    return
                if 400 <= response.status_code < 500 and response.status_code != 429:
                    logger.warning("notification refused with %s", response.status_code)
                    return
            except httpx.HTTPError as error:
                logger.info("notification not delivered (%s); will retry", type(error).__name__)
        logger.warning("notification %s given up", message_id)


def create_gateway_app(secret: str, base_url: str, *,
                       retry_delays: tuple[float, ...] = NOTIFICATION_RETRY_DELAYS) -> Starlette:
    state = SandboxGatewayState(secret, base_url, retry_delays=retry_delays)

    def authorised(request: Request) -> bool:
        return secrets.compare_digest(request.headers.get("authorization", ""), f"Bearer {secret}")

    def problem(status: int, code: str, detail: str) -> JSONResponse:
        return JSONResponse({"code": code, "detail": detail}, status_code=status,
                            media_type="application/problem+json")

    def found(request: Request) -> SandboxSession | None:
        session = state.sessions.get(request.path_params["session_id"])
        if session is not None:
            state.expire_if_due(session)
        return session

    async def create_session(request: Request) -> Response:
        if not authorised(request):
            return problem(401, "UNAUTHORISED", "bad API key")
        body = await request.json()
        amount = body.get("amount")
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            return problem(422, "AMOUNT_INVALID", "amount must be a positive integer")
        if body.get("method") not in ("card", "net_banking") or body.get("currency") != "JPY":
            return problem(422, "METHOD_INVALID", "method must be card or net_banking, currency JPY")
        reference = str(body.get("merchant_reference", ""))
        if existing := state.by_reference.get(reference):
            session = state.sessions[existing]
            if session.amount != amount:
                return problem(409, "REFERENCE_REUSED", "merchant_reference used with another amount")
            return JSONResponse(session.as_json(state.base_url), status_code=200)
        session = SandboxSession(
            id="gws_" + secrets.token_hex(12), merchant=str(body["merchant"]), merchant_reference=reference,
            amount=amount, method=body["method"], description=str(body.get("description", ""))[:200],
            return_url=str(body["return_url"]), notification_url=str(body["notification_url"]),
            expires_at=time.time() + int(body.get("expires_in", 5400)),
        )
        state.sessions[session.id] = session
        state.by_reference[reference] = session.id
        return JSONResponse(session.as_json(state.base_url), status_code=201)

    async def get_session(request: Request) -> Response:
        if not authorised(request):
            return problem(401, "UNAUTHORISED", "bad API key")
        session = found(request)
        if session is None:
            return problem(404, "NOT_FOUND", "no such session")
        return JSONResponse(session.as_json(state.base_url))

    async def find_sessions(request: Request) -> Response:
        if not authorised(request):
            return problem(401, "UNAUTHORISED", "bad API key")
        session_id = state.by_reference.get(request.query_params.get("merchant_reference", ""))
        sessions = [state.sessions[session_id]] if session_id else []
        for session in sessions:
            state.expire_if_due(session)
        return JSONResponse({"sessions": [s.as_json(state.base_url) for s in sessions]})

    async def cancel_session(request: Request) -> Response:
        if not authorised(request):
            return problem(401, "UNAUTHORISED", "bad API key")
        session = found(request)
        if session is None:
            return problem(404, "NOT_FOUND", "no such session")
        if session.state == "created":
            body = await request.json() if await request.body() else {}
            # A merchant that gives up because its own deadline passed reports a timeout, not a cancellation.
            expired = isinstance(body, dict) and body.get("reason") == "expired"
            state.change(session, *(("timedout", "P0020") if expired else ("cancelled", "P0040")))
        return JSONResponse(session.as_json(state.base_url))  # a finished session answers as it is

    async def refund(request: Request) -> Response:
        if not authorised(request):
            return problem(401, "UNAUTHORISED", "bad API key")
        session = found(request)
        if session is None:
            return problem(404, "NOT_FOUND", "no such session")
        body = await request.json()
        reference = str(body.get("refund_reference", ""))
        if reference in state.refunds:
            return JSONResponse(state.refunds[reference])
        amount = body.get("amount")
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            return problem(422, "AMOUNT_INVALID", "amount must be a positive integer")
        if session.state != "success":
            return problem(409, "NOT_REFUNDABLE", "only successful payments are refundable")
        if sum(r["amount"] for r in session.refunds) + amount > session.amount:
            return problem(409, "REFUND_EXCEEDS_AVAILABLE", "more than what remains")
        record = {"id": "gwr_" + secrets.token_hex(12), "state": "success", "amount": amount,
                  "session_id": session.id, "refund_reference": reference,
                  "created_at": datetime.now(UTC).isoformat()}
        session.refunds.append(record)
        state.refunds[reference] = record
        return JSONResponse(record, status_code=201)

    async def settlement(request: Request) -> Response:
        if not authorised(request):
            return problem(401, "UNAUTHORISED", "bad API key")
        day = request.path_params["day"]
        merchant = request.query_params.get("merchant")
        rows = []
        for session in state.sessions.values():
            if merchant and session.merchant != merchant:
                continue
            captured = session.captured_at
            if session.state == "success" and captured and business_day(captured).isoformat() == day:
                fee = card_fee(session.amount) if session.method == "card" else 0
                rows.append({"settlement_date": day, "merchant": session.merchant, "type": "payment",
                             "gateway_reference": session.id, "merchant_reference": session.merchant_reference,
                             "amount": session.amount, "fee": fee, "net": session.amount - fee,
                             "captured_at": session.captured_at.isoformat()})
            for record in session.refunds:
                created = datetime.fromisoformat(record["created_at"])
                if business_day(created).isoformat() == day:
                    rows.append({"settlement_date": day, "merchant": session.merchant, "type": "refund",
                                 "gateway_reference": record["id"], "merchant_reference": record["refund_reference"],
                                 "amount": record["amount"], "fee": 0, "net": -record["amount"],
                                 "captured_at": record["created_at"]})
        return PlainTextResponse(render_settlement(rows), media_type="text/csv")

    async def hosted_page(request: Request) -> Response:
        session = found(request)
        if session is None:
            return HTMLResponse("<h1>Not found</h1>", status_code=404)
        return HTMLResponse(_page(session), status_code=200 if session.state == "created" else 410)

    async def submit(request: Request) -> Response:
        session = found(request)
        if session is None:
            return HTMLResponse("<h1>Not found</h1>", status_code=404)
        if session.state != "created":
            return HTMLResponse(_page(session), status_code=410)
        form = await request.form()
        if form.get("action") == "cancel":
            state.change(session, "cancelled", "P0030")
            return RedirectResponse(session.return_url, status_code=303)
        if session.method == "card":
            number = str(form.get("card_number", "")).replace(" ", "")
            if not luhn_valid(number):
                return HTMLResponse(_page(session, "Enter a valid card number."), status_code=422)
            session.card_brand, session.card_last4 = card_brand(number), number[-4:]
            state.change(session, "submitted")
            outcome = {DECLINE_CARD: ("declined", "P0010"), TIMEOUT_CARD: ("timedout", "P0020"),
                       ERROR_CARD: ("error", "P0050")}.get(number, ("success", None))
        else:
            account = str(form.get("account_number", ""))
            if account not in (BANK_SUCCEED_ACCOUNT, BANK_DECLINE_ACCOUNT):
                return HTMLResponse(_page(session, "Unknown account."), status_code=422)
            state.change(session, "submitted")
            outcome = ("success", None) if account == BANK_SUCCEED_ACCOUNT else ("declined", "P0010")
        state.change(session, *outcome)
        return RedirectResponse(session.return_url, status_code=303)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        state.client = httpx.AsyncClient(timeout=5.0)
        yield
        for task in list(state.tasks):
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.gather(*state.tasks, return_exceptions=True)
        await state.client.aclose()

    app = Starlette(routes=[
        Route("/v1/sessions", create_session, methods=["POST"]),
        Route("/v1/sessions", find_sessions, methods=["GET"]),
        Route("/v1/sessions/{session_id}", get_session, methods=["GET"]),
        Route("/v1/sessions/{session_id}/cancel", cancel_session, methods=["POST"]),
        Route("/v1/sessions/{session_id}/refunds", refund, methods=["POST"]),
        Route("/v1/settlements/{day}", settlement, methods=["GET"]),
        Route("/pay/{session_id}", hosted_page, methods=["GET"]),
        Route("/pay/{session_id}", submit, methods=["POST"]),
        Route("/healthz", lambda _: JSONResponse({"status": "ok"}), methods=["GET"]),
    ], lifespan=lifespan)
    app.state.gateway = state
    return app


def _page(session: SandboxSession, error: str | None = None) -> str:
    title = f"{html.escape(session.description)}: ¥{session.amount:,}"
    if session.state != "created":
        return f"<!doctype html><title>{title}</title><p>This payment is {session.state}.</p>"
    if session.method == "card":
        fields = ('<label>Card number <input name="card_number" inputmode="numeric" autocomplete="cc-number">'
                  '</label><label>Expiry <input name="expiry" placeholder="MM/YY"></label>'
                  '<label>Security code <input name="cvc"></label>')
    else:
        fields = '<label>Account number <input name="account_number" inputmode="numeric"></label>'
    notice = f'<p role="alert">{html.escape(error)}</p>' if error else ""
    return (f"<!doctype html><meta charset=utf-8><title>{title}</title><h1>Sandbox gateway</h1><p>{title}</p>"
            f'{notice}<form method="post" action="/pay/{session.id}">{fields}'
            '<button name="action" value="pay">Pay</button>'
            '<button name="action" value="cancel">Cancel</button></form>')


def serve(secret: str, host: str, port: int) -> None:
    import uvicorn

    uvicorn.run(create_gateway_app(secret, f"http://{host}:{port}"), host=host, port=port, log_level="warning")


__all__ = ["create_gateway_app", "render_settlement", "serve"]
