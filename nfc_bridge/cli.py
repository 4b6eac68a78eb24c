"""`myna-bridge`: read My Number cards and run virtual ones.

PINs come from a hidden prompt or, with --pin-stdin, one per line on stdin; never from arguments,
never logged. The individual number is masked unless --show-number.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from nfc_bridge.card_access import READERS_MISSING, PinSource, add_card_options, open_card
from nfc_bridge.card_info import Basic4Info, mask_individual_number
from nfc_bridge.errors import CardError, PinBlockedError, WrongPinError
from nfc_bridge.helper import DEFAULT_PORT, cmd_serve
from nfc_bridge.jpki import DIGEST_SIZE, Cert, Key, Pin
from nfc_bridge.portal.commands import register as register_portal_commands
from nfc_bridge.portal.commands import run as run_portal_command


def cmd_readers(args: argparse.Namespace) -> int:
    try:
        from nfc_bridge.transports.pcsc import list_readers
    except ModuleNotFoundError as error:
        raise CardError(READERS_MISSING) from error

    readers = list_readers()
    if not readers:
        print("no PC/SC readers")
    for i, name in enumerate(readers):
        print(f"{i}: {name}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    with open_card(args) as card:
        token = card.token()
        print(f"token: {token.name} ({token.kind.value})")
        for pin in (Pin.AUTH, Pin.SIGN, Pin.CARD_INFO):
            print(f"{pin.description}: {card.pin_tries_left(pin)} of {pin.max_tries} tries left")
    return 0


def _describe(der: bytes) -> str:
    cert = x509.load_der_x509_certificate(der)
    return (f"  subject: {cert.subject.rfc4514_string()}\n  issuer:  {cert.issuer.rfc4514_string()}\n"
            f"  serial:  {cert.serial_number:X}\n"
            f"  valid:   {cert.not_valid_before_utc:%Y-%m-%d} .. {cert.not_valid_after_utc:%Y-%m-%d}")


def cmd_certs(args: argparse.Namespace, pins: PinSource) -> int:
    wanted = [Cert.AUTH, Cert.AUTH_CA, Cert.SIGN_CA]
    with open_card(args) as card:
        if args.sign:
            card.verify_pin(Pin.SIGN, pins.get("signature password"))
            wanted.insert(2, Cert.SIGN)
        for cert in wanted:
            der = card.read_certificate(cert)
            if args.pem:
                sys.stdout.write(x509.load_der_x509_certificate(der).public_bytes(
                    serialization.Encoding.PEM).decode())
            else:
                print(f"{cert.name} (EF {cert.value:04X}):\n{_describe(der)}")
    return 0


def cmd_info(args: argparse.Namespace, pins: PinSource) -> int:
    with open_card(args) as card:
        info = card.read_basic4(pins.get("card-info PIN (4 digits)"))
        number = card.read_individual_number()
    print(f"name:       {info.name}\naddress:    {info.address}\nbirth date: {info.birth_date.isoformat()}\n"
          f"sex:        {info.sex_label}")
    print(f"individual number: {number if args.show_number else mask_individual_number(number)}")
    return 0


def cmd_sign(args: argparse.Namespace, pins: PinSource) -> int:
    key = Key.SIGN if args.key == "sign" else Key.AUTH
    if args.digest:
        digest = bytes.fromhex(args.digest)
        if len(digest) != DIGEST_SIZE[args.hash]:
            raise SystemExit(f"myna-bridge: a {args.hash} digest is {DIGEST_SIZE[args.hash]} bytes")
    else:
        digest = hashlib.new(args.hash, Path(args.file).read_bytes()).digest()
    with open_card(args) as card:
        what = "signature password" if key is Key.SIGN else "authentication PIN (4 digits)"
        card.verify_pin(key.pin, pins.get(what))
        signature = card.sign_digest(key, digest, args.hash)
    if args.output:
        Path(args.output).write_bytes(signature)
    else:
        print(signature.hex())
    return 0


def cmd_virtual_new(args: argparse.Namespace, pins: PinSource) -> int:
    from nfc_bridge.virtual_card.ca import CardCA
    from nfc_bridge.virtual_card.personalise import TOKEN_ANDROID, TOKEN_CARD
    from nfc_bridge.virtual_card.store import CardStore

    if args.ca and Path(args.ca).exists():
        ca = CardCA.load(Path(args.ca))
    else:
        ca = CardCA.generate(args.algorithm)
        if args.ca:
            ca.save(Path(args.ca))
    person = Basic4Info(args.name, args.address, dt.date.fromisoformat(args.birth_date), args.sex)
    data = ca.issue_card(person, args.number, auth_pin=pins.get("new authentication PIN (4 digits)"),
                         sign_password=pins.get("new signature password (6-16 A-Z 0-9)"),
                         card_info_pin=pins.get("new card-info PIN (4 digits)"),
                         token=TOKEN_ANDROID if args.phone else TOKEN_CARD)
    CardStore(Path(args.card)).save(data)
    print(f"virtual card written to {args.card}")
    return 0


def cmd_virtual_load(args: argparse.Namespace, pins: PinSource) -> int:
    from nfc_bridge.virtual_card.issuance import bundles_in, card_from_bundle, card_path_for
    from nfc_bridge.virtual_card.personalise import SANDBOX_PINS, CardPins
    from nfc_bridge.virtual_card.store import CardStore

    bundles = bundles_in(args.bundles)
    if args.card and len(bundles) != 1:
        raise SystemExit("myna-bridge: --card names the card of exactly one bundle")
    if not bundles:
        print("no issuance bundles to load")
        return 0
    chosen = SANDBOX_PINS if args.sandbox_pins else CardPins(
        pins.get("new authentication PIN (4 digits)"), pins.get("new signature password (6-16 A-Z 0-9)"),
        pins.get("new card-info PIN (4 digits)"))
    for bundle in bundles:
        data = card_from_bundle(bundle.read_text(encoding="utf-8"), chosen)
        card = Path(args.card) if args.card else card_path_for(bundle)
        CardStore(card).save(data)
        bundle.unlink()  # it holds the card's private keys; the card file now does
        print(f"virtual card for {data.card_info.name}: {card}")
    return 0


def cmd_virtual_show(args: argparse.Namespace) -> int:
    from nfc_bridge.virtual_card.store import CardStore

    data = CardStore(Path(args.card)).load()
    info = data.card_info
    print(f"token: {data.token}")
    print(f"holder: {info.name}, born {info.birth_date}, individual number "
          f"{info.individual_number if args.show_number else mask_individual_number(info.individual_number)}")
    for name, record in data.pins.items():
        print(f"PIN {name}: {record.tries_left}/{record.max_tries} tries left")
    for label in ("auth_cert", "sign_cert"):
        print(f"{label}:\n{_describe(data.der(label))}")
    return 0


def cmd_emulate(args: argparse.Namespace) -> int:
    from nfc_bridge.virtual_card.card import load_virtual_card

    card = load_virtual_card(args.card, signature_delay=args.signature_delay)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    server: object
    if args.pcsc:
        from nfc_bridge.virtual_card.vpcd import VpcdCardServer

        host, _, port = args.pcsc.partition(":")
        server = VpcdCardServer(card, host or "127.0.0.1", int(port or 35963)).start()
        print(f"virtual card inserted into vpcd at {host or '127.0.0.1'}:{port or 35963}", flush=True)
    else:
        from nfc_bridge.virtual_card.nfc_udp import NfcUdpCardServer

        host, _, port = args.nfc_udp.rpartition(":")
        server = NfcUdpCardServer(card, host or "localhost", int(port)).start()
        print(f"virtual NFC-B card listening on udp:{host or 'localhost'}:{port}", flush=True)
    try:
        while not stop.wait(0.2):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()  # type: ignore[attr-defined]
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="myna-bridge", description="My Number card (JPKI) bridge")
    sub = parser.add_subparsers(dest="command", required=True)

    def card_command(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text)
        add_card_options(p)
        return p

    sub.add_parser("readers", help="list PC/SC readers")
    card_command("status", "token type and PIN tries left")
    p = card_command("certs", "show certificates")
    p.add_argument("--pem", action="store_true", help="print PEM instead of a summary")
    p.add_argument("--sign", action="store_true", help="include the signature certificate (asks the password)")
    p = card_command("info", "basic 4 info and individual number (asks the card-info PIN)")
    p.add_argument("--show-number", action="store_true", help="print the individual number unmasked")
    p = card_command("sign", "sign a file or a digest")
    p.add_argument("--key", choices=["auth", "sign"], default="auth")
    p.add_argument("--hash", choices=["sha256", "sha384", "sha512"], default="sha256")
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--file")
    group.add_argument("--digest", help="hex digest")
    p.add_argument("--output", "-o", help="write the raw signature here (default: hex on stdout)")

    virtual = sub.add_parser("virtual-card", help="create, load and inspect virtual card files")
    vsub = virtual.add_subparsers(dest="virtual_command", required=True)
    p = vsub.add_parser("new", help="create a virtual card file (asks three new PINs)")
    p.add_argument("card")
    p.add_argument("--ca", help="CA PEM bundle to issue from (created there if missing)")
    p.add_argument("--algorithm", choices=["rsa2048", "ec-p384"], default="rsa2048")
    p.add_argument("--name", default="番号　花子")
    p.add_argument("--address", default="東京都千代田区霞が関２－１－２")
    p.add_argument("--birth-date", default="1990-04-01")
    p.add_argument("--sex", choices=["0", "1", "2", "9"], default="2")
    p.add_argument("--number", default="621498320257", help="a valid 12-digit individual number")
    p.add_argument("--phone", action="store_true", help="emulate the Android smartphone token")
    p.add_argument("--pin-stdin", action="store_true")
    p = vsub.add_parser("load", help="make virtual card files from issuance bundles (`mynaportal sandbox "
                                     "issue-card`), then delete the bundles (they hold the card keys)")
    p.add_argument("bundles", nargs="+", type=Path, metavar="BUNDLE",
                   help="a bundle, or a folder: every *.issuance.json in it")
    p.add_argument("--card", help="the card file, for one bundle (default: the bundle's name without .issuance)")
    chosen = p.add_mutually_exclusive_group()
    chosen.add_argument("--pin-stdin", action="store_true", help="read the three new PINs from stdin")
    chosen.add_argument("--sandbox-pins", action="store_true",
                        help="set the sandbox defaults: authentication 1234, signature ABC123, card-info 5678")
    p = vsub.add_parser("show", help="show a virtual card file")
    p.add_argument("card")
    p.add_argument("--show-number", action="store_true")

    p = sub.add_parser("emulate", help="serve a virtual card file")
    p.add_argument("card")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--pcsc", nargs="?", const="127.0.0.1:35963", metavar="HOST:PORT",
                       help="insert into pcscd's vpcd reader (default 127.0.0.1:35963)")
    where.add_argument("--nfc-udp", metavar="HOST:PORT", help="NFC-B card on nfcpy's UDP driver")
    p.add_argument("--signature-delay", type=float, default=0.0, help=argparse.SUPPRESS)
    p = card_command("serve", "the local card helper web pages log in through (Web eID design)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port on 127.0.0.1 (default {DEFAULT_PORT})")
    p.add_argument("--origin", action="append", required=True, metavar="ORIGIN",
                   help="a site allowed to ask for a login, e.g. https://myna.go.jp (repeatable)")
    register_portal_commands(sub)  # login, phone-credential: talk to the portal over HTTP
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "portal_command", None):
        return run_portal_command(args)
    pins = PinSource(getattr(args, "pin_stdin", False))
    handlers: dict[str, Callable[[], int]] = {
        "readers": lambda: cmd_readers(args),
        "status": lambda: cmd_status(args),
        "certs": lambda: cmd_certs(args, pins),
        "info": lambda: cmd_info(args, pins),
        "sign": lambda: cmd_sign(args, pins),
        "emulate": lambda: cmd_emulate(args),
        "serve": lambda: cmd_serve(args, pins),
    }
    if args.command == "virtual-card":
        handlers["virtual-card"] = {"new": lambda: cmd_virtual_new(args, pins),
                                    "load": lambda: cmd_virtual_load(args, pins),
                                    "show": lambda: cmd_virtual_show(args)}[args.virtual_command]
    try:
        return handlers[args.command]()
    except WrongPinError as exc:
        print(f"myna-bridge: wrong PIN, {exc.tries_left} tries left", file=sys.stderr)
    except PinBlockedError:
        print("myna-bridge: PIN blocked; it can only be reset at the municipal office", file=sys.stderr)
    except CardError as exc:
        print(f"myna-bridge: {exc}", file=sys.stderr)
    except ValueError as exc:
        print(f"myna-bridge: {exc}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
