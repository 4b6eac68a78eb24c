"""Card-side ISO-DEP: exact frames for chaining, ACK/NAK, DESELECT, WTX; arbitrary frames via hypothesis."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nfc_bridge.apdu import ResponseAPDU, is_valid_status_word
from nfc_bridge.isodep import Execute, Ignore, IsoDepCard, Reply, parse_attrib, wtx_request
from nfc_bridge.virtual_card.card import VirtualCard
from nfc_bridge.virtual_card.store import CardData


def test_attrib() -> None:
    assert parse_attrib(bytes.fromhex("1D11223344000801 00"), bytes.fromhex("11223344")) == (256, 0)
    assert parse_attrib(bytes.fromhex("1D11223344000701 00"), bytes.fromhex("11223344")) == (128, 0)
    assert parse_attrib(bytes.fromhex("1D99999999000801 00"), bytes.fromhex("11223344")) is None


def test_single_block_exchange() -> None:
    iso = IsoDepCard()
    assert iso.receive(bytes.fromhex("0200A4040C")) == Execute(bytes.fromhex("00A4040C"))
    assert iso.respond(b"\x90\x00") == bytes.fromhex("029000")
    assert iso.receive(bytes.fromhex("0300B0000000")) == Execute(bytes.fromhex("00B0000000"))
    assert iso.respond(b"\x6a\x82") == bytes.fromhex("036A82")


def test_command_chaining() -> None:
    iso = IsoDepCard()
    assert iso.receive(b"\x12" + b"A" * 253) == Reply(b"\xa2")
    assert iso.receive(b"\x03" + b"B" * 7) == Execute(b"A" * 253 + b"B" * 7)


def test_response_chaining_ack_and_nak() -> None:
    iso = IsoDepCard(fsd=256)
    iso.receive(bytes.fromhex("0200B0000000"))
    rapdu = bytes(range(256)) + b"\x90\x00"
    assert iso.respond(rapdu) == b"\x12" + rapdu[:253]
    assert iso.receive(b"\xb2") == Reply(b"\x12" + rapdu[:253])  # NAK for our block: retransmit
    assert iso.receive(b"\xb3") == Reply(b"\xa2")  # NAK with the other number (presence check): ACK
    assert iso.receive(b"\xa3") == Reply(b"\x03" + rapdu[253:])
    assert iso.receive(b"\xa3") == Reply(b"\x03" + rapdu[253:])  # repeated ACK: last block again


def test_small_fsd() -> None:
    iso = IsoDepCard(fsd=16)
    iso.receive(bytes.fromhex("0200B0000000"))
    assert iso.respond(bytes(20)) == b"\x12" + bytes(13)
    assert iso.receive(b"\xa3") == Reply(b"\x03" + bytes(7))


def test_deselect_and_invalid_frames() -> None:
    iso = IsoDepCard()
    assert iso.receive(b"") == Ignore()
    assert iso.receive(b"\x06\x00") == Ignore()  # NAD not supported
    assert iso.receive(b"\xf2\x01") == Ignore()  # unsolicited WTX response
    assert iso.receive(b"\xc2") == Reply(b"\xc2", deselected=True)
    assert iso.receive(bytes.fromhex("0200A4040C")) == Ignore()  # deselected: silent
    assert wtx_request(1) == b"\xf2\x01"


def test_cid_is_echoed() -> None:
    iso = IsoDepCard(cid=1)
    assert iso.receive(bytes.fromhex("0A0100A4040C")) == Execute(bytes.fromhex("00A4040C"))
    assert iso.respond(b"\x90\x00") == bytes.fromhex("0A019000")
    assert iso.receive(bytes.fromhex("0A0200A4040C")) == Ignore()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(frames=st.lists(st.one_of(
    st.binary(max_size=256),
    st.builds(lambda pcb, inf: bytes((pcb,)) + inf, st.sampled_from([0x02, 0x03, 0x12, 0x13]),
              st.binary(min_size=1, max_size=253)),
    st.sampled_from([b"\xa2", b"\xa3", b"\xb2", b"\xb3", b"\xc2", b"\xf2\x01"])), max_size=30))
def test_arbitrary_frames(card_template: CardData, frames: list[bytes]) -> None:
    card = VirtualCard(card_template.copy())
    iso = IsoDepCard()
    before = {k: v.tries_left for k, v in card.data.pins.items()}
    for frame in frames:
        event = iso.receive(frame)
        if isinstance(event, Execute):
            rapdu = card.process(event.apdu)
            assert is_valid_status_word(ResponseAPDU.from_bytes(rapdu).sw)
            first = iso.respond(rapdu)
            assert first[0] & 0xEE == 0x02 and len(first) <= 253 + 1
        elif isinstance(event, Reply):
            assert len(event.frame) <= 254
    after = {k: v.tries_left for k, v in card.data.pins.items()}
    # random I-blocks carry no valid PIN; VERIFY with data is the only way a counter may move
    assert all(after[k] <= before[k] for k in before)
