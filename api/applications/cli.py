"""`mynaportal applications ...`: the walkthrough `make run` prints, municipal staff accounts, and the purge of the
staff inbox's ended browser sessions (`mynaportal purge` cannot: api.identity is below api.applications)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import date
from typing import Any

from api.platform.settings import settings_for_command


async def _walkthrough(args: argparse.Namespace) -> None:
    from api.applications.walkthrough import ready_draft
    from api.platform.db import create_engine, create_session_factory

    engine = create_engine(settings_for_command().database_url)
    try:
        ready = await ready_draft(create_session_factory(engine), args.email, date.today())
    finally:
        await engine.dispose()
    names = ", ".join(f"{p.name} ({p.code})" for p, _ in ready.found)
    print(f"  さがす「じどうてあて」: {names}")
    for fit in ready.fits:
        print(f"  ぴったり: {fit.procedure.name} — {'; '.join(fit.reasons)}")
    income = ready.application.form.get("income", {})
    source = ready.application.prefill.get("income", {})
    print(f"  draft {ready.application.id}: income {income.get('taxableIncome')} yen ({income.get('taxYear')}) "
          f"from {source.get('provider')} through the network (query {source.get('queryId')}), "
          f"no {source.get('replaces')} attached; paid to the 公金受取口座")


def cmd_walkthrough(args: argparse.Namespace) -> None:
    try:
        asyncio.run(_walkthrough(args))
    except LookupError as error:
        sys.exit(f"mynaportal: {error}")


async def _staff(args: argparse.Namespace) -> str:
    from api.agencies.credentials import agency_by_slug
    from api.applications.staff import create_staff
    from api.platform.db import create_engine, create_session_factory

    engine = create_engine(settings_for_command().database_url)
    try:
        async with create_session_factory(engine)() as session, session.begin():
            agency = await agency_by_slug(session, args.agency)
            if agency is None:
                sys.exit(f"mynaportal: no agency with slug {args.agency!r}")
            _, token = await create_staff(session, agency.id, args.name, args.role)
            return token
    finally:
        await engine.dispose()


def cmd_staff(args: argparse.Namespace) -> None:
    print(asyncio.run(_staff(args)))


async def _purge(batch: int) -> int:
    from api.applications.staff_sessions import purge
    from api.platform.db import create_engine, create_session_factory, utcnow

    engine = create_engine(settings_for_command().database_url)
    try:
        return await purge(create_session_factory(engine), now=utcnow(), batch=batch)
    finally:
        await engine.dispose()


def cmd_purge(args: argparse.Namespace) -> None:
    if args.batch < 1:
        sys.exit("mynaportal: --batch must be at least 1")
    print(f"purged {asyncio.run(_purge(args.batch))} staff web sessions")


def register(commands: Any) -> None:
    group = commands.add_parser("applications", help="online applications: walkthrough, staff accounts, purge",
                                description="Online applications (ぴったりサービス, 子育てワンストップ).")
    jobs = group.add_subparsers(dest="applications_command", required=True, metavar="COMMAND")
    walk = jobs.add_parser("walkthrough", help="prepare the demo parent's 児童手当 claim, ready to sign")
    walk.add_argument("--email", default="taro@example.jp")
    walk.set_defaults(func=cmd_walkthrough)
    staff = jobs.add_parser("staff", help="create a municipal staff account; prints its token once")
    staff.add_argument("--agency", default="chiyoda-city")
    staff.add_argument("--name", required=True)
    staff.add_argument("--role", choices=["reader", "decider"], default="reader")
    staff.set_defaults(func=cmd_staff)
    purge = jobs.add_parser("purge", help="delete the staff inbox's idle browser sessions (run periodically)")
    purge.add_argument("--batch", type=int, default=1000, help="rows per transaction (default 1000)")
    purge.set_defaults(func=cmd_purge)
