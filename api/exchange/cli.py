"""`mynaportal exchange ...`: the legal table, and the walkthrough `make run` prints."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import Any

from api.platform.settings import settings_for_command


def cmd_table(_: argparse.Namespace) -> None:
    from api.exchange.legal_table import legal_table

    table = legal_table()
    print(f"{table.instrument} (as of {table.as_of}, table version {table.version})")
    for row in table.rows:
        print(f"  {row.id:<16} {row.duty:<44} {row.requester} -> {row.provider}: {', '.join(sorted(row.items))}")


async def _walkthrough(args: argparse.Namespace) -> None:
    from api.exchange.views import answer_json
    from api.exchange.walkthrough import walkthrough
    from api.platform.db import create_engine, create_session_factory
    from api.records.log import integrate, verified_leaf_proof
    from api.records.signing import LogSigner

    settings = settings_for_command()
    engine = create_engine(settings.database_url)
    try:
        factory = create_session_factory(engine)
        done = await walkthrough(factory, email=args.email, requester=args.requester,
                                 provider=args.provider, outside_provider=args.outside)
        # What `mynaportal records sequence` does every half second while the portal serves.
        signer = LogSigner.from_settings(settings)
        async with factory() as session:
            await integrate(session, signer)
        async with factory() as session:
            proof = await verified_leaf_proof(session, done.answer.record.log_leaf_id, signer.public_keys())
    finally:
        await engine.dispose()
    answer = answer_json(done.answer)
    item = answer["items"][0] if answer["items"] else {"value": "(no copy held)"}
    print(f"  {args.requester} asked {args.provider} for {args.email}'s 地方税関係情報 for 児童手当 "
          f"(別表第二 {answer['legalRow']['row']}, query {answer['queryId']}):")
    print(f"    {json.dumps(item['value'], ensure_ascii=False)}")
    print(f"  {args.requester} asked {args.outside} for 医療保険給付関係情報 for 児童手当: refused "
          f"{done.refused.code.value} (query {done.refused.extensions['queryId']}), and on the record too")
    if proof is not None:
        print(f"  {args.email} sees both on their record (recordHistory); the first is leaf {proof.index} of the "
              f"transparency log, its inclusion proof verified against the signed tree head of size {proof.head.size}")


def cmd_walkthrough(args: argparse.Namespace) -> None:
    asyncio.run(_walkthrough(args))


async def _client_certificate(args: argparse.Namespace) -> None:
    from api.agencies import client_certificates
    from api.agencies.credentials import agency_by_slug
    from api.platform.db import create_engine, create_session_factory
    from api.platform.errors import PortalError

    engine = create_engine(settings_for_command().database_url)
    try:
        async with create_session_factory(engine)() as session, session.begin():
            agency = await agency_by_slug(session, args.agency)
            if agency is None:
                raise SystemExit(f"mynaportal: no agency {args.agency!r}")
            if args.action == "add":
                try:
                    done = await client_certificates.register_client_certificate(session, agency.id,
                                                                                 args.file.read_bytes())
                except PortalError as error:
                    raise SystemExit(f"mynaportal: {error.code.value}: {error.message}") from error
                print(f"{args.agency}: {done.fingerprint} {done.subject} (until {done.not_after.isoformat()})")
            elif args.action == "revoke":
                if not await client_certificates.revoke_client_certificate(session, agency.id, args.fingerprint):
                    raise SystemExit(f"mynaportal: {args.agency} has no live certificate {args.fingerprint}")
                print(f"{args.agency}: revoked {args.fingerprint}")
            else:
                for row in await client_certificates.list_client_certificates(session, agency.id):
                    print(f"{row.fingerprint} {row.subject} (until {row.not_after.isoformat()})")
    finally:
        await engine.dispose()


def cmd_client_certificate(args: argparse.Namespace) -> None:
    asyncio.run(_client_certificate(args))


def register(commands: Any) -> None:
    exchange = commands.add_parser("exchange", help="the information-exchange network: legal table, walkthrough",
                                   description="The information-exchange network (情報提供ネットワークシステム).")
    jobs = exchange.add_subparsers(dest="exchange_command", required=True, metavar="COMMAND")
    table = jobs.add_parser("table", help="print the legal table (別表第二 rows) in force")
    table.set_defaults(func=cmd_table)
    walk = jobs.add_parser("walkthrough", help="run one lawful and one refused exchange for a demo person")
    walk.add_argument("--email", default="taro@example.jp")
    walk.add_argument("--requester", default="chiyoda-city")
    walk.add_argument("--provider", default="yokohama-city")
    walk.add_argument("--outside", default="kyokai-kenpo", help="a provider the table does not allow")
    walk.set_defaults(func=cmd_walkthrough)
    certificates = jobs.add_parser("client-certificate", help="an agency's TLS client certificates (mutual TLS)",
                                   description="Register, list or revoke the TLS client certificates an agency's "
                                               "system presents on the agency API (pinned by SHA-256).")
    actions = certificates.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = actions.add_parser("add", help="register a PEM or DER certificate for an agency")
    add.add_argument("agency", help="the agency's slug")
    add.add_argument("file", type=Path)
    listed = actions.add_parser("list", help="the agency's live certificates")
    listed.add_argument("agency")
    revoke = actions.add_parser("revoke", help="revoke a certificate by its SHA-256 fingerprint (hex)")
    revoke.add_argument("agency")
    revoke.add_argument("fingerprint")
    certificates.set_defaults(func=cmd_client_certificate)
