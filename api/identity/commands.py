"""`mynaportal sandbox ...`: issue cards from the sandbox JPKI CA, revoke them (a lost card); `mynaportal operator
report-lost`: the lost-card hotline's report for a caller who can no longer sign in (production too); `mynaportal
purge`: delete expired login state.

A card is issued as a bundle of PEM keys, certificates and card facts; the card bridge makes the virtual card
file from it (`myna-bridge virtual-card load`), so the card-file format stays in nfc_bridge."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from datetime import date
from pathlib import Path
from typing import Any

DEFAULT_CARDS_DIR = Path("var/cards")
BUNDLE_SUFFIX = ".issuance.json"  # `myna-bridge virtual-card load var/cards` takes every such file


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    sandbox = commands.add_parser("sandbox", help="the sandbox JPKI CA: issue and revoke virtual cards",
                                  description="Development only: virtual My Number cards whose certificates "
                                              "come from the sandbox CA (MYNAPORTAL_SANDBOX_CA_DIR).")
    actions = sandbox.add_subparsers(dest="sandbox_command", required=True, metavar="ACTION")
    issue = actions.add_parser("issue-card", help="write a card issuance bundle for a person",
                               description="Issue a card for a person (by id or email) or, with --demo, for "
                                           "every person without an active card; write its issuance bundle "
                                           "(keys, certificates, card facts; no PINs). `myna-bridge "
                                           "virtual-card load BUNDLE` makes the virtual card from it.")
    who = issue.add_mutually_exclusive_group(required=True)
    who.add_argument("--person", help="the person's id or email")
    who.add_argument("--demo", action="store_true", help="every person without an active card")
    issue.add_argument("--output", help=f"bundle file (default {DEFAULT_CARDS_DIR}/<person>{BUNDLE_SUFFIX})")
    issue.set_defaults(func=cmd_issue_card)
    revoke = actions.add_parser("revoke-card", help="revoke a person's card (reported lost)",
                                description="Revoke the person's card, its certificates and phone credentials.")
    revoke.add_argument("--person", required=True, help="the person's id or email")
    revoke.set_defaults(func=cmd_revoke_card)
    purge = commands.add_parser("purge", help="delete expired login challenges, TV sign-ins, access tokens, "
                                              "ended web sessions",
                                description="Delete expired login challenges, finished "
                                            "or expired TV sign-ins, access tokens expired over a day ago and the "
                                            "web portal's ended sessions, in batches. Run it periodically (cron, a "
                                            "systemd timer). The staff inbox's sessions: `mynaportal applications "
                                            "purge`.")
    purge.add_argument("--batch", type=int, default=1000, help="rows per transaction (default 1000)")
    purge.set_defaults(func=cmd_purge)

    operator = commands.add_parser("operator", help="the lost-card hotline's actions on a person's record",
                                   description="For a caller who has lost the card (and phone) and cannot sign in.")
    operator_actions = operator.add_subparsers(dest="operator_command", required=True, metavar="ACTION")
    report = operator_actions.add_parser(
        "report-lost", help="revoke a caller's card after checking their identity",
        description="Check the caller's name and birth date against the person's record, then revoke the card, "
                    "its phone credentials and every session from them. The report and the person's access "
                    "record name the operator.")
    report.add_argument("--person", required=True, help="the person's id or email")
    report.add_argument("--name", required=True, help="the name the caller gave")
    report.add_argument("--birth-date", required=True, type=_date, help="the birth date the caller gave, YYYY-MM-DD")
    report.add_argument("--operator", required=True, help="the operator's name or staff id")
    report.add_argument("--verified-by", required=True,
                        help="how the caller was verified, e.g. 'call back to the registered number'")
    report.set_defaults(func=cmd_operator_report_lost)


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from error


def _settings():  # type: ignore[no-untyped-def]
    from api.platform.settings import settings_for_command

    settings = settings_for_command()
    if settings.production or settings.sandbox_ca_dir is None:
        sys.exit("mynaportal: the sandbox CA is a development tool (production uses the real JPKI)")
    return settings


async def _find(session, wanted: str):  # type: ignore[no-untyped-def]
    from api.people.service import find_by_id_or_email

    found = await find_by_id_or_email(session, wanted)
    if found is None:
        sys.exit(f"mynaportal: no person with id or email {wanted!r} (run `mynaportal demo-seed`?)")
    return found


def _write_private(path: Path, text: str) -> None:
    """The bundle holds the card's private keys: readable by its owner only, from the first byte."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w", encoding="utf-8") as handle:
        handle.write(text)


async def _issue(args: argparse.Namespace) -> list[tuple[str, Path]]:
    from sqlalchemy import select

    from api.identity.cards import issue_virtual_card
    from api.identity.pki_models import Card
    from api.identity.sandbox_ca import SandboxCA
    from api.people.individual_number import cipher_for
    from api.people.models import Person
    from api.platform.db import create_engine, create_session_factory

    settings = _settings()
    ca = SandboxCA.load_or_create(settings.sandbox_ca_dir, settings.public_url)
    cipher = cipher_for(settings)
    engine = create_engine(settings.database_url)
    written = []
    try:
        async with create_session_factory(engine)() as session, session.begin():
            if args.demo:
                carded = select(Card.person_id).where(Card.revoked_at.is_(None))
                people = list(await session.scalars(select(Person).where(Person.id.not_in(carded))
                                                    .order_by(Person.birth_date)))
            else:
                people = [await _find(session, args.person)]
            for person in people:
                _, issuance = await issue_virtual_card(session, ca, cipher, person.id)
                target = Path(args.output) if args.output and not args.demo else \
                    DEFAULT_CARDS_DIR / f"{(person.email or str(person.id)).split('@')[0]}{BUNDLE_SUFFIX}"
                _write_private(target, issuance.to_json())
                written.append((person.name, target))
    finally:
        await engine.dispose()
    return written


def cmd_issue_card(args: argparse.Namespace) -> None:
    written = asyncio.run(_issue(args))
    if not written:
        print("every person already has a card")
    for name, path in written:
        print(f"card issuance bundle for {name}: {path}")
    if written:
        print("make the virtual card: myna-bridge virtual-card load BUNDLE (--sandbox-pins: 1234, ABC123, 5678)")


async def _revoke(person: str) -> int:
    from api.identity.cards import revoke_card
    from api.platform.db import create_engine, create_session_factory, utcnow

    settings = _settings()
    engine = create_engine(settings.database_url)
    try:
        async with create_session_factory(engine)() as session, session.begin():
            found = await _find(session, person)
            return await revoke_card(session, found.id, now=utcnow())
    finally:
        await engine.dispose()


def cmd_revoke_card(args: argparse.Namespace) -> None:
    count = asyncio.run(_revoke(args.person))
    print(f"revoked {count} certificates" if count else "no active card to revoke")


async def _purge(batch: int):  # type: ignore[no-untyped-def]
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from api.identity.purge import purge
    from api.platform.db import create_engine, create_session_factory, utcnow
    from api.platform.settings import settings_for_command

    settings = settings_for_command()
    engine = create_engine(settings.database_url)
    # Totals are unknown until the last batch: a running count per table, on stderr, redrawn on a terminal.
    with Progress(SpinnerColumn(), TextColumn("purging {task.description}: {task.completed:,.0f} rows"),
                  TimeElapsedColumn(), transient=True, console=Console(stderr=True)) as progress:
        tasks: dict[str, Any] = {}

        def on_batch(table: str, deleted: int) -> None:
            if table not in tasks:
                tasks[table] = progress.add_task(table, total=None)
            progress.advance(tasks[table], deleted)

        try:
            return await purge(create_session_factory(engine), now=utcnow(), batch=batch, on_batch=on_batch)
        finally:
            await engine.dispose()


def cmd_purge(args: argparse.Namespace) -> None:
    if args.batch < 1:
        sys.exit("mynaportal: --batch must be at least 1")
    done = asyncio.run(_purge(args.batch))
    print(f"purged {done.challenges} challenges, {done.device_grants} device grants, "
          f"{done.access_tokens} access tokens, {done.web_sessions} web sessions")


async def _operator_report(args: argparse.Namespace) -> tuple[str, int]:
    from api.identity.loss_reports import report_lost_by_operator
    from api.platform.db import create_engine, create_session_factory, utcnow
    from api.platform.errors import PortalError
    from api.platform.settings import settings_for_command

    engine = create_engine(settings_for_command().database_url)
    try:
        async with create_session_factory(engine)() as session, session.begin():
            report = await report_lost_by_operator(session, args.person, operator=args.operator, name=args.name,
                                                   birth_date=args.birth_date, verified_by=args.verified_by,
                                                   now=utcnow())
    except PortalError as refused:
        sys.exit(f"mynaportal: {refused.message} Nothing was revoked.")
    finally:
        await engine.dispose()
    return args.person, report.certificates_revoked


def cmd_operator_report_lost(args: argparse.Namespace) -> None:
    person, count = asyncio.run(_operator_report(args))
    print(f"{person}: revoked {count} certificates and ended their sessions" if count
          else f"{person}: no active card to revoke (the report is recorded)")
