"""ISO 7816-4 command/response APDUs (short and extended), T=0 61xx/6Cxx handling."""

from __future__ import annotations

from dataclasses import dataclass

from nfc_bridge.errors import MalformedResponseError, error_for_status
from nfc_bridge.transports.base import CardTransport

SW_OK = 0x9000


@dataclass(frozen=True)
class CommandAPDU:
    """A command APDU. ``le`` None = no Le field; 0 is never used: 256/65536 mean "all"."""

    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes = b""
    le: int | None = None
    extended: bool | None = None  # None = extended only when lengths require it

    def __post_init__(self) -> None:
        for name in ("cla", "ins", "p1", "p2"):
            if not 0 <= getattr(self, name) <= 0xFF:
                raise ValueError(f"{name} out of range")
        if len(self.data) > 65535:
            raise ValueError("data longer than 65535 bytes")
        if self.le is not None and not 1 <= self.le <= 65536:
            raise ValueError("le must be 1..65536")

    @property
    def is_extended(self) -> bool:
        if self.extended is not None:
            return self.extended
        return len(self.data) > 255 or (self.le is not None and self.le > 256)

    def to_bytes(self) -> bytes:
        header = bytes((self.cla, self.ins, self.p1, self.p2))
        if not self.is_extended:
            if len(self.data) > 255 or (self.le is not None and self.le > 256):
                raise ValueError("lengths need an extended APDU")
            body = bytes((len(self.data),)) + self.data if self.data else b""
            if self.le is not None:
                body += bytes((self.le & 0xFF,))
            return header + body
        body = b"\x00" + len(self.data).to_bytes(2, "big") + self.data if self.data else b""
        if self.le is not None:
            le = (self.le & 0xFFFF).to_bytes(2, "big")
            body += le if self.data else b"\x00" + le
        return header + body

    @classmethod
    def parse(cls, raw: bytes) -> CommandAPDU:
        """Parse the four ISO cases (short and extended); ValueError when malformed."""
        if len(raw) < 4:
            raise ValueError("APDU shorter than 4 bytes")
        cla, ins, p1, p2 = raw[:4]
        body = raw[4:]
        n = len(body)
        if n == 0:
            return cls(cla, ins, p1, p2)
        if n == 1:
            return cls(cla, ins, p1, p2, le=body[0] or 256, extended=False)
        if body[0] != 0 or n < 3:
            lc = body[0]
            if lc == 0:
                raise ValueError("short Lc of zero")
            if n == 1 + lc:
                return cls(cla, ins, p1, p2, body[1:], extended=False)
            if n == 2 + lc:
                return cls(cla, ins, p1, p2, body[1:-1], le=body[-1] or 256, extended=False)
            raise ValueError("short Lc does not match the body")
        # extended forms: body[0] == 0 and at least 3 bytes
        if n == 3:
            return cls(cla, ins, p1, p2, le=int.from_bytes(body[1:3], "big") or 65536, extended=True)
        lc = int.from_bytes(body[1:3], "big")
        if lc == 0:
            raise ValueError("extended Lc of zero")
        if n == 3 + lc:
            return cls(cla, ins, p1, p2, body[3:], extended=True)
        if n == 5 + lc:
            le = int.from_bytes(body[-2:], "big") or 65536
            return cls(cla, ins, p1, p2, body[3:-2], le=le, extended=True)
        raise ValueError("extended Lc does not match the body")


@dataclass(frozen=True)
class ResponseAPDU:
    data: bytes
    sw: int

    @property
    def sw1(self) -> int:
        return self.sw >> 8

    @property
    def sw2(self) -> int:
        return self.sw & 0xFF

    @property
    def ok(self) -> bool:
        return self.sw == SW_OK

    @classmethod
    def from_bytes(cls, raw: bytes) -> ResponseAPDU:
        if len(raw) < 2:
            raise MalformedResponseError(f"response of {len(raw)} bytes has no status word")
        return cls(bytes(raw[:-2]), int.from_bytes(raw[-2:], "big"))

    def to_bytes(self) -> bytes:
        return self.data + self.sw.to_bytes(2, "big")

    def check(self) -> ResponseAPDU:
        """Return self on 9000, raise the mapped exception otherwise."""
        if self.sw != SW_OK:
            raise error_for_status(self.sw)
        return self


def is_valid_status_word(sw: int) -> bool:
    """ISO 7816-4 allows SW1 in 61..6F (but not 60) and 90..9F."""
    sw1 = sw >> 8
    return (0x61 <= sw1 <= 0x6F) or (0x90 <= sw1 <= 0x9F)


def transmit(transport: CardTransport, command: CommandAPDU, *, follow_t0: bool = True) -> ResponseAPDU:
    """Send a command; with ``follow_t0`` collect 61xx with GET RESPONSE and resend on 6Cxx.

    A 6Cxx is never retried for VERIFY: a resend would spend a PIN try.
    """
    response = ResponseAPDU.from_bytes(transport.transmit(command.to_bytes()))
    if not follow_t0:
        return response
    if response.sw1 == 0x6C and command.ins != 0x20 and not command.is_extended:
        command = CommandAPDU(command.cla, command.ins, command.p1, command.p2, command.data,
                              le=response.sw2 or 256, extended=False)
        response = ResponseAPDU.from_bytes(transport.transmit(command.to_bytes()))
    data = response.data
    # bounded: a misbehaving card must not keep us looping forever
    for _ in range(256):
        if response.sw1 != 0x61:
            break
        get_response = CommandAPDU(command.cla & 0x03, 0xC0, 0x00, 0x00, le=response.sw2 or 256)
        response = ResponseAPDU.from_bytes(transport.transmit(get_response.to_bytes()))
        data += response.data
    return ResponseAPDU(data, response.sw)
