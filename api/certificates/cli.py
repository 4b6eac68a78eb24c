"""`mynaportal certificates …`: register a kiosk (its key is shown once), revoke an issued certificate."""

from __future__ import annotations

import asyncio
from typing import Any


async def _register_kiosk(terminal: str, store: str, operator: str) -> str:
    from api.certificates.kiosk import register_kiosk
    from api.platform.db import create_engine, create_session_factory
    from api.platform.settings import settings_for_command

    engine = create_engine(settings_for_command().database_url)
    try:
        async with create_session_factory(engine)() as session, session.begin():
            kiosk, key = await register_kiosk(session, terminal_id=terminal, store_name=store, operator=operator)
    finally:
        await engine.dispose()
    return f"kiosk {kiosk.terminal_id} ({operator} {store}) registered; its key (shown once): {key}"


async def _void(public_id: str, reason: str) -> str:
    from api.certificates.service import void
    from api.platform.db import create_engine, create_session_factory
    from api.platform.settings import settings_for_command

    engine = create_engine(settings_for_command().database_url)
    try:
        done = await void(create_session_factory(engine), public_id, reason=reason)
    finally:
        await engine.dispose()
    return f"certificate {public_id}: {'revoked' if done else 'unknown or already revoked'}"


def register(commands: Any) -> None:
    group = commands.add_parser("certificates", help="certificates (住民票 …) and コンビニ交付 kiosks",
                                description="Operate certificate issuance.")
    jobs = group.add_subparsers(dest="certificates_command", required=True, metavar="JOB")
    kiosk = jobs.add_parser("register-kiosk", help="register a kiosk terminal and print its key once")
    kiosk.add_argument("--terminal", required=True)
    kiosk.add_argument("--store", required=True)
    kiosk.add_argument("--operator", required=True)
    kiosk.set_defaults(func=lambda a: print(asyncio.run(_register_kiosk(a.terminal, a.store, a.operator))))
    revoke = jobs.add_parser("revoke", help="revoke an issued certificate: its QR page says so at once")
    revoke.add_argument("public_id", help="the id in the certificate's QR code URL")
    revoke.add_argument("--reason", required=True)
    revoke.set_defaults(func=lambda a: print(asyncio.run(_void(a.public_id, a.reason))))



