"""`mynaportal sandbox ...`: issue virtual cards from the sandbox JPKI CA, revoke them (a lost card)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

DEFAULT_CARDS_DIR = Path("var/cards")


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    sandbox = commands.add_parser("sandbox", help="the sandbox JPKI CA: issue and revoke virtual cards",
                                  description="Development only: virtual My Number cards whose certificates "
                                              "come from the sandbox CA (MYNAPORTAL_SANDBOX_CA_DIR).")
    actions = sandbox.add_subparsers(dest="sandbox_command", required=True, metavar="ACTION")
    issue = actions.add_parser("issue-card", help="write a virtual card file for a person",
                               description="Issue a card for a person (by id or email) or, with --demo, for "
                                           "every demo person; write the virtual card file(s) for myna-bridge. "
                                           "PINs: the sandbox defaults (1234, ABC123, 5678) or three lines on "
                                           "stdin with --pin-stdin.")
    who = issue.add_mutually_exclusive_group(required=True)
    who.add_argument("--person", help="the person's id or email")
    who.add_argument("--demo", action="store_true", help="every person without an active card")
    issue.add_argument("--output", help="card file (default var/cards/<person>.json)")
    issue.add_argument("--pin-stdin", action="store_true",
                       help="read the auth PIN, signature password and card-info PIN from stdin")
    issue.set_defaults(func=cmd_issue_card)
    revoke = actions.add_parser("revoke-card", help="revoke a person's card (reported lost)",
                                description="Revoke the person's card, its certificates and phone credentials.")
    revoke.add_argument("--person", required=True, help="the person's id or email")
    revoke.set_defaults(func=cmd_revoke_card)


def _settings():  # type: ignore[no-untyped-def]
    from api.settings import Settings, SettingsError

    try:
        settings = Settings.from_env()
    except SettingsError as error:
        sys.exit(f"mynaportal: {error}")
    if settings.production or settings.sandbox_ca_dir is None:
        sys.exit("mynaportal: the sandbox CA is a development tool (production uses the real JPKI)")
    return settings


async def _find(session, wanted: str):  # type: ignore[no-untyped-def]
    from api.people.service import find_by_id_or_email

    found = await find_by_id_or_email(session, wanted)
    if found is None:
        sys.exit(f"mynaportal: no person with id or email {wanted!r} (run `mynaportal demo-seed`?)")
    return found


async def _issue(args: argparse.Namespace, pins: tuple[str, str, str] | None) -> list[tuple[str, Path]]:
    from sqlalchemy import select

    from api.db import create_engine, create_session_factory
    from api.identity.cards import issue_virtual_card
    from api.identity.pki_models import Card
    from api.identity.sandbox_ca import SandboxCA
    from api.people.individual_number import IndividualNumberCipher
    from api.people.models import Person
    from nfc_bridge.virtual_card.store import CardStore

    settings = _settings()
    ca = SandboxCA.load_or_create(settings.sandbox_ca_dir, settings.public_url)
    cipher = IndividualNumberCipher(settings.data_key, settings.lookup_key)
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
                kwargs = dict(zip(("auth_pin", "sign_password", "card_info_pin"), pins, strict=True)) if pins else {}
                _, data = await issue_virtual_card(session, ca, cipher, person.id, **kwargs)
                target = Path(args.output) if args.output and not args.demo else \
                    DEFAULT_CARDS_DIR / f"{(person.email or str(person.id)).split('@')[0]}.json"
                CardStore(target).save(data)
                written.append((person.name, target))
    finally:
        await engine.dispose()
    return written


def cmd_issue_card(args: argparse.Namespace) -> None:
    pins = None
    if args.pin_stdin:
        lines = [sys.stdin.readline().rstrip("\r\n") for _ in range(3)]
        if not all(lines):
            sys.exit("mynaportal: --pin-stdin expects three lines: auth PIN, signature password, card-info PIN")
        pins = (lines[0], lines[1], lines[2])
    try:
        written = asyncio.run(_issue(args, pins))
    except ValueError as error:  # PIN rules from the card builder
        sys.exit(f"mynaportal: {error}")
    if not written:
        print("every person already has a card")
    for name, path in written:
        print(f"virtual card for {name}: {path}")
    if written and not pins:
        print("PINs: authentication 1234, signature password ABC123, card-info 5678")


async def _revoke(person: str) -> int:
    from api.db import create_engine, create_session_factory, utcnow
    from api.identity.cards import revoke_card

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
