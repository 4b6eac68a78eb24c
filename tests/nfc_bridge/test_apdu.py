from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nfc_bridge.apdu import CommandAPDU, ResponseAPDU, is_valid_status_word, transmit
from nfc_bridge.errors import (
    CardFileNotFoundError,
    InstructionNotSupportedError,
    MalformedResponseError,
    PinBlockedError,
    SecurityStatusNotSatisfiedError,
    WrongPinError,
    error_for_status,
)


@pytest.mark.parametrize(("command", "expected"), [
    (CommandAPDU(0x00, 0x20, 0x00, 0x80), "00200080"),
    (CommandAPDU(0x00, 0xB0, 0x01, 0x00, le=256), "00B0010000"),
    (CommandAPDU(0x00, 0xA4, 0x04, 0x0C, bytes.fromhex("D392F000260100000001")),
     "00A4040C0AD392F000260100000001"),
    (CommandAPDU(0x80, 0x2A, 0x00, 0x80, b"\x01\x02", le=256), "802A0080020102" + "00"),
    (CommandAPDU(0x00, 0xB0, 0x00, 0x00, le=65536), "00B00000000000"),
    (CommandAPDU(0x00, 0xB0, 0x00, 0x00, le=300), "00B0000000012C"),
    (CommandAPDU(0x80, 0xA2, 0x00, 0x00, b"\xAA" * 300), "80A20000" + "00012C" + "AA" * 300),
    (CommandAPDU(0x80, 0xA2, 0x00, 0x00, b"\xAA" * 300, le=65536), "80A20000" + "00012C" + "AA" * 300 + "0000"),
])
def test_encoding_exact_bytes(command: CommandAPDU, expected: str) -> None:
    assert command.to_bytes() == bytes.fromhex(expected)
    assert CommandAPDU.parse(command.to_bytes()).to_bytes() == command.to_bytes()


def test_short_apdu_refuses_long_lengths() -> None:
    with pytest.raises(ValueError, match="extended"):
        CommandAPDU(0, 0xB0, 0, 0, le=300, extended=False).to_bytes()


@pytest.mark.parametrize("raw", ["00", "00A4", "00A40400", "00A4040C0A01", "00A404000000020102AA", "00A4040002AA"])
def test_parse_rejects_malformed(raw: str) -> None:
    data = bytes.fromhex(raw)
    if len(data) == 4:
        assert CommandAPDU.parse(data).data == b""  # case 1 is valid
    else:
        with pytest.raises(ValueError):
            CommandAPDU.parse(data)


@given(cla=st.integers(0, 255), ins=st.integers(0, 255), p1=st.integers(0, 255), p2=st.integers(0, 255),
       data=st.binary(max_size=300), le=st.one_of(st.none(), st.integers(1, 65536)))
def test_roundtrip(cla: int, ins: int, p1: int, p2: int, data: bytes, le: int | None) -> None:
    command = CommandAPDU(cla, ins, p1, p2, data, le)
    parsed = CommandAPDU.parse(command.to_bytes())
    assert (parsed.cla, parsed.ins, parsed.p1, parsed.p2, parsed.data, parsed.le) == (cla, ins, p1, p2, data, le)


def test_response_parsing_and_errors() -> None:
    r = ResponseAPDU.from_bytes(bytes.fromhex("0102039000"))
    assert (r.data, r.sw, r.sw1, r.sw2, r.ok) == (b"\x01\x02\x03", 0x9000, 0x90, 0x00, True)
    with pytest.raises(MalformedResponseError):
        ResponseAPDU.from_bytes(b"\x90")
    with pytest.raises(WrongPinError) as wrong:
        ResponseAPDU(b"", 0x63C2).check()
    assert wrong.value.tries_left == 2 and "2 tries left" in str(wrong.value)
    assert isinstance(error_for_status(0x6984), PinBlockedError)
    assert isinstance(error_for_status(0x6982), SecurityStatusNotSatisfiedError)
    assert isinstance(error_for_status(0x6A82), CardFileNotFoundError)
    assert isinstance(error_for_status(0x6D00), InstructionNotSupportedError)
    assert error_for_status(0x6F00).sw == 0x6F00


def test_valid_status_words() -> None:
    assert is_valid_status_word(0x9000) and is_valid_status_word(0x63C3) and is_valid_status_word(0x6100)
    assert not is_valid_status_word(0x6000) and not is_valid_status_word(0x0000) and not is_valid_status_word(0xA000)


class T0Card:
    """A T=0-style responder: answers 61xx and makes the caller GET RESPONSE, or 6Cxx on wrong Le."""

    max_response_length = 256

    def __init__(self, payload: bytes, mode: str) -> None:
        self.payload, self.mode, self.sent = payload, mode, []  # type: ignore[var-annotated]
        self.pending = b""

    def transmit(self, apdu: bytes) -> bytes:
        self.sent.append(apdu.hex().upper())
        if apdu[1] == 0xC0:
            n = apdu[4] or 256
            part, self.pending = self.pending[:n], self.pending[n:]
            return part + (bytes((0x61, min(len(self.pending), 255) % 256)) if self.pending else b"\x90\x00")
        if self.mode == "61":
            self.pending = self.payload
            return bytes((0x61, len(self.payload) % 256))
        if apdu[-1] != len(self.payload):
            return bytes((0x6C, len(self.payload)))
        return self.payload + b"\x90\x00"

    def close(self) -> None:
        pass


def test_61xx_get_response() -> None:
    card = T0Card(bytes(range(300 - 256)) + bytes(256), "61")
    card.payload = bytes(range(200))
    response = transmit(card, CommandAPDU(0x00, 0xB0, 0, 0, le=256))
    assert response.data == bytes(range(200)) and response.sw == 0x9000
    assert card.sent == ["00B0000000", "00C00000C8"]


def test_6cxx_resend_with_le() -> None:
    card = T0Card(b"\xAB" * 17, "6C")
    response = transmit(card, CommandAPDU(0x00, 0xB0, 0, 0, le=256))
    assert response.data == b"\xAB" * 17
    assert card.sent == ["00B0000000", "00B0000011"]


def test_verify_is_never_resent_on_6cxx() -> None:
    card = T0Card(b"", "6C")
    card.payload = b"\x00" * 3
    response = transmit(card, CommandAPDU(0x00, 0x20, 0, 0x80, b"1234", le=1))
    assert response.sw == 0x6C03 and len(card.sent) == 1
