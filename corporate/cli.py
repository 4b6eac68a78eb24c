"""`mynaportal corporate ...`: import NTA files, generate synthetic ones, issue application ids."""

from __future__ import annotations

import argparse
import asyncio
import csv
import sys
from pathlib import Path
from typing import Any

from api.platform.settings import PROJECT_ROOT, Settings, settings_for_command

SAMPLE_DATA = PROJECT_ROOT.parent / "shared" / "data" / "corporate"


async def _import(settings: Settings, paths: list[Path], args: argparse.Namespace) -> int:
    from api.platform.db import create_engine
    from corporate.import_report import Rejection
    from corporate.importer import import_files
    from corporate.progress import ProgressBar

    # A local file the operator named, written as rejections come (small writes; not worth a thread).
    report_file = open(args.rejects, "w", newline="", encoding="utf-8") if args.rejects else None  # noqa: ASYNC230
    writer = csv.writer(report_file) if report_file else None
    if writer:
        writer.writerow(["file", "line", "reason"])

    def on_reject(rejection: Rejection) -> None:
        if writer:
            writer.writerow([rejection.source, rejection.line, rejection.reason])
        else:
            print(f"rejected {rejection.source} line {rejection.line}: {rejection.reason}", file=sys.stderr)

    engine = create_engine(settings.database_url)
    try:
        report = await import_files(engine, paths, batch_size=args.batch_size, encoding=args.encoding,
                                    progress=None if args.quiet else ProgressBar(), on_reject=on_reject,
                                    parallel=args.workers if args.workers and args.parallel is not False
                                    else args.parallel)
    finally:
        await engine.dispose()
        if report_file:
            report_file.close()
    print(f"{report.rows_read} lines read: {report.inserted} new states, {report.unchanged} already stored, "
          f"{report.rejected} rejected ({report.seconds:.1f} s, {report.rows_read / max(report.seconds, 1e-9):,.0f} "
          "rows/s)" + (f"; rejected lines listed in {args.rejects}" if args.rejects and report.rejected else ""))
    if report.bulk:
        print("bulk load into the empty table: " + ", ".join(f"{phase} {seconds:.1f} s"
                                                             for phase, seconds in report.phases.items()))
    return 1 if report.rejected else 0


def cmd_import(args: argparse.Namespace) -> None:
    paths = [Path(name) for name in args.files]
    missing = [str(path) for path in paths if not path.is_file()]
    if missing:
        sys.exit(f"mynaportal: no such file: {', '.join(missing)}")
    sys.exit(asyncio.run(_import(settings_for_command(), paths, args)))


def cmd_generate(args: argparse.Namespace) -> None:
    from corporate.generate import write

    write(Path(args.output), args.rows, seed=args.seed)
    print(f"wrote {args.rows} rows to {args.output}")


async def _app_id(settings: Settings, args: argparse.Namespace) -> None:
    from api.platform.db import create_engine, create_session_factory
    from corporate import application_ids

    engine = create_engine(settings.database_url)
    try:
        async with create_session_factory(engine)() as session, session.begin():
            if args.action == "create":
                try:
                    issued = await application_ids.issue(session, args.label)
                except application_ids.InvalidLabel as error:
                    sys.exit(f"mynaportal: {error}")
                print(f"application id for {issued.label} (shown once, keep it secret):\n{issued.application_id}")
            elif args.action == "revoke":
                revoked = await application_ids.revoke(session, args.application_id)
                print("revoked" if revoked else "no such active application id")
            else:
                row_id = await application_ids.resolve(session, args.application_id)
                usage = await application_ids.usage_of(session, row_id) if row_id else None
                if usage is None:
                    sys.exit("mynaportal: no such active application id")
                print(f"{usage.label} ({usage.hint}…): {usage.total_requests} requests")
                for day, count in usage.by_day:
                    print(f"  {day.isoformat()}  {count}")
    finally:
        await engine.dispose()


def cmd_app_id(args: argparse.Namespace) -> None:
    asyncio.run(_app_id(settings_for_command(), args))


async def _demo_load(settings: Settings) -> str:
    from sqlalchemy import exists, select

    from api.platform.db import create_engine
    from corporate.importer import import_files
    from corporate.models import Corporation

    files = sorted(SAMPLE_DATA.glob("*.zip"))
    engine = create_engine(settings.database_url)
    try:
        async with engine.connect() as connection:
            if await connection.scalar(select(exists().where(Corporation.id.isnot(None)))):
                return "corporate data already loaded"
        if not files:
            return f"no sample files in {SAMPLE_DATA}"
        report = await import_files(engine, files)
    finally:
        await engine.dispose()
    return f"loaded {report.inserted} corporations from {len(files)} files ({report.rejected} rejected lines)"


def cmd_demo_load(_: argparse.Namespace) -> None:
    print(asyncio.run(_demo_load(settings_for_command())))


def register(commands: Any) -> None:
    corporate = commands.add_parser("corporate", help="corporate-number data: import, generate, application ids",
                                    description="Corporate-number (法人番号) data and its public API.")
    actions = corporate.add_subparsers(dest="corporate_command", required=True, metavar="ACTION")

    load = actions.add_parser("import", help="import NTA full-data or diff files (zip or csv)",
                              description="Import NTA CSV files (Unicode or Shift-JIS; 23/28/29/30 columns; "
                                          "zipped or not). Idempotent; rejected lines are reported, never fatal. "
                                          "Exit status 1 when any line was rejected.")
    load.add_argument("files", nargs="+", metavar="FILE")
    load.add_argument("--encoding", choices=("utf-8", "cp932"), help="skip detection (default: detect)")
    load.add_argument("--rejects", metavar="CSV", help="write rejected lines (file, line, reason) here "
                                                       "instead of to stderr")
    load.add_argument("--batch-size", type=int, default=5000, help="rows per batch (default 5000): a transaction each, "
                                                                    "unless the table was empty (one bulk load)")
    load.add_argument("--quiet", action="store_true", help="no progress bar")
    load.add_argument("--parallel", action=argparse.BooleanOptionalAction, default=None,
                      help="parse in worker processes while this one writes (default: on SQLite, for 16 MiB "
                           "of CSV or more)")
    load.add_argument("--workers", type=int, metavar="N", help="parsing processes with --parallel (default: one "
                                                                "per core but one)")
    load.set_defaults(func=cmd_import)

    generate = actions.add_parser("generate", help="write a synthetic full-data file in the real format",
                                  description="Write N rows of synthetic 30-column Unicode CSV (valid check digits).")
    generate.add_argument("--rows", type=int, required=True)
    generate.add_argument("--output", required=True, metavar="FILE")
    generate.add_argument("--seed", type=int, default=1)
    generate.set_defaults(func=cmd_generate)

    app_id = actions.add_parser("app-id", help="issue, revoke or inspect an application id",
                                description="Application ids of the public API /corporate/4/...")
    app_actions = app_id.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = app_actions.add_parser("create", help="issue an id at once (printed once)")
    create.add_argument("label", help="who it is for (a business name)")
    for name, help_text in (("revoke", "revoke an id"), ("usage", "requests per day of an id")):
        parser = app_actions.add_parser(name, help=help_text)
        parser.add_argument("application_id")
    app_id.set_defaults(func=cmd_app_id)

    demo = actions.add_parser("demo-load", help="import the sample NTA files (Aomori, overseas) if none is loaded",
                              description=f"Import {SAMPLE_DATA}/*.zip into an empty corporations table.")
    demo.set_defaults(func=cmd_demo_load)
