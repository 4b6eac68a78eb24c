"""ISO/IEC 14443-4 (ISO-DEP) on the card side, as a pure state machine (no I/O).

Block formats (no NAD; CID accepted and echoed): I-block `02|bn` (`12|bn` = chaining), R(ACK)
`A2|bn`, R(NAK) `B2|bn`, S(DESELECT) `C2`, S(WTX) `F2 wtxm`. The card replies with the block number
of the block it answers; invalid blocks get no reply (the reader times out and retransmits).
"""

from __future__ import annotations

from dataclasses import dataclass

FSD_TABLE = (16, 24, 32, 40, 48, 64, 96, 128, 256)


@dataclass(frozen=True)
class Reply:
    """Send this frame back."""

    frame: bytes
    deselected: bool = False


@dataclass(frozen=True)
class Execute:
    """A complete C-APDU arrived: run it, then call ``IsoDepCard.respond`` with the R-APDU."""

    apdu: bytes


@dataclass(frozen=True)
class Ignore:
    """An invalid or unexpected frame: stay silent."""


Event = Reply | Execute | Ignore


def parse_attrib(frame: bytes, pupi: bytes) -> tuple[int, int] | None:
    """ATTRIB `1D PUPI p1 p2 p3 p4 [INF]` → (FSD, CID), or None if it is not for us."""
    if len(frame) < 9 or frame[0] != 0x1D or frame[1:5] != pupi:
        return None
    fsdi = frame[6] & 0x0F
    fsd = FSD_TABLE[fsdi] if fsdi < len(FSD_TABLE) else 256
    return fsd, frame[8] & 0x0F


def wtx_request(wtxm: int) -> bytes:
    if not 1 <= wtxm <= 59:
        raise ValueError("WTXM is 1..59")
    return bytes((0xF2, wtxm))


class IsoDepCard:
    def __init__(self, fsd: int = 256, cid: int | None = None) -> None:
        self.max_inf = fsd - 3  # PCB + 2-byte EDC (CRC) per frame
        self.cid = cid
        self.bn = 1  # ISO: the PICC block number starts at 1, so the first I-block (bn 0) toggles it
        self._rx = bytearray()
        self._tx = b""
        self._last: bytes | None = None
        self.deselected = False

    def _header(self, pcb: int) -> bytes:
        return bytes((pcb | 0x08, self.cid)) if self.cid is not None else bytes((pcb,))

    def _send(self, pcb: int, inf: bytes = b"") -> Reply:
        frame = self._header(pcb) + inf
        self._last = frame
        return Reply(frame)

    def receive(self, frame: bytes) -> Event:
        if self.deselected or not frame:
            return Ignore()
        pcb = frame[0]
        body = frame[1:]
        if pcb & 0x08:  # CID follows
            if not body or self.cid is None or body[0] & 0x0F != self.cid:
                return Ignore()
            body = body[1:]
        elif self.cid not in (None, 0):
            return Ignore()
        if pcb & 0x04:  # NAD is not supported by the card
            return Ignore()
        kind = pcb & 0xC0
        if kind == 0x00 and pcb & 0x22 == 0x02:
            return self._i_block(pcb, body)
        if kind == 0x80 and pcb & 0x26 == 0x22 and not body:
            return self._r_block(pcb)
        if kind == 0xC0 and pcb & 0x07 == 0x02:
            if pcb & 0x30 == 0x00 and not body:  # DESELECT
                self.deselected = True
                self._rx.clear()
                self._tx = b""
                return Reply(self._header(0xC2), deselected=True)
            return Ignore()  # a WTX response outside a WTX exchange, or RFU
        return Ignore()

    def _i_block(self, pcb: int, inf: bytes) -> Event:
        self.bn = pcb & 0x01
        self._tx = b""  # a new command ends any unfinished response chain
        if pcb & 0x10:
            if len(self._rx) + len(inf) > 65544:
                self._rx.clear()
                return Ignore()
            self._rx += inf
            return self._send(0xA2 | self.bn)
        apdu = bytes(self._rx + inf)
        self._rx.clear()
        return Execute(apdu)

    def _r_block(self, pcb: int) -> Event:
        bn = pcb & 0x01
        nak = bool(pcb & 0x10)
        if nak:
            if bn == self.bn and self._last is not None:
                return Reply(self._last)
            return Reply(self._header(0xA2 | self.bn))
        if bn != self.bn and self._tx:
            self.bn = bn
            return self._next_chunk()
        if bn == self.bn and self._last is not None:
            return Reply(self._last)  # the reader did not get our last block
        return Ignore()

    def _next_chunk(self) -> Reply:
        chunk, self._tx = self._tx[:self.max_inf], self._tx[self.max_inf:]
        return self._send((0x12 if self._tx else 0x02) | self.bn, chunk)

    def respond(self, rapdu: bytes) -> bytes:
        """The first block of the answer to the last Execute (chained when it exceeds FSD)."""
        self._tx = rapdu
        return self._next_chunk().frame
