"""In-process transport: hands APDUs straight to a VirtualCard object (a CardTransport, for tests and benchmarks)."""

from __future__ import annotations

from nfc_bridge.errors import CardRemovedError
from nfc_bridge.virtual_card.card import VirtualCard


class VirtualTransport:
    def __init__(self, card: VirtualCard, *, extended_length: bool = True) -> None:
        self.card: VirtualCard | None = card
        self.max_response_length = 65536 if extended_length else 256
        card.reset()

    def transmit(self, apdu: bytes) -> bytes:
        if self.card is None:
            raise CardRemovedError()
        return self.card.process(apdu)

    def remove_card(self) -> None:
        self.card = None

    def close(self) -> None:
        self.card = None
