"""`mynaportal worker`, `mynaportal dev-push-service`, `mynaportal vapid-rotate`, `mynaportal delivery-service-add`."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any


def _settings() -> Any:
    from api.settings import Settings, SettingsError

    try:
        return Settings.from_env()
    except SettingsError as error:
        sys.exit(f"mynaportal: {error}")


async def _run_worker(args: argparse.Namespace) -> None:
    from api.db import create_engine, create_session_factory
    from api.logs import configure_logging
    from push.worker import Worker, WorkerConfig

    settings = _settings()
    configure_logging(settings.log_level)
    engine = create_engine(settings.database_url)
    config = WorkerConfig(
        data_key=settings.data_key, vapid_subject=settings.vapid_subject,
        ca_file=str(settings.push_ca_file) if settings.push_ca_file else None,
        allow_private_destinations=not settings.production, batch=args.batch, concurrency=args.concurrency,
        lease=timedelta(seconds=args.lease), request_timeout=args.timeout)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):  # finish the batch in hand, then exit
        loop.add_signal_handler(signum, stop.set)
    try:
        stats = await Worker(create_session_factory(engine), config).run(stop, exit_when_idle=args.once)
    finally:
        await engine.dispose()
    print(f"worker {config.worker_id}: claimed {stats.claimed}, delivered {stats.delivered}, "
          f"retried {stats.retried}, failed {stats.failed}, reminders {stats.reminders}", flush=True)


def cmd_worker(args: argparse.Namespace) -> None:
    asyncio.run(_run_worker(args))


def cmd_dev_push_service(args: argparse.Namespace) -> None:
    import uvicorn

    from push.dev_service import create_push_service
    from push.dev_tls import ensure_certificate

    if _settings().production:
        sys.exit("mynaportal: the local push service is a development tool")
    cert, key = ensure_certificate(Path(args.cert_dir))
    print(f"local push service on https://{args.host}:{args.port} (trust {cert}: "
          f"MYNAPORTAL_PUSH_CA_FILE={cert})", flush=True)
    uvicorn.run(create_push_service(f"https://{args.host}:{args.port}"), host=args.host, port=args.port,
                ssl_certfile=str(cert), ssl_keyfile=str(key), log_level="warning", access_log=False)


async def _with_session(work: Any) -> Any:
    from api.db import create_engine, create_session_factory

    settings = _settings()
    engine = create_engine(settings.database_url)
    try:
        async with create_session_factory(engine)() as session, session.begin():
            return await work(session, settings)
    finally:
        await engine.dispose()


def cmd_vapid_rotate(_: argparse.Namespace) -> None:
    from push.vapid import current_key, rotate_key, vapid_box

    async def rotate(session: Any, settings: Any) -> Any:
        await current_key(session, vapid_box(settings.data_key))
        return await rotate_key(session, vapid_box(settings.data_key))

    key = asyncio.run(_with_session(rotate))
    print(f"VAPID generation {key.generation}; applicationServerKey {key.public_key}\n"
          "new subscriptions use it; existing ones keep their key until the app re-subscribes")


def cmd_delivery_service_add(args: argparse.Namespace) -> None:
    from api.notices.delivery_services import register_service, webhook_box
    from api.webhooks import DestinationRefused

    async def add(session: Any, settings: Any) -> str:
        try:
            _, secret = await register_service(session, webhook_box(settings.data_key), slug=args.slug,
                                               name=args.name, webhook_url=args.url,
                                               allow_private=not settings.production)
        except DestinationRefused as refused:
            sys.exit(f"mynaportal: {refused}")
        return secret

    secret = asyncio.run(_with_session(add))
    print(f"delivery service {args.slug} added; its Standard Webhooks signing secret (shown once):\n{secret}")


def register(commands: Any) -> None:
    worker = commands.add_parser("worker", help="send queued notices (Web Push, delivery services) and reminders",
                                 description="Claim delivery jobs under a lease and send them; run any number "
                                             "of these processes. SIGTERM finishes the batch in hand.")
    worker.add_argument("--batch", type=int, default=200, help="jobs claimed per round (default 200)")
    worker.add_argument("--concurrency", type=int, default=32, help="requests in flight (default 32)")
    worker.add_argument("--lease", type=int, default=60, help="seconds a claim is held (default 60)")
    worker.add_argument("--timeout", type=float, default=10.0, help="seconds per request (default 10)")
    worker.add_argument("--once", action="store_true", help="exit when nothing is due")
    worker.set_defaults(func=cmd_worker)

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

    service = commands.add_parser("delivery-service-add", help="register a private delivery service (民間送達)",
                                  description="Prints the Standard Webhooks signing secret once.")
    service.add_argument("--slug", required=True)
    service.add_argument("--name", required=True)
    service.add_argument("--url", required=True, help="its webhook URL (https; public addresses in production)")
    service.set_defaults(func=cmd_delivery_service_add)
