"""`mynaportal records …`: the log's sequencer, its auditor and its public keys (imports inside commands)."""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import sys
import time
from typing import Any

from api.platform.settings import settings_for_command


def register(commands: Any) -> None:
    records = commands.add_parser("records", help="the exchange records' transparency log: sequence, audit, keys",
                                  description="The RFC 9162 log of every exchange record (やりとり履歴).")
    jobs = records.add_subparsers(dest="records_command", required=True, metavar="JOB")
    sequence = jobs.add_parser("sequence", help="integrate pending leaves in batches and sign tree heads",
                               description="Run the sequencer: each round gives pending leaves their indexes, "
                                           "stores the subtrees they complete and signs a tree head. One at a "
                                           "time per database (others wait their turn).")
    sequence.add_argument("--interval", type=float, default=0.5, help="seconds between rounds (default 0.5)")
    sequence.add_argument("--batch", type=int, default=4096, help="most leaves per round (default 4096)")
    sequence.add_argument("--once", action="store_true", help="integrate everything pending, then exit")
    sequence.set_defaults(func=cmd_sequence)
    audit = jobs.add_parser("audit", help="recompute the whole log and check every node and signed head",
                            description="Exit status 0 when the log verifies; 1 with the first bad leaf, node "
                                        "or tree head named otherwise.")
    audit.set_defaults(func=cmd_audit)
    keys = jobs.add_parser("keys", help="print the tree-head public keys (generation: base64 Ed25519)")
    keys.set_defaults(func=cmd_keys)


def _signer(settings: Any) -> Any:
    from api.records.signing import LogSigner, LogSigningUnavailable

    try:
        return LogSigner.from_settings(settings)
    except LogSigningUnavailable as error:
        sys.exit(f"mynaportal: {error}")


async def _sequence(settings: Any, signer: Any, interval: float, batch: int, once: bool) -> int:
    from api.platform.db import create_engine, create_session_factory, dispose_engine
    from api.records.log import integrate

    engine = create_engine(settings.database_url)
    sessions = create_session_factory(engine)
    integrated = 0
    try:
        while True:
            started = time.monotonic()
            async with sessions() as session:
                head = await integrate(session, signer, batch_size=batch)
            if head is not None:
                integrated = head.size
                print(json.dumps({"treeSize": head.size, "seconds": round(time.monotonic() - started, 4)}),
                      flush=True)
            if once and head is None:
                return integrated
            if head is None or not once:
                await asyncio.sleep(interval)
    finally:
        await dispose_engine(engine)


def cmd_sequence(args: argparse.Namespace) -> None:
    settings = settings_for_command()
    asyncio.run(_sequence(settings, _signer(settings), args.interval, args.batch, args.once))


async def _audit(settings: Any, public_keys: dict[int, bytes]) -> Any:
    from api.platform.db import create_engine, create_session_factory, dispose_engine
    from api.records.audit import audit_log

    engine = create_engine(settings.database_url)
    try:
        async with create_session_factory(engine, read_only=True)() as session:
            return await audit_log(session, public_keys)
    finally:
        await dispose_engine(engine)


def cmd_audit(_: argparse.Namespace) -> None:
    settings = settings_for_command()
    report = asyncio.run(_audit(settings, _signer(settings).public_keys()))
    print(json.dumps({"ok": report.ok, "leaves": report.leaves, "treeHeads": report.heads,
                      "problems": report.problems}, ensure_ascii=False))
    if not report.ok:
        sys.exit(1)


def cmd_keys(_: argparse.Namespace) -> None:
    keys = _signer(settings_for_command()).public_keys()
    print(json.dumps({str(gen): base64.b64encode(key).decode() for gen, key in keys.items()}))
