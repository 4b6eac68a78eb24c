"""`mynaportal records purge`: the record's 7-year retention (imports stay inside the command)."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any


async def _purge(batch: int) -> str:
    from api.history.retention import purge
    from api.platform.db import create_engine, utcnow
    from api.platform.settings import settings_for_command

    engine = create_engine(settings_for_command().database_url)
    try:
        report = await purge(engine, now=utcnow(), batch=batch)
    finally:
        await engine.dispose()
    return (f"records purge: dropped {len(report.dropped_partitions)} month partitions "
            f"{' '.join(report.dropped_partitions)}".rstrip()
            + f", made {len(report.created_partitions)}, deleted {report.exchange_rows} exchange and "
              f"{report.access_rows} access entries older than 7 years")


def cmd_purge(args: argparse.Namespace) -> None:
    print(asyncio.run(_purge(args.batch)))


def _records_jobs(commands: Any) -> Any:
    """The `records` group's sub-commands (the transparency log's group when it has one, else a new group)."""
    records = commands.choices.get("records")
    if records is None:
        records = commands.add_parser("records", help="the person's record (やりとり履歴): retention",
                                      description="Jobs on the person's record.")
        return records.add_subparsers(dest="records_command", required=True, metavar="JOB")
    return next(action for action in records._actions if isinstance(action, argparse._SubParsersAction))


def register(commands: Any) -> None:
    purge = _records_jobs(commands).add_parser(
        "purge", help="remove entries of the person's record older than 7 years (run daily)",
        description="Drop month partitions of exchange_records wholly older than 7 years (PostgreSQL) and make the "
                    "next months' partitions; delete older exchange and access entries by rows (SQLite, the default "
                    "partition, the boundary month). The transparency log's leaves are never deleted.")
    purge.add_argument("--batch", type=int, default=10_000, help="rows per delete transaction")
    purge.set_defaults(func=cmd_purge)
