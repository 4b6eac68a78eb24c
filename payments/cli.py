"""`mynaportal dev-payment-gateway` and `mynaportal payments …` (imports stay inside the commands)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import date
from pathlib import Path
from typing import Any

from api.platform.settings import settings_for_command


def register(commands: Any) -> None:
    gateway = commands.add_parser(
        "dev-payment-gateway", help="run the sandbox card/net-banking payment gateway (development only)",
        description="Serve the sandbox gateway: hosted payment pages, signed notifications, a status API and "
                    "daily settlement files. Test cards: 4242424242424242 succeeds, 4000000000000002 is declined, "
                    "4000000000000044 times out, 4000000000000119 errors.")
    gateway.add_argument("--host", default="127.0.0.1")
    gateway.add_argument("--port", type=int, default=8765)
    gateway.add_argument("--database-url", help="where the gateway keeps its sessions (default: "
                                                "MYNAPORTAL_DATABASE_URL, migrated; its tables are sandbox_gateway_*)")
    gateway.add_argument("--workers", type=int, default=1, help="processes (they share the database)")
    gateway.set_defaults(func=cmd_gateway)

    payments = commands.add_parser("payments", help="payment jobs: recover, deliver callbacks, expire, import, "
                                                    "reconcile", description="Payment jobs (safe to run repeatedly "
                                                    "and concurrently: the database decides).")
    jobs = payments.add_subparsers(dest="payments_command", required=True, metavar="JOB")
    recover = jobs.add_parser("recover", help="ask the gateway about unfinished payments and refunds, settle them")
    recover.set_defaults(func=cmd_recover)
    deliver = jobs.add_parser("deliver-callbacks", help="deliver due agency callbacks once")
    deliver.set_defaults(func=cmd_deliver)
    expire = jobs.add_parser("expire-orders", help="expire unpaid orders past their last payable day")
    expire.set_defaults(func=cmd_expire)
    work = jobs.add_parser("work", help="run recover, callbacks, expiry and key purge in a loop")
    work.add_argument("--interval", type=float, default=30.0, help="seconds between rounds")
    work.add_argument("--once", action="store_true", help="one round, then exit")
    work.set_defaults(func=cmd_work)
    bank = jobs.add_parser("import-bank-file", help="import a bank's received-payments (Pay-easy) CSV file")
    bank.add_argument("file", type=Path)
    bank.set_defaults(func=cmd_import_bank)
    reconcile = jobs.add_parser("reconcile", help="compare an agency's day in the ledger with the settlement file")
    reconcile.add_argument("--agency", required=True, help="the agency's slug")
    reconcile.add_argument("--date", required=True, type=date.fromisoformat, help="the business day, YYYY-MM-DD")
    reconcile.add_argument("--post", action="store_true", help="also book the payout and fee when balanced")
    reconcile.set_defaults(func=cmd_reconcile)
    endpoint = jobs.add_parser("callback-endpoint", help="set an agency's callback URL and print its secret")
    endpoint.add_argument("--agency", required=True)
    endpoint.add_argument("--url", required=True)
    endpoint.set_defaults(func=cmd_endpoint)


def cmd_gateway(args: argparse.Namespace) -> None:
    from payments.gateways.sandbox_server import serve

    settings = settings_for_command()
    if settings.production:
        sys.exit("mynaportal: the sandbox gateway is a development tool")
    from api.platform.settings import normalise_database_url

    database_url = normalise_database_url(args.database_url) if args.database_url else settings.database_url
    serve(settings.payment_gateway_secret, args.host, args.port, database_url, args.workers)


async def _with_db(settings: Any, work: Any) -> Any:
    from api.platform.db import create_engine, create_session_factory

    engine = create_engine(settings.database_url)
    try:
        return await work(create_session_factory(engine))
    finally:
        await engine.dispose()


async def _round(settings: Any, session_factory: Any) -> dict[str, Any]:
    import httpx

    from api.platform.db import utcnow
    from payments import callbacks, idempotency, orders, refunds, service
    from payments.config import gateway_for
    from payments.ledger import business_day

    now = utcnow()
    async with gateway_for(settings) as gateway:
        recovered = await service.recover(session_factory, gateway, now=now)
        refunded = await refunds.retry_submitted_refunds(session_factory, gateway, now=now)
    async with session_factory() as session, session.begin():
        expired = await orders.expire_orders(session, today=business_day(now), now=now)
        purged = await idempotency.purge_expired(session, now=now)
    async with httpx.AsyncClient() as client:
        delivered = await callbacks.deliver_due(session_factory, client, settings.payment_callback_keys, now=now,
                                                allow_private=not settings.production)
    return {"recovery": recovered.__dict__, "refunds_finished": refunded, "orders_expired": len(expired),
            "keys_purged": purged, "callbacks": delivered.__dict__}


def cmd_recover(_: argparse.Namespace) -> None:
    from api.platform.db import utcnow
    from payments import refunds, service
    from payments.config import gateway_for

    settings = settings_for_command()

    async def work(session_factory: Any) -> dict[str, Any]:
        async with gateway_for(settings) as gateway:
            run = await service.recover(session_factory, gateway, now=utcnow())
            finished = await refunds.retry_submitted_refunds(session_factory, gateway, now=utcnow())
        return {**run.__dict__, "refunds_finished": finished}

    print(json.dumps(asyncio.run(_with_db(settings, work))))


def cmd_deliver(_: argparse.Namespace) -> None:
    import httpx

    from api.platform.db import utcnow
    from payments.callbacks import deliver_due

    settings = settings_for_command()

    async def work(session_factory: Any) -> dict[str, int]:
        async with httpx.AsyncClient() as client:
            return (await deliver_due(session_factory, client, settings.payment_callback_keys, now=utcnow(),
                                      allow_private=not settings.production)).__dict__

    print(json.dumps(asyncio.run(_with_db(settings, work))))


def cmd_expire(_: argparse.Namespace) -> None:
    from api.platform.db import utcnow
    from payments.ledger import business_day
    from payments.orders import expire_orders

    async def work(session_factory: Any) -> int:
        now = utcnow()
        async with session_factory() as session, session.begin():
            return len(await expire_orders(session, today=business_day(now), now=now))

    print(json.dumps({"orders_expired": asyncio.run(_with_db(settings_for_command(), work))}))


def cmd_work(args: argparse.Namespace) -> None:
    settings = settings_for_command()

    async def loop(session_factory: Any) -> None:
        while True:
            print(json.dumps(await _round(settings, session_factory)), flush=True)
            if args.once:
                return
            await asyncio.sleep(args.interval)

    asyncio.run(_with_db(settings, loop))


def cmd_import_bank(args: argparse.Namespace) -> None:
    from api.platform.db import utcnow
    from api.platform.errors import PortalError
    from payments.bank import import_received_payments

    text = args.file.read_text(encoding="utf-8")

    async def work(session_factory: Any) -> dict[str, Any]:
        async with session_factory() as session, session.begin():
            result = await import_received_payments(session, text, now=utcnow())
        return {"outcomes": dict(result.outcomes), "unmatched": result.unmatched}

    try:
        print(json.dumps(asyncio.run(_with_db(settings_for_command(), work))))
    except PortalError as error:
        sys.exit(f"mynaportal: {error}")


def cmd_reconcile(args: argparse.Namespace) -> None:
    from api.agencies.credentials import agency_by_slug
    from payments import reconciliation
    from payments.config import gateway_for
    from payments.rest import report_json

    settings = settings_for_command()

    async def work(session_factory: Any) -> dict[str, Any]:
        async with session_factory() as session:
            agency = await agency_by_slug(session, args.agency)
        if agency is None:
            sys.exit(f"mynaportal: no agency with slug {args.agency!r}")
        async with gateway_for(settings) as gateway:
            settlement = await gateway.settlement_file(args.date, str(agency.id))
        async with session_factory() as session, session.begin():
            report = await reconciliation.reconcile(session, agency.id, args.date, settlement)
            if args.post and report.balanced:
                await reconciliation.post_settlement(session, agency.id, args.date, settlement)
        return report_json(report)

    print(json.dumps(asyncio.run(_with_db(settings, work)), ensure_ascii=False, indent=2))


def cmd_endpoint(args: argparse.Namespace) -> None:
    from api.agencies.credentials import agency_by_slug
    from api.platform.db import utcnow
    from payments.callbacks import agency_secret, set_endpoint

    settings = settings_for_command()

    async def work(session_factory: Any) -> str:
        async with session_factory() as session, session.begin():
            agency = await agency_by_slug(session, args.agency)
            if agency is None:
                sys.exit(f"mynaportal: no agency with slug {args.agency!r}")
            try:
                await set_endpoint(session, agency.id, args.url, now=utcnow(), allow_private=not settings.production)
            except ValueError as error:
                sys.exit(f"mynaportal: {error}")
            return agency_secret(settings.payment_callback_key, agency.id)

    print(asyncio.run(_with_db(settings, work)))
