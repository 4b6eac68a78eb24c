"""NFC transport through nfcpy: a USB reader (Sony RC-S380 reads the card as NFC-B Type 4) or
nfcpy's ``udp:`` driver. nfcpy 1.0.4 is the last release (2022); keep it confined to this module."""

from __future__ import annotations

import logging
from typing import Any

from nfc_bridge.errors import CardRemovedError, NoCardError, NoReaderError, TransportError

log = logging.getLogger(__name__)


class NfcTransport:
    """``path`` is an nfcpy device path: ``usb``, ``usb:054c:06c3``, ``udp:localhost:54321``."""

    max_response_length = 256  # nfcpy's Type4BTag refuses extended length

    def __init__(self, path: str = "usb", *, timeout: float = 3.0) -> None:
        import nfc
        import nfc.clf

        self._nfc = nfc
        try:
            self._clf: Any = nfc.ContactlessFrontend(path)
        except OSError as exc:
            raise NoReaderError(f"no NFC reader at {path!r} ({exc.strerror or exc})") from exc
        iterations = max(1, int(timeout / 0.1))
        tag = self._clf.connect(rdwr={"targets": ["106B"], "on-connect": lambda _tag: False,
                                      "iterations": iterations, "interval": 0.1})
        if not tag:
            self._clf.close()
            raise NoCardError(f"no NFC-B card in the field of {path}")
        if not hasattr(tag, "transceive") or tag.TYPE != "Type4Tag":
            self._clf.close()
            raise NoCardError(f"the card on {path} is not an ISO 14443-4 card ({tag})")
        self._tag = tag

    def transmit(self, apdu: bytes) -> bytes:
        from nfc.tag.tt4 import Type4TagCommandError

        try:
            # Type4BTag computes FWT from the card's ATQB and handles WTX itself
            response = self._tag.transceive(bytearray(apdu))
        except Type4TagCommandError as exc:
            raise CardRemovedError(f"the card stopped answering ({exc})") from exc
        except self._nfc.clf.CommunicationError as exc:
            raise TransportError(f"NFC communication error: {exc}") from exc
        if response is None:
            raise CardRemovedError()
        return bytes(response)

    def close(self) -> None:
        self._clf.close()
