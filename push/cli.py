"""`mynaportal dev-push-service`, `vapid-rotate` and `vapid-retire` (imports stay inside the commands)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any


def cmd_dev_push_service(args: argparse.Namespace) -> None:
    from hypercorn.asyncio import serve

    from api.platform.settings import settings_for_command
    from push.dev_service import create_push_service, server_config
    from push.dev_tls import ensure_certificate

    if settings_for_command().production:
        sys.exit("mynaportal: the local push service is a development tool")
    cert, key = ensure_certificate(Path(args.cert_dir))
    print(f"local push service on https://{args.host}:{args.port} (trust {cert}: "
          f"MYNAPORTAL_PUSH_CA_FILE={cert})", flush=True)
    config = server_config(args.host, args.port, str(cert), str(key))
    asyncio.run(serve(create_push_service(f"https://{args.host}:{args.port}"), config))  # type: ignore[arg-type]


async def _rotate_vapid_key() -> Any:
    from api.platform.db import create_engine, create_session_factory
    from api.platform.settings import settings_for_command
    from push.vapid import current_key, rotate_key, vapid_box

    settings = settings_for_command()
    engine = create_engine(settings.database_url)
    try:
        async with create_session_factory(engine)() as session, session.begin():
            await current_key(session, vapid_box(settings.data_key))  # generation 1 first on an empty database
            return await rotate_key(session, vapid_box(settings.data_key))
    finally:
        await engine.dispose()


def cmd_vapid_rotate(_: argparse.Namespace) -> None:
    key = asyncio.run(_rotate_vapid_key())
    print(f"VAPID generation {key.generation}; applicationServerKey {key.public_key}\n"
          "new subscriptions use it; existing ones keep their key until the app re-subscribes")


async def _retire_vapid_key(generation: int) -> None:
    from api.platform.db import create_engine, create_session_factory
    from api.platform.settings import settings_for_command
    from push.vapid import retire_key

    engine = create_engine(settings_for_command().database_url)
    try:
        async with create_session_factory(engine)() as session, session.begin():
            await retire_key(session, generation)
    finally:
        await engine.dispose()


def cmd_vapid_retire(args: argparse.Namespace) -> None:
    from api.platform.errors import PortalError

    try:
        asyncio.run(_retire_vapid_key(args.generation))
    except PortalError as error:
        sys.exit(f"mynaportal: {error.message}")
    print(f"VAPID generation {args.generation} deleted")


def register(commands: Any) -> None:
    dev = commands.add_parser("dev-push-service", help="run the local Web Push service (development, tests)",
                              description="An RFC 8030 push service on loopback with TLS: verifies VAPID, "
                                          "decrypts payloads, can be told to answer 410, 429 or 500.")
    dev.add_argument("--host", default="127.0.0.1")
    dev.add_argument("--port", type=int, default=8443)
    dev.add_argument("--cert-dir", default="var/dev-push-service")
    dev.set_defaults(func=cmd_dev_push_service)

    rotate = commands.add_parser("vapid-rotate", help="add a new VAPID key generation",
                                 description="New subscriptions use the new key; old ones keep theirs.")
    rotate.set_defaults(func=cmd_vapid_rotate)

    retire = commands.add_parser("vapid-retire", help="delete an old VAPID key generation no subscription uses",
                                 description="Refused for the newest generation and while any push subscription "
                                             "still uses it (the device must subscribe again first).")
    retire.add_argument("generation", type=int)
    retire.set_defaults(func=cmd_vapid_retire)
