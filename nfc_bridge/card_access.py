"""What every command that talks to a card shares: the reader options, opening the card they name, PIN entry.

Both `myna-bridge`'s card commands (``nfc_bridge.cli``) and the portal commands (``nfc_bridge.portal.commands``)
use it, so neither imports the other for it.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from nfc_bridge.errors import CardError
from nfc_bridge.jpki import MyNumberCard
from nfc_bridge.transports.base import CardTransport

READERS_MISSING = "the card reader libraries (pyscard, nfcpy) are not installed: pip install 'mynaportal[bridge]'"


class PinSource:
    def __init__(self, from_stdin: bool) -> None:
        self.from_stdin = from_stdin

    def get(self, what: str) -> str:
        if self.from_stdin:
            line = sys.stdin.readline()
            if not line:
                raise SystemExit(f"myna-bridge: expected the {what} on stdin")
            return line.rstrip("\r\n")
        return getpass.getpass(f"{what}: ")


def add_card_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reader", help="PC/SC reader name, name prefix or index (default: first with a card)")
    parser.add_argument("--nfc", metavar="PATH", help="use nfcpy instead of PC/SC: usb, udp:HOST:PORT")
    parser.add_argument("--extended", action="store_true", help="the PC/SC reader supports extended APDUs")
    parser.add_argument("--pin-stdin", action="store_true", help="read PINs from stdin, one per line")


def open_transport(args: argparse.Namespace) -> CardTransport:
    # pyscard and nfcpy are the optional `bridge` extra: imported only when a reader is used.
    try:
        if args.nfc:
            from nfc_bridge.transports.nfc import NfcTransport

            return NfcTransport(args.nfc)
        from nfc_bridge.transports.pcsc import PcscTransport
    except ModuleNotFoundError as error:
        raise CardError(READERS_MISSING) from error

    reader: str | int | None = args.reader
    if isinstance(reader, str) and reader.isdigit():
        reader = int(reader)
    return PcscTransport(reader, extended_length=args.extended)


@contextmanager
def open_card(args: argparse.Namespace) -> Iterator[MyNumberCard]:
    """The card in the reader the options name, with the JPKI application selected."""
    transport = open_transport(args)
    try:
        card = MyNumberCard(transport)
        card.select_jpki()
        yield card
    finally:
        transport.close()
