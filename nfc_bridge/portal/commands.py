"""`myna-bridge login`, `myna-bridge phone-credential issue` and `myna-bridge apply`.

``register(subparsers)`` adds them to the main command; each sets ``portal_command``, which ``run(args)``
dispatches. Also runnable alone: ``python -m nfc_bridge.portal login --server URL``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from nfc_bridge.card_access import PinSource, add_card_options, open_card

DEFAULT_SERVER = "http://127.0.0.1:8000"


def _portal_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--server", default=DEFAULT_SERVER, help=f"portal URL (default {DEFAULT_SERVER})")
    parser.add_argument("--client-id", default=None, help="the app id the login is bound to")
    parser.add_argument("--store", type=Path, help="where tokens and the phone key live (default "
                                                   "~/.config/myna-bridge)")


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    login = subparsers.add_parser("login", help="log in to the portal with the card (or --phone) and keep the "
                                                "tokens")
    add_card_options(login)
    _portal_options(login)
    login.add_argument("--phone", action="store_true", help="log in with the stored phone credential instead")
    login.set_defaults(portal_command="login")

    phone = subparsers.add_parser("phone-credential", help="the smartphone credential (スマホ用電子証明書)")
    actions = phone.add_subparsers(dest="phone_action", required=True)
    issue = actions.add_parser("issue", help="play the phone: make a key, have the card vouch, store the "
                                             "certificates (log in with the card first)")
    add_card_options(issue)
    _portal_options(issue)
    issue.set_defaults(portal_command="phone-credential-issue")

    apply = subparsers.add_parser("apply", help="sign an application (ぴったりサービス) with the card's signature "
                                                "certificate and send it (log in with the card first)")
    add_card_options(apply)
    _portal_options(apply)
    apply.add_argument("--application", required=True, help="the application's id (startApplication's id)")
    apply.set_defaults(portal_command="apply")


def run(args: argparse.Namespace) -> int:
    from nfc_bridge.errors import CardError, PinBlockedError, WrongPinError
    from nfc_bridge.portal.client import DEFAULT_CLIENT_ID, PortalClient, PortalError
    from nfc_bridge.portal.store import Store

    store = Store(args.store)
    pins = PinSource(args.pin_stdin)
    client = PortalClient(args.server, client_id=args.client_id or DEFAULT_CLIENT_ID)
    try:
        if args.portal_command == "login" and args.phone:
            phone = store.load_phone()
            if phone is None:
                print("myna-bridge: no phone credential stored; run `myna-bridge phone-credential issue`",
                      file=sys.stderr)
                return 1
            session = client.phone_login(phone)
        elif args.portal_command == "login":
            with open_card(args) as card:
                session = client.card_login(card, pins.get("authentication PIN (4 digits)"))
        else:
            session = store.load_session()
            if session is None or session.server != client.server:
                print("myna-bridge: log in first (`myna-bridge login --server ...`)", file=sys.stderr)
                return 1
            session = client.refresh(session)  # a fresh 15-minute access token for the issuance
            store.save_session(session)
            if args.portal_command == "apply":
                with open_card(args) as card:
                    sent = client.sign_application(card, pins.get("signature password"), session,
                                                   args.application)
                print(f"sent: 受付番号 {sent['receptionNumber']} ({sent['status']})")
                return 0
            with open_card(args) as card:
                phone = client.issue_phone_credential(card, pins.get("signature password"), session)
            store.save_phone(phone)
            print(f"phone credential issued and stored in {store.phone_path}")
            return 0
        store.save_session(session)
        print(f"logged in to {client.server} ({' '.join(session.scopes)}); tokens stored in {store.session_path}")
        return 0
    except PortalError as error:
        suffix = f" (retry in {error.retry_after} s)" if error.retry_after else ""
        print(f"myna-bridge: {error}{suffix}", file=sys.stderr)
    except PinBlockedError:
        print("myna-bridge: PIN_BLOCKED: the PIN is blocked; it can only be reset at the municipal office",
              file=sys.stderr)
    except WrongPinError as error:
        print(f"myna-bridge: WRONG_PIN: {error.tries_left} tries left", file=sys.stderr)
    except CardError as error:
        print(f"myna-bridge: CARD_ERROR: {error}", file=sys.stderr)
    finally:
        client.close()
    return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="myna-bridge", description="My Number card bridge: portal login")
    register(parser.add_subparsers(dest="command", required=True))
    return run(parser.parse_args(argv))
