"""`myna-bridge login`, `myna-bridge phone-credential issue`, `myna-bridge apply` and `myna-bridge kiosk`.

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

    kiosk = subparsers.add_parser("kiosk", help="play a convenience-store kiosk (コンビニ交付): authenticate the card "
                                                "through the kiosk API, obtain a certificate, write its PDF")
    add_card_options(kiosk)
    kiosk.add_argument("--server", default=DEFAULT_SERVER, help=f"portal URL (default {DEFAULT_SERVER})")
    kiosk.add_argument("--kiosk-key", required=True,
                       help="the terminal's key (`mynaportal certificates register-kiosk` shows it once)")
    kiosk.add_argument("--certificate", default="resident-record",
                       choices=["resident-record", "resident-record-items", "seal", "family-register-all",
                                "family-register-person", "tax"],
                       help="住民票の写し (default), 記載事項証明書, 印鑑登録証明書, 戸籍 (謄本, 抄本), 課税証明書")
    kiosk.add_argument("--household", action="store_true", help="世帯全員 (default: the card holder alone)")
    kiosk.add_argument("--honseki", action="store_true", help="show 本籍 and 筆頭者")
    kiosk.add_argument("--receipt", default=None, help="the fee's receipt number at the kiosk (default: a new one)")
    kiosk.add_argument("--output", type=Path, default=Path("certificate.pdf"),
                       help="where the \"printed\" PDF goes (default certificate.pdf)")
    kiosk.set_defaults(portal_command="kiosk")


def run(args: argparse.Namespace) -> int:
    from nfc_bridge.errors import CardError, PinBlockedError, WrongPinError
    from nfc_bridge.portal.client import DEFAULT_CLIENT_ID, PortalClient, PortalError
    from nfc_bridge.portal.store import Store

    pins = PinSource(args.pin_stdin)
    if args.portal_command == "kiosk":
        return _kiosk(args, pins)
    store = Store(args.store)
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


def _kiosk(args: argparse.Namespace, pins: PinSource) -> int:
    import secrets

    from nfc_bridge.errors import CardError, PinBlockedError, WrongPinError
    from nfc_bridge.portal.client import PortalError
    from nfc_bridge.portal.kiosk import KioskClient

    client = KioskClient(args.server, args.kiosk_key)
    options = {name: True for name in ("household", "honseki") if getattr(args, name)}
    session_id = None
    try:
        with open_card(args) as card:
            session_id = client.open_session(card, pins.get("authentication PIN (4 digits)"))
            print(f"card authenticated at the kiosk (session {session_id})")
            printed = client.obtain(session_id, args.certificate, options,
                                    args.receipt or f"R-{secrets.token_hex(6)}", args.output)
            print(f"printed: {args.certificate} {printed.serial} ({printed.pages} pages, fee {printed.fee} yen), "
                  f"{printed.size:,} bytes -> {printed.path}")
        return 0
    except PortalError as error:
        print(f"myna-bridge: {error}", file=sys.stderr)
    except PinBlockedError:
        print("myna-bridge: PIN_BLOCKED: the PIN is blocked; it can only be reset at the municipal office",
              file=sys.stderr)
    except WrongPinError as error:
        print(f"myna-bridge: WRONG_PIN: {error.tries_left} tries left", file=sys.stderr)
    except CardError as error:
        print(f"myna-bridge: CARD_ERROR: {error}", file=sys.stderr)
    finally:
        if session_id is not None:  # the card leaves the reader: the kiosk session ends
            try:
                client.end_session(session_id)
            except PortalError as error:
                print(f"myna-bridge: ending the kiosk session: {error}", file=sys.stderr)
        client.close()
    return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="myna-bridge", description="My Number card bridge: portal login")
    register(parser.add_subparsers(dest="command", required=True))
    return run(parser.parse_args(argv))
