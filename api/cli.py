"""The `mynaportal` command."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from api.applications import cli as applications_cli
from api.certificates import cli as certificates_cli
from api.exchange import cli as exchange_cli
from api.history import cli as history_cli
from api.identity import commands as identity_commands
from api.notices import cli as notices_cli
from api.oidc import cli as oidc_cli
from api.people import commands as people_commands
from api.platform.settings import Settings, settings_for_command
from api.records import cli as records_cli
from corporate import cli as corporate_cli
from payments import cli as payments_cli
from push import cli as push_cli

DESCRIPTION = "Mynaportal backend: serve the API, migrate the database, load demo data, export the schema."
# Each domain's `register(commands)` adds its subcommands to the `mynaportal` command (those modules import
# their work inside the commands, so `--help` stays fast).
COMMAND_GROUPS: tuple[Callable[[Any], None], ...] = (
    identity_commands.register, corporate_cli.register, payments_cli.register, notices_cli.register,
    push_cli.register, people_commands.register, records_cli.register, exchange_cli.register,
    applications_cli.register,
    history_cli.register,  # after records_cli: it adds `records purge` to that group
    oidc_cli.register,
    certificates_cli.register,
)


def cmd_serve(args: argparse.Namespace) -> None:
    import uvicorn

    from api.platform.rate_limits import is_shared

    settings = settings_for_command()
    workers = args.workers or settings.workers
    if workers > 1 and not is_shared(settings.rate_limit_storage):
        # Each worker would count alone: N workers would allow N times every rate limit.
        sys.exit("mynaportal: --workers above 1 needs shared rate limits: set MYNAPORTAL_RATE_LIMIT_STORAGE="
                 "redis://host:6379/0")
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # prometheus-client's multiprocess mode (api.platform.metrics): each worker writes its samples to files
        # here, and /metrics adds up every worker's. Read by prometheus-client at import, so set before the
        # workers start; a fresh directory each start, so no dead worker's samples linger.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="mynaportal-metrics-")
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=args.host or settings.host,
        port=args.port or settings.port,
        workers=workers,
        log_config=None,  # our JSON, redacting handler
        proxy_headers=False,
        access_log=False,  # api.access logs each request once, with its id and duration
        ws_max_size=settings.max_body_graphql,  # what api.platform.limits allows a message, refused sooner
    )


def cmd_serve_agencies(args: argparse.Namespace) -> None:
    """The agency API's mutual-TLS listener: the app behind the TLS terminator (api.platform.client_tls)."""
    import asyncio
    import signal

    from api.app import create_app
    from api.platform.client_tls import serve_agency_listener, server_context

    settings = settings_for_command()
    files = settings.agency_tls_certificate, settings.agency_tls_key, settings.agency_client_ca
    if None in files:
        sys.exit("mynaportal: serve-agencies needs MYNAPORTAL_AGENCY_TLS_CERTIFICATE, _TLS_KEY and _CLIENT_CA")
    context = server_context(*files)  # type: ignore[arg-type]

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        async with serve_agency_listener(create_app(settings), context, args.host or settings.host,
                                         args.port or settings.agency_tls_port) as (host, port):
            print(f"agency API (mutual TLS) on https://{host}:{port}", flush=True)
            await stop.wait()

    asyncio.run(serve())


def cmd_migrate(args: argparse.Namespace) -> None:
    from api.migrate import migrate_sync

    migrate_sync(settings_for_command(), args.revision)
    print(f"database migrated to {args.revision}")


async def _demo_seed(settings: Settings) -> bool:
    from api.demo import seed_demo, seed_demo_inbox
    from api.people.individual_number import cipher_for
    from api.platform.db import create_engine, create_session_factory

    engine = create_engine(settings.database_url)
    try:
        async with create_session_factory(engine)() as session, session.begin():
            seed = await seed_demo(session, cipher_for(settings))
            if seed.created:  # the father (山田 太郎): notices and a payment due for the web portal and the apps
                await seed_demo_inbox(session, seed.people[0], today=date.today())
    finally:
        await engine.dispose()
    return seed.created


def cmd_demo_seed(_: argparse.Namespace) -> None:
    created = asyncio.run(_demo_seed(settings_for_command()))
    print("demo data loaded" if created else "the database already holds people: demo data left as it is")


async def _token(settings: Settings, person: str | None, ttl: timedelta) -> tuple[str, str]:
    from api.demo import DEMO_EMAIL
    from api.identity.tokens import issue_token
    from api.people.service import find_by_id_or_email
    from api.platform.db import create_engine, create_session_factory

    engine = create_engine(settings.database_url)
    try:
        async with create_session_factory(engine)() as session, session.begin():
            wanted = person or DEMO_EMAIL
            found = await find_by_id_or_email(session, wanted)
            if found is None:
                sys.exit(f"mynaportal: no person with id or email {wanted!r} (run `mynaportal demo-seed`?)")
            token = await issue_token(session, found.id, ttl=ttl, client="mynaportal-cli")
            return token, found.name
    finally:
        await engine.dispose()


def cmd_token(args: argparse.Namespace) -> None:
    settings = settings_for_command()
    if settings.production:
        sys.exit("mynaportal: `token` is a development tool; production signs in with the card")
    ttl = timedelta(seconds=args.ttl) if args.ttl else settings.access_token_ttl
    token, name = asyncio.run(_token(settings, args.person, ttl))
    if args.quiet:
        print(token)
    else:
        print(f"bearer token for {name} (valid {int(ttl.total_seconds())} s):\n{token}")


async def _agency_key(settings: Settings, slug: str, label: str, scopes: frozenset[str] | None) -> str:
    from api.agencies.credentials import AGENCY_SCOPES, agency_by_slug, issue_agency_key
    from api.platform.db import create_engine, create_session_factory

    engine = create_engine(settings.database_url)
    try:
        async with create_session_factory(engine)() as session, session.begin():
            agency = await agency_by_slug(session, slug)
            if agency is None:
                sys.exit(f"mynaportal: no agency with slug {slug!r}")
            try:
                return await issue_agency_key(session, agency.id, label=label, scopes=scopes or AGENCY_SCOPES)
            except ValueError as error:
                sys.exit(f"mynaportal: {error}")
    finally:
        await engine.dispose()


def cmd_agency_key(args: argparse.Namespace) -> None:
    scopes = frozenset(args.scope) if args.scope else None
    print(asyncio.run(_agency_key(settings_for_command(), args.agency, args.label, scopes)))


def cmd_export_schema(args: argparse.Namespace) -> None:
    from api.schema import SCHEMA_FILE, schema_sdl

    target = Path(args.output) if args.output else SCHEMA_FILE
    target.write_text(schema_sdl(), encoding="utf-8")
    print(f"wrote {target}")


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="mynaportal", description=DESCRIPTION)
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="serve the backend with uvicorn",
                                description="Serve the Starlette app (GraphQL at /graphql, /healthz, /readyz) "
                                            "with uvicorn. Settings come from MYNAPORTAL_* variables.")
    serve.add_argument("--host", help="bind address (default MYNAPORTAL_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default MYNAPORTAL_PORT or 8000)")
    serve.add_argument("--workers", type=int, help="worker processes (use PostgreSQL for more than one)")
    serve.set_defaults(func=cmd_serve)
    agencies = commands.add_parser("serve-agencies", help="serve the agency API over mutual TLS",
                                   description="Serve the app behind a TLS listener that asks agencies' systems "
                                               "for their client certificate (MYNAPORTAL_AGENCY_TLS_*).")
    agencies.add_argument("--host", help="bind address (default MYNAPORTAL_HOST or 127.0.0.1)")
    agencies.add_argument("--port", type=int, help="port (default MYNAPORTAL_AGENCY_TLS_PORT or 8443)")
    agencies.set_defaults(func=cmd_serve_agencies)

    migrate = commands.add_parser("migrate", help="apply database migrations (Alembic)",
                                  description="Upgrade (or downgrade) the database in MYNAPORTAL_DATABASE_URL.")
    migrate.add_argument("revision", nargs="?", default="head", help="target revision (default: head)")
    migrate.set_defaults(func=cmd_migrate)

    seed = commands.add_parser("demo-seed", help="load demo data into an empty database",
                               description="Load one municipality, five agencies and three people (two "
                                           "parents and their child) if the database holds no person yet.")
    seed.set_defaults(func=cmd_demo_seed)

    export = commands.add_parser("export-schema", help="write the GraphQL SDL to graphql/schema.graphql",
                                 description="Export the schema from the code; a test fails when the "
                                             "committed file is stale.")
    export.add_argument("--output", help="another file to write to")
    export.set_defaults(func=cmd_export_schema)

    token = commands.add_parser("token", help="print a bearer token for a demo person (development only)",
                                description="Issue an access token for a person, by id or email (default: "
                                            "the demo person taro@example.jp). Card login replaces this.")
    token.add_argument("--person", help="the person's id or email")
    token.add_argument("--ttl", type=int, help="lifetime in seconds (default MYNAPORTAL_ACCESS_TOKEN_TTL)")
    token.add_argument("--quiet", action="store_true", help="print only the token")
    token.set_defaults(func=cmd_token)

    agency_key = commands.add_parser("agency-key", help="issue an API key for an agency's own systems",
                                     description="Print a new API key for the agency (shown once; stored as a "
                                                 "hash). Agencies publish notices and create payment orders "
                                                 "with it, never with a person's token.")
    agency_key.add_argument("--agency", required=True, help="the agency's slug, e.g. chiyoda-city")
    agency_key.add_argument("--label", default="cli", help="what the key is for")
    agency_key.add_argument("--scope", action="append", help="a scope to grant (repeatable; default: all)")
    agency_key.set_defaults(func=cmd_agency_key)

    for register in COMMAND_GROUPS:
        register(commands)
    return root


def main(argv: list[str] | None = None) -> None:
    from api.platform.logs import install_redaction

    install_redaction()  # every command's records, whichever handler writes them
    args = parser().parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
