"""`mynaportal worker` and `mynaportal delivery-service-add` (imports stay inside the commands)."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from datetime import timedelta
from typing import Any


async def _run_worker(args: argparse.Namespace) -> None:
    from api.notices.worker import Worker, WorkerConfig
    from api.platform.db import create_engine, create_session_factory
    from api.platform.logs import configure_logging
    from api.platform.settings import settings_for_command

    settings = settings_for_command()
    configure_logging(settings.log_level)
    engine = create_engine(settings.database_url)
    config = WorkerConfig(
        data_key=settings.data_key, vapid_subject=settings.vapid_subject,
        previous_data_keys=settings.previous_data_keys,
        ca_file=str(settings.push_ca_file) if settings.push_ca_file else None,
        allow_private_destinations=not settings.production, batch=args.batch, concurrency=args.concurrency,
        lease=timedelta(seconds=args.lease), request_timeout=args.timeout, http2=args.http2)
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


async def _add_delivery_service(args: argparse.Namespace) -> tuple[str, str]:
    from api.notices.delivery_services import new_fetch_key, register_service, webhook_box
    from api.platform.db import create_engine, create_session_factory
    from api.platform.settings import settings_for_command
    from api.platform.webhooks import DestinationRefused

    settings = settings_for_command()
    engine = create_engine(settings.database_url)
    try:
        async with create_session_factory(engine)() as session, session.begin():
            _, secret = await register_service(session, webhook_box(settings.data_key), slug=args.slug,
                                               name=args.name, webhook_url=args.url,
                                               allow_private=not settings.production)
            key = await new_fetch_key(session, args.slug)
    except DestinationRefused as refused:
        sys.exit(f"mynaportal: {refused}")
    finally:
        await engine.dispose()
    return secret, key


def cmd_delivery_service_add(args: argparse.Namespace) -> None:
    secret, key = asyncio.run(_add_delivery_service(args))
    print(f"delivery service {args.slug} added; its Standard Webhooks signing secret (shown once):\n{secret}\n"
          f"its key for fetching the documents offered to it (Authorization: Bearer, shown once):\n{key}")


async def _service_secret(args: argparse.Namespace) -> str | bool:
    from datetime import timedelta

    from api.notices.delivery_services import LinkRefused, retire_previous_secret, rotate_service_secret, webhook_box
    from api.platform.db import create_engine, create_session_factory, utcnow
    from api.platform.settings import settings_for_command

    settings = settings_for_command()
    engine = create_engine(settings.database_url)
    try:
        async with create_session_factory(engine)() as session, session.begin():
            if args.retire:
                return await retire_previous_secret(session, args.slug)
            return await rotate_service_secret(session, webhook_box(settings.data_key), args.slug,
                                               grace=timedelta(hours=args.grace_hours), now=utcnow())
    except LinkRefused as refused:
        sys.exit(f"mynaportal: {refused.message}")
    finally:
        await engine.dispose()


def cmd_delivery_service_secret(args: argparse.Namespace) -> None:
    if args.grace_hours <= 0:
        sys.exit("mynaportal: --grace-hours must be positive")
    result = asyncio.run(_service_secret(args))
    if args.retire:
        print(f"delivery service {args.slug}: the previous secret no longer signs" if result else
              f"delivery service {args.slug} had no previous secret")
    else:
        print(f"delivery service {args.slug}: new Standard Webhooks signing secret (shown once); messages carry "
              f"both signatures for {args.grace_hours} h, then only the new one:\n{result}")


async def _reseal() -> int:
    from api.notices.secrets_at_rest import reseal_secrets
    from api.platform.db import create_engine, create_session_factory
    from api.platform.settings import settings_for_command

    settings = settings_for_command()
    engine = create_engine(settings.database_url)
    try:
        async with create_session_factory(engine)() as session, session.begin():
            return await reseal_secrets(session, settings.data_key, settings.previous_data_keys)
    finally:
        await engine.dispose()


def cmd_secrets_reseal(_: argparse.Namespace) -> None:
    from cryptography.exceptions import InvalidTag

    try:
        count = asyncio.run(_reseal())
    except InvalidTag:
        sys.exit("mynaportal: a secret opens under none of MYNAPORTAL_DATA_KEY and MYNAPORTAL_PREVIOUS_DATA_KEYS")
    print(f"{count} secrets sealed under the current MYNAPORTAL_DATA_KEY; MYNAPORTAL_PREVIOUS_DATA_KEYS can go")


async def _expand(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from api.notices.expansion import expand_next, pending_expansions
    from api.platform.db import create_engine, create_session_factory
    from api.platform.settings import settings_for_command

    settings = settings_for_command()
    engine = create_engine(settings.database_url)
    factory = create_session_factory(engine)
    written = 0
    try:
        async with factory() as session:
            pending = await pending_expansions(session)
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("rows"),
                      TimeRemainingColumn(), disable=args.quiet) as progress:
            bars = {p.notice_id: progress.add_task(p.title[:40], total=p.total, completed=p.expanded)
                    for p in pending}
            while (chunk := await expand_next(factory, chunk=args.chunk)) is not None:
                written += chunk.written
                if chunk.notice_id not in bars:  # published since we looked
                    bars[chunk.notice_id] = progress.add_task(str(chunk.notice_id)[:8], total=None)
                progress.update(bars[chunk.notice_id], completed=chunk.expanded)
                if chunk.finished:
                    progress.update(bars[chunk.notice_id], total=chunk.expanded)
                if args.pause:
                    await asyncio.sleep(args.pause)
    finally:
        await engine.dispose()
    return written


def cmd_notices_expand(args: argparse.Namespace) -> None:
    if args.chunk < 1:
        sys.exit("mynaportal: --chunk must be at least 1")
    written = asyncio.run(_expand(args))
    print(f"{written} recipients written; nothing left to expand", flush=True)


def register(commands: Any) -> None:
    worker = commands.add_parser("worker", help="send queued notices (Web Push, delivery services) and reminders",
                                 description="Claim delivery jobs under a lease and send them; run any number "
                                             "of these processes. SIGTERM finishes the batch in hand.")
    worker.add_argument("--batch", type=int, default=200, help="jobs claimed per round (default 200)")
    worker.add_argument("--concurrency", type=int, default=32, help="requests in flight (default 32)")
    worker.add_argument("--lease", type=int, default=60, help="seconds a claim is held (default 60)")
    worker.add_argument("--timeout", type=float, default=10.0, help="seconds per request (default 10)")
    worker.add_argument("--once", action="store_true", help="exit when nothing is due")
    worker.add_argument("--http2", action=argparse.BooleanOptionalAction, default=True,
                        help="push over HTTP/2, one connection per push service (default; --no-http2: HTTP/1.1)")
    worker.set_defaults(func=cmd_worker)

    service = commands.add_parser("delivery-service-add", help="register a private delivery service (民間送達)",
                                  description="Prints the Standard Webhooks signing secret once.")
    service.add_argument("--slug", required=True)
    service.add_argument("--name", required=True)
    service.add_argument("--url", required=True, help="its webhook URL (https; public addresses in production)")
    service.set_defaults(func=cmd_delivery_service_add)

    secret = commands.add_parser("delivery-service-secret", help="rotate a delivery service's webhook secret",
                                 description="Print a new signing secret once; the old one keeps signing beside "
                                             "it (two signatures per message) for the grace period or until "
                                             "--retire.")
    secret.add_argument("--slug", required=True)
    secret.add_argument("--grace-hours", type=float, default=24.0, help="how long the old secret still signs "
                                                                        "(default 24)")
    secret.add_argument("--retire", action="store_true", help="stop signing with the previous secret now")
    secret.set_defaults(func=cmd_delivery_service_secret)

    expand = commands.add_parser("notices-expand", help="expand notices to segments into recipients now",
                                 description="Write the recipients and delivery jobs of notices published to a "
                                             "segment or everyone, chunk by chunk (workers do this too); resumes "
                                             "wherever a killed run stopped, and shows the progress.")
    expand.add_argument("--chunk", type=int, default=5000, help="people per transaction (default 5000)")
    expand.add_argument("--pause", type=float, default=0.0, help="seconds between chunks, to spare the database")
    expand.add_argument("--quiet", action="store_true", help="no progress bar")
    expand.set_defaults(func=cmd_notices_expand)

    reseal = commands.add_parser("secrets-reseal", help="seal the secrets at rest under a new MYNAPORTAL_DATA_KEY",
                                 description="After MYNAPORTAL_DATA_KEY changed (the old one in "
                                             "MYNAPORTAL_PREVIOUS_DATA_KEYS): seal every VAPID private key and "
                                             "webhook secret under the new key. Safe to run again.")
    reseal.set_defaults(func=cmd_secrets_reseal)
