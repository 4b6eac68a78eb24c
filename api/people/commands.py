"""`mynaportal keys ...`: the individual number's key generations (status, add, re-encrypt, retire)."""

from __future__ import annotations

import argparse
import asyncio
import base64
import secrets
import sys
from typing import Any


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    keys = commands.add_parser("keys", help="key generations of the individual number: status, add, reencrypt, "
                                            "retire",
                               description="Rotate the individual number's data key (AES-256-GCM) and lookup "
                                           "key (HMAC-SHA256) without downtime: add a generation, restart the "
                                           "servers (they write with it and still read the old one), run "
                                           "`reencrypt`, then `retire` the old one.")
    actions = keys.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("status", help="rows per key generation").set_defaults(func=cmd_status)
    add = actions.add_parser("add", help="a new generation: generated inside the PKCS#11 token, or printed "
                                         "for MYNAPORTAL_DATA_KEYS / _LOOKUP_KEYS")
    _kind(add)
    add.set_defaults(func=cmd_add)
    reencrypt = actions.add_parser("reencrypt", help="move every row to the newest generations (resumable)")
    reencrypt.add_argument("--batch", type=int, default=500, help="rows per transaction (default 500)")
    reencrypt.set_defaults(func=cmd_reencrypt)
    retire = actions.add_parser("retire", help="forget an old generation (refused while rows use it)")
    _kind(retire)
    retire.add_argument("generation", type=int)
    retire.set_defaults(func=cmd_retire)


def _kind(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--data", dest="kind", action="store_const", const="data", help="the data key")
    group.add_argument("--lookup", dest="kind", action="store_const", const="lookup", help="the lookup key")


async def _with_cipher(work: Any) -> Any:
    from api.people.individual_number import cipher_for
    from api.platform.db import create_engine, create_session_factory, dispose_engine
    from api.platform.settings import settings_for_command

    settings = settings_for_command()
    try:
        cipher = cipher_for(settings)
    except ValueError as error:
        sys.exit(f"mynaportal: {error}")
    engine = create_engine(settings.database_url)
    try:
        return await work(create_session_factory(engine), cipher, settings)
    finally:
        await dispose_engine(engine)


def cmd_status(_: argparse.Namespace) -> None:
    from api.people.key_rotation import rotation_status

    async def work(factory: Any, cipher: Any, _: Any) -> Any:
        return await rotation_status(factory, cipher)

    status = asyncio.run(_with_cipher(work))
    for kind in ("data", "lookup"):
        active = status.active[kind]
        rows = ", ".join(f"generation {g}: {n} rows" for g, n in sorted(status.rows[kind].items(), reverse=True))
        print(f"{kind} key: writes with generation {active[0]}, reads {', '.join(map(str, active))}; "
              f"{rows or 'no rows'}")
    moved = status.total - status.pending
    print(f"{moved}/{status.total} rows on the newest generations ({status.pending} to re-encrypt)")


def cmd_add(args: argparse.Namespace) -> None:
    from api.platform.keys import key_source_for
    from api.platform.settings import settings_for_command

    settings = settings_for_command()
    if settings.key_source == "pkcs11":
        source = key_source_for(settings)
        generation = source.add_generation(args.kind)
        print(f"generated {args.kind} key generation {generation} inside the token (label "
              f"mynaportal-{args.kind}-{generation}); restart the servers, then run `mynaportal keys reencrypt`")
        return
    configured = settings.data_keys if args.kind == "data" else settings.lookup_keys
    generation = max((g for g, _ in configured), default=1) + 1
    name = "MYNAPORTAL_DATA_KEYS" if args.kind == "data" else "MYNAPORTAL_LOOKUP_KEYS"
    print(f"put this first in {name} (newest first), restart the servers, then run `mynaportal keys reencrypt`:")
    print(f"{generation}:{base64.b64encode(secrets.token_bytes(32)).decode()}")


def cmd_reencrypt(args: argparse.Namespace) -> None:
    from api.people.key_rotation import BatchProgress, ReencryptionFailed, reencrypt

    def show(progress: BatchProgress) -> None:
        rate = progress.moved / progress.elapsed if progress.elapsed else 0.0
        print(f"moved {progress.moved}/{progress.pending_at_start} rows ({progress.batches} batches, "
              f"{rate:.0f} rows/s)", flush=True)

    async def work(factory: Any, cipher: Any, _: Any) -> int:
        return await reencrypt(factory, cipher, batch=args.batch, on_batch=show)

    try:
        moved = asyncio.run(_with_cipher(work))
    except (ValueError, ReencryptionFailed) as error:
        sys.exit(f"mynaportal: {error}")
    print(f"done: {moved} rows moved to the newest generations")


def cmd_retire(args: argparse.Namespace) -> None:
    from api.people.key_rotation import retire_generation
    from api.platform.errors import PortalError

    async def work(factory: Any, cipher: Any, settings: Any) -> str:
        await retire_generation(factory, cipher, args.kind, args.generation)
        return settings.key_source

    try:
        source = asyncio.run(_with_cipher(work))
    except PortalError as error:
        sys.exit(f"mynaportal: {error.message}")
    if source == "pkcs11":
        print(f"{args.kind} key generation {args.generation} destroyed in the token")
    else:
        name = "MYNAPORTAL_DATA_KEYS" if args.kind == "data" else "MYNAPORTAL_LOOKUP_KEYS"
        print(f"no row uses {args.kind} key generation {args.generation}: remove it from {name} and restart")
