"""`mynaportal oidc …`: the operator's client registry (register, approve, suspend, list), the demo's two sandbox
relying parties, the one-file example relying party, and the purge of ended rows (imports stay inside the
commands)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

DEMO_KEYS = Path("var/oidc-demo-rps")
# The demo's relying parties: (client id, name, purpose, agency kind, port of the example RP).
DEMO_CLIENTS = (
    ("etaxsandbox", "e-Tax (sandbox)", "確定申告書の作成と提出 (医療費控除の自動入力)", "tax", 9100),
    ("nenkinsandbox", "ねんきんネット (sandbox)", "年金記録と年金見込額の確認", "pension", 9101),
)


def _run(work: Any) -> Any:
    from api.platform.errors import PortalError

    try:
        return asyncio.run(work)
    except PortalError as error:
        sys.exit(f"mynaportal oidc: {error.code}: {error}")


async def _with_factory(call: Any) -> Any:
    import api.people.models  # noqa: F401 (mapped: the tables a client's rows refer to)
    from api.platform.db import create_engine, create_session_factory
    from api.platform.settings import settings_for_command

    engine = create_engine(settings_for_command().database_url)
    try:
        return await call(create_session_factory(engine))
    finally:
        await engine.dispose()


def cmd_register(args: argparse.Namespace) -> None:
    from api.agencies.models import AgencyKind
    from api.oidc.clients import NewClient, register_client

    jwks = json.loads(Path(args.jwks).read_text())
    new = NewClient(client_id=args.client_id, name=args.name, purpose=args.purpose,
                    redirect_uris=tuple(args.redirect_uri), scopes=tuple(args.scope), jwks=jwks,
                    agency_kind=AgencyKind(args.agency_kind), rate_limit_per_minute=args.rate_limit,
                    consent_ttl_seconds=args.consent_ttl, require_par=args.require_par,
                    require_dpop=args.require_dpop)
    client = _run(_with_factory(lambda factory: register_client(factory, new)))
    print(f"{client.client_id}: {client.status.value} (approve with `mynaportal oidc approve {client.client_id}`)")


def _review(status: str) -> Any:
    def command(args: argparse.Namespace) -> None:
        from api.oidc.clients import review_client
        from api.oidc.models import ClientStatus

        client = _run(_with_factory(lambda f: review_client(f, args.client_id, ClientStatus(status))))
        print(f"{client.client_id}: {client.status.value}")
    return command


def cmd_list(_: argparse.Namespace) -> None:
    from api.oidc.clients import list_clients

    for client in _run(_with_factory(list_clients)):
        print(f"{client.client_id}\t{client.status.value}\t{client.name}\t{client.purpose}\t"
              f"{' '.join(client.redirect_uris)}")


async def _demo_clients(factory: Any, host: str) -> list[str]:
    from joserfc.jwk import ECKey
    from sqlalchemy import select

    from api.agencies.models import AgencyKind
    from api.oidc.clients import NewClient, register_client, review_client
    from api.oidc.models import ClientStatus, OidcClient

    DEMO_KEYS.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 (a one-off command, nothing else runs)
    done = []
    for client_id, name, purpose, kind, port in DEMO_CLIENTS:
        key_file = DEMO_KEYS / f"{client_id}.json"
        async with factory() as session:
            exists = await session.scalar(select(OidcClient.id).where(OidcClient.client_id == client_id))
        if exists is not None:
            if key_file.exists():
                done.append(client_id)
            continue  # without its key file the demo cannot act as this client: left as it is
        key = ECKey.generate_key("P-256", {"alg": "ES256"}, private=True)
        key.ensure_kid()
        key_file.write_text(json.dumps(key.as_dict(private=True)))
        key_file.chmod(0o600)
        await register_client(factory, NewClient(
            client_id=client_id, name=name, purpose=purpose, redirect_uris=(f"http://{host}:{port}/callback",),
            scopes=("openid", "name", "address", "birthdate", "gender", "selfinfo:tax-income", "selfinfo:pension"),
            jwks={"keys": [key.as_dict(private=False)]}, agency_kind=AgencyKind(kind)))
        await review_client(factory, client_id, ClientStatus.APPROVED)
        done.append(client_id)
    return done


def cmd_demo_clients(args: argparse.Namespace) -> None:
    from api.platform.settings import settings_for_command

    if settings_for_command().production:
        sys.exit("mynaportal oidc demo-clients: development only")
    ready = _run(_with_factory(lambda factory: _demo_clients(factory, args.host)))
    print(f"demo relying parties ready: {', '.join(ready)} (keys in {DEMO_KEYS}/)")


def cmd_purge(args: argparse.Namespace) -> None:
    from datetime import timedelta

    from api.oidc.purge import purge
    from api.platform.db import create_engine, utcnow
    from api.platform.settings import settings_for_command

    if args.batch < 1 or args.grace < 0:
        sys.exit("mynaportal oidc purge: --batch is at least 1, --grace at least 0")

    async def run() -> Any:
        engine = create_engine(settings_for_command().database_url)
        try:
            return await purge(engine, now=utcnow(), grace=timedelta(seconds=args.grace), batch=args.batch)
        finally:
            await engine.dispose()

    print(asyncio.run(run()))


def cmd_example_rp(args: argparse.Namespace) -> None:
    import uvicorn

    from api.oidc.example_rp import RelyingPartyConfig, create_rp_app, load_key
    from api.platform.settings import settings_for_command

    [(client_id, name, _, _, port)] = [c for c in DEMO_CLIENTS if c[0] == args.client] or [(
        args.client, args.client, "", "", args.port or 9100)]
    port = args.port or port
    config = RelyingPartyConfig(client_id=client_id, name=name,
                                issuer=(args.issuer or settings_for_command().public_url).rstrip("/"),
                                redirect_uri=f"http://{args.host}:{port}/callback",
                                key=load_key(Path(args.key) if args.key else DEMO_KEYS / f"{client_id}.json"))
    uvicorn.run(create_rp_app(config), host=args.host, port=port, log_level="warning")


def register(commands: Any) -> None:
    oidc = commands.add_parser("oidc", help="the OpenID Provider: relying parties (もっとつながる)",
                               description="Register and review relying parties; the demo's sandbox clients; the "
                                           "example relying party.")
    actions = oidc.add_subparsers(dest="oidc_command", required=True, metavar="ACTION")
    new = actions.add_parser("register", help="register a client (pending until approved)")
    new.add_argument("client_id")
    new.add_argument("--name", required=True)
    new.add_argument("--purpose", required=True, help="the client's one purpose, shown to people")
    new.add_argument("--redirect-uri", action="append", required=True, help="exact; repeat for several")
    new.add_argument("--scope", action="append", required=True, help="openid, name, …, selfinfo:<group>")
    new.add_argument("--jwks", required=True, help="file of the client's public JWK set (private_key_jwt)")
    new.add_argument("--agency-kind", default="ministry", help="how the client appears on people's records")
    new.add_argument("--rate-limit", type=int, default=600, help="requests per minute")
    new.add_argument("--consent-ttl", type=int, default=None, help="seconds a consent lasts (default: until "
                                                                   "withdrawn)")
    new.add_argument("--require-par", action="store_true",
                     help="require_pushed_authorization_requests: only pushed requests (RFC 9126)")
    new.add_argument("--require-dpop", action="store_true", help="DPoP-bound tokens only (RFC 9449)")
    new.set_defaults(func=cmd_register)
    for name, status in (("approve", "approved"), ("suspend", "suspended")):
        review = actions.add_parser(name, help=f"{name} a client" + (" (its tokens are revoked at once)"
                                                                      if name == "suspend" else ""))
        review.add_argument("client_id")
        review.set_defaults(func=_review(status))
    actions.add_parser("list", help="the registered clients").set_defaults(func=cmd_list)
    demo = actions.add_parser("demo-clients", help="register and approve the demo's sandbox clients (e-Tax, "
                                                   "ねんきんネット), their keys kept in var/oidc-demo-rps/")
    demo.add_argument("--host", default="127.0.0.1")
    demo.set_defaults(func=cmd_demo_clients)
    purge = actions.add_parser(
        "purge", help="delete expired codes, login and pushed requests, seen JWT ids, ended tokens (run often)",
        description="Delete, in short batches safe beside traffic, what has ended more than --grace seconds ago: "
                    "authorization codes (once no token names them), login requests, pushed authorization requests, "
                    "the JWT ids of client assertions and DPoP proofs, expired or revoked access tokens.")
    purge.add_argument("--batch", type=int, default=1000, help="rows per delete transaction")
    purge.add_argument("--grace", type=int, default=3600, help="seconds a row is kept after it ended")
    purge.set_defaults(func=cmd_purge)
    rp = actions.add_parser("example-rp", help="serve the one-file example relying party")
    rp.add_argument("--client", default="etaxsandbox")
    rp.add_argument("--host", default="127.0.0.1")
    rp.add_argument("--port", type=int, default=None)
    rp.add_argument("--issuer", default=None, help="the portal's public URL (default MYNAPORTAL_PUBLIC_URL)")
    rp.add_argument("--key", default=None, help="the client's private JWK (default: the demo's)")
    rp.set_defaults(func=cmd_example_rp)
