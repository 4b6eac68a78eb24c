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
1234567 succeeds, 0000002 is declined.

State lives in a database (payments/gateways/sandbox_store.py), not in the process: several gateway
processes may serve one database, and a restart (or a crash) loses no session, refund or owed notification.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import html
import io
import logging
import secrets
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import date
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from api.platform.db import create_engine, create_session_factory, dispose_engine
from api.platform.webhooks import sign_headers
from payments.gateways.sandbox_models import SandboxSessionRow
from payments.gateways.sandbox_store import GatewayStore, NewSession, Owed, RefundRefused, session_json

logger = logging.getLogger("payments.sandbox_gateway")

SUCCEED_CARDS = frozenset({"4242424242424242", "5555555555554444"})
DECLINE_CARD = "4000000000000002"
TIMEOUT_CARD = "4000000000000044"
ERROR_CARD = "4000000000000119"
BANK_SUCCEED_ACCOUNT = "1234567"
BANK_DECLINE_ACCOUNT = "0000002"
NOTIFICATION_RETRY_DELAYS = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
DELETE_BATCH_DELAY, DELETE_BATCH = 0.1, 500  # delivered notifications are deleted a batch at a time
SWEEP_INTERVAL = 1.0  # seconds between looks for notifications whose writer died or whose retry is due
SETTLEMENT_COLUMNS = ("settlement_date", "merchant", "type", "gateway_reference", "merchant_reference", "amount",
                      "fee", "net", "captured_at")


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


def form_outcome(method: str | None, form: Any) -> tuple[tuple[str, str | None], dict[str, Any]] | str:
    """What the hosted form asks of a session of ``method`` (None: the payer cancels): the new state and error
    code, and the card's columns; or the message that refuses the form."""
    if method is None:
        return ("cancelled", "P0030"), {}
    if method == "card":
        number = str(form.get("card_number", "")).replace(" ", "")
        if not luhn_valid(number):
            return "Enter a valid card number."
        outcome = {DECLINE_CARD: ("declined", "P0010"), TIMEOUT_CARD: ("timedout", "P0020"),
                   ERROR_CARD: ("error", "P0050")}.get(number, ("success", None))
        return outcome, {"card_brand": card_brand(number), "card_last4": number[-4:]}
    account = str(form.get("account_number", ""))
    if account not in (BANK_SUCCEED_ACCOUNT, BANK_DECLINE_ACCOUNT):
        return "Unknown account."
    return (("success", None) if account == BANK_SUCCEED_ACCOUNT else ("declined", "P0010")), {}


def render_settlement(rows: Iterable[dict[str, Any]]) -> str:
    """The settlement CSV (also used by the benchmark to bulk-generate a day)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=SETTLEMENT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


class Notifier:
    """Delivers owed notifications: at once after the change commits (in order, one task per change), and by a
    sweeper for those whose lease ran out. A failed one waits its turn. Delivered ones are deleted in batches, a
    transaction per ``delete_delay`` rather than one per notification: one not yet deleted when the process
    dies is delivered again once its lease runs out, which the merchant ignores (same message id, same state)."""

    def __init__(self, store: GatewayStore, secret: str, retry_delays: tuple[float, ...], *,
                 delete_delay: float = DELETE_BATCH_DELAY) -> None:
        self.store, self.secret, self.retry_delays, self.delete_delay = store, secret, retry_delays, delete_delay
        self.client: httpx.AsyncClient | None = None
        self.tasks: set[asyncio.Task[None]] = set()
        self.delivered: list[str] = []  # delivered, not yet deleted
        self.deleter: asyncio.Task[None] | None = None

    def send(self, owed: list[Owed]) -> None:
        if owed:
            task = asyncio.get_running_loop().create_task(self._deliver_in_order(owed))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _deliver_in_order(self, owed: list[Owed]) -> None:
        done = []
        for notification in owed:
            if await self.deliver(notification):
                done.append(notification.id)
        if done:
            self.delivered += done
            if self.deleter is None or self.deleter.done():
                self.deleter = asyncio.get_running_loop().create_task(self.delete_delivered(self.delete_delay))

    async def delete_delivered(self, delay: float = 0.0) -> None:
        await asyncio.sleep(delay)  # the deliveries of the next moment join this batch
        while self.delivered:
            batch, self.delivered = self.delivered[:DELETE_BATCH], self.delivered[DELETE_BATCH:]
            try:
                await self.store.delivered(*batch)
            except Exception:  # their lease runs out and they are delivered again: harmless, and logged
                logger.exception("delivered notifications not deleted")

    async def deliver(self, owed: Owed) -> bool:
        """True when the notification needs no more attempts (the caller deletes it)."""
        headers = {**sign_headers(self.secret, owed.id, owed.body), "content-type": "application/json"}
        try:
            assert self.client is not None
            response = await self.client.post(owed.url, content=owed.body, headers=headers)
            if response.status_code < 300:
                return True
            if 400 <= response.status_code < 500 and response.status_code != 429:
                logger.warning("notification refused with %s", response.status_code)
                return True  # nothing to retry: the merchant's recovery job asks
        except httpx.HTTPError as error:
            logger.info("notification not delivered (%s); will retry", type(error).__name__)
        attempts = owed.attempts + 1
        delay = self.retry_delays[attempts - 1] if attempts <= len(self.retry_delays) else None
        if delay is None:
            logger.warning("notification %s given up", owed.id)
        await self.store.retry_later(owed.id, attempts, delay)
        return False

    async def sweep_forever(self) -> None:
        while True:
            try:
                for owed in await self.store.claim_due():
                    self.send([owed])
            except Exception:  # a database hiccup: the next round tries again
                logger.exception("notification sweep failed")
            await asyncio.sleep(SWEEP_INTERVAL)


def create_gateway_app(secret: str, base_url: str, database_url: str, *,
                       retry_delays: tuple[float, ...] = NOTIFICATION_RETRY_DELAYS) -> Starlette:
    engine = create_engine(database_url)
    store = GatewayStore(create_session_factory(engine), base_url)
    notifier = Notifier(store, secret, retry_delays)

    def authorised(request: Request) -> bool:
        return secrets.compare_digest(request.headers.get("authorization", ""), f"Bearer {secret}")

    def problem(status: int, code: str, detail: str) -> JSONResponse:
        return JSONResponse({"code": code, "detail": detail}, status_code=status,
                            media_type="application/problem+json")

    async def found(session_id: str) -> SandboxSessionRow | None:
        row, owed = await store.get(session_id)
        notifier.send(owed)
        return row

    def answer(row: SandboxSessionRow, status: int = 200) -> JSONResponse:
        return JSONResponse(session_json(row, store.base_url), status_code=status)

    async def create_session(request: Request) -> Response:
        if not authorised(request):
            return problem(401, "UNAUTHORISED", "bad API key")
        body = await request.json()
        amount = body.get("amount")
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            return problem(422, "AMOUNT_INVALID", "amount must be a positive integer")
        if body.get("method") not in ("card", "net_banking") or body.get("currency") != "JPY":
            return problem(422, "METHOD_INVALID", "method must be card or net_banking, currency JPY")
        row, created = await store.create(NewSession(
            merchant=str(body["merchant"]), merchant_reference=str(body.get("merchant_reference", "")),
            amount=amount, method=body["method"], description=str(body.get("description", "")),
            return_url=str(body["return_url"]), notification_url=str(body["notification_url"]),
            expires_in=int(body.get("expires_in", 5400))))
        if not created and row.amount != amount:
            return problem(409, "REFERENCE_REUSED", "merchant_reference used with another amount")
        return answer(row, 201 if created else 200)

    async def get_session(request: Request) -> Response:
        if not authorised(request):
            return problem(401, "UNAUTHORISED", "bad API key")
        row = await found(request.path_params["session_id"])
        return answer(row) if row is not None else problem(404, "NOT_FOUND", "no such session")

    async def find_sessions(request: Request) -> Response:
        if not authorised(request):
            return problem(401, "UNAUTHORISED", "bad API key")
        row = await store.by_reference(request.query_params.get("merchant_reference", ""))
        row = await found(row.id) if row is not None else None
        return JSONResponse({"sessions": [session_json(row, store.base_url)] if row is not None else []})

    async def cancel_session(request: Request) -> Response:
        if not authorised(request):
            return problem(401, "UNAUTHORISED", "bad API key")
        session_id = request.path_params["session_id"]
        row = await found(session_id)
        if row is None:
            return problem(404, "NOT_FOUND", "no such session")
        if row.state == "created":
            body = await request.json() if await request.body() else {}
            # A merchant that gives up because its own deadline passed reports a timeout, not a cancellation.
            expired = isinstance(body, dict) and body.get("reason") == "expired"
            changed, owed = await store.change(session_id, ("created",),
                                               *(("timedout", "P0020") if expired else ("cancelled", "P0040")))
            notifier.send(owed)
            row = changed or await found(session_id)
            assert row is not None
        return answer(row)  # a finished session answers as it is

    async def refund(request: Request) -> Response:
        if not authorised(request):
            return problem(401, "UNAUTHORISED", "bad API key")
        body = await request.json()
        amount = body.get("amount")
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            return problem(422, "AMOUNT_INVALID", "amount must be a positive integer")
        try:
            record, created = await store.refund(request.path_params["session_id"],
                                                 str(body.get("refund_reference", "")), amount)
        except LookupError:
            return problem(404, "NOT_FOUND", "no such session")
        except RefundRefused as refused:
            return problem(409, refused.code, str(refused))
        return JSONResponse(record, status_code=201 if created else 200)

    async def settlement(request: Request) -> Response:
        if not authorised(request):
            return problem(401, "UNAUTHORISED", "bad API key")
        try:
            day = date.fromisoformat(request.path_params["day"])
        except ValueError:
            return problem(422, "DATE_INVALID", "the day is YYYY-MM-DD")
        rows = await store.settlement_rows(day, request.query_params.get("merchant"))
        return PlainTextResponse(render_settlement(rows), media_type="text/csv")

    async def hosted_page(request: Request) -> Response:
        row = await found(request.path_params["session_id"])
        if row is None:
            return HTMLResponse("<h1>Not found</h1>", status_code=404)
        return HTMLResponse(_page(row), status_code=200 if row.state == "created" else 410)

    async def submit(request: Request) -> Response:
        session_id = request.path_params["session_id"]
        form = await request.form()
        cancel = form.get("action") == "cancel"
        method = None if cancel else ("card" if form.get("card_number") is not None else "net_banking")
        decided = form_outcome(method, form)
        if isinstance(decided, tuple):
            # The usual case, a valid form for a live session of its method: one conditional UPDATE changes it,
            # without reading it first. Anything else (gone, finished, expired, of the other method) is told
            # apart below by reading it, as before.
            changed, owed = await store.change(session_id, ("created",), *decided[0], method=method,
                                               unexpired=True, **decided[1])
            if changed is not None:
                notifier.send(owed)
                return RedirectResponse(changed.return_url, status_code=303)
        row = await found(session_id)
        if row is None:
            return HTMLResponse("<h1>Not found</h1>", status_code=404)
        if row.state != "created":
            return HTMLResponse(_page(row), status_code=410)
        decided = form_outcome(None if cancel else row.method, form)
        if isinstance(decided, str):
            return HTMLResponse(_page(row, decided), status_code=422)
        changed, owed = await store.change(session_id, ("created",), *decided[0], **decided[1])
        notifier.send(owed)
        if changed is None:  # another submission (or the expiry) won the race
            current = await found(session_id)
            return HTMLResponse(_page(current) if current else "<h1>Not found</h1>", status_code=410)
        return RedirectResponse(row.return_url, status_code=303)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        notifier.client = httpx.AsyncClient(timeout=5.0)
        sweeper = asyncio.create_task(notifier.sweep_forever())
        yield
        for task in (sweeper, *notifier.tasks):
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.gather(sweeper, *notifier.tasks, return_exceptions=True)
        if notifier.deleter is not None:
            notifier.deleter.cancel()
        await notifier.delete_delivered()  # what was delivered is not delivered again after a clean stop
        await notifier.client.aclose()
        await dispose_engine(engine)

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
    app.state.gateway = store
    return app


def _page(session: SandboxSessionRow, error: str | None = None) -> str:
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


def serve(secret: str, host: str, port: int, database_url: str, workers: int = 1) -> None:
    import uvicorn

    base_url = f"http://{host}:{port}"
    if workers > 1:  # the state is in the database, so more processes simply share it
        import os

        os.environ.update({"SANDBOX_GATEWAY_SECRET": secret, "SANDBOX_GATEWAY_BASE_URL": base_url,
                           "SANDBOX_GATEWAY_DATABASE_URL": database_url})
        uvicorn.run("payments.gateways.sandbox_server:app_from_environment", factory=True, host=host, port=port,
                    workers=workers, log_level="warning")
        return
    uvicorn.run(create_gateway_app(secret, base_url, database_url), host=host, port=port, log_level="warning")


def app_from_environment() -> Starlette:
    """uvicorn's worker processes build the app from what ``serve`` put in their environment."""
    import os

    return create_gateway_app(os.environ["SANDBOX_GATEWAY_SECRET"], os.environ["SANDBOX_GATEWAY_BASE_URL"],
                              os.environ["SANDBOX_GATEWAY_DATABASE_URL"])


__all__ = ["create_gateway_app", "render_settlement", "serve"]
