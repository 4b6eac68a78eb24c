"""Hypothesis throws arbitrary APDUs at the virtual card: it always answers a valid status word and
no PIN counter moves except through a VERIFY with data."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nfc_bridge.apdu import ResponseAPDU, is_valid_status_word
from nfc_bridge.virtual_card.card import VirtualCard
from nfc_bridge.virtual_card.store import CardData

AIDS = [bytes.fromhex(a) for a in ("D392F000260100000001", "D3921000310001010408", "D3921000310001010402")]
FIDS = [0x0001, 0x0002, 0x0006, 0x0008, 0x000A, 0x000B, 0x0011, 0x0014, 0x0015, 0x0017, 0x0018, 0x001A, 0x001B]


def _lc(data: bytes) -> bytes:
    return bytes((len(data),)) + data if data else b""


structured = st.one_of(
    st.builds(lambda aid: b"\x00\xa4\x04\x0c" + _lc(aid), st.sampled_from(AIDS)),
    st.builds(lambda fid: b"\x00\xa4\x02\x0c\x02" + fid.to_bytes(2, "big"), st.sampled_from(FIDS)),
    st.builds(lambda p1, p2, le: bytes((0, 0xB0, p1, p2, le)), st.integers(0, 255), st.integers(0, 255),
              st.integers(0, 255)),
    st.builds(lambda p2, data: bytes((0, 0x20, 0, p2)) + _lc(data),
              st.sampled_from([0x80, 0x91, 0x94, 0x95, 0x98, 0x9B, 0x00, 0xFF]), st.binary(max_size=20)),
    st.builds(lambda p1, p2, data: bytes((0x80, 0x2A, p1, p2)) + _lc(data) + b"\x00", st.integers(0, 2),
              st.sampled_from([0x80, 0x97, 0x9A, 0x00]), st.binary(max_size=60)),
    st.builds(lambda cla, ins, p1, p2, tail: bytes((cla, ins, p1, p2)) + tail, st.integers(0, 255),
              st.integers(0, 255), st.integers(0, 255), st.integers(0, 255), st.binary(max_size=300)),
    st.binary(max_size=40),
)


def _is_verify_with_data(apdu: bytes) -> bool:
    return len(apdu) > 5 and apdu[0] & 0xF0 == 0 and apdu[1] == 0x20


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(apdus=st.lists(structured, min_size=1, max_size=25))
def test_any_bytes_get_a_valid_status_word_and_counters_move_only_by_verify(
        card_template: CardData, apdus: list[bytes]) -> None:
    card = VirtualCard(card_template.copy())
    for apdu in apdus:
        before = {k: v.tries_left for k, v in card.data.pins.items()}
        response = ResponseAPDU.from_bytes(card.process(apdu))
        assert is_valid_status_word(response.sw), (apdu.hex(), hex(response.sw))
        assert response.sw != 0x6F00, apdu.hex()  # no internal error for any input
        after = {k: v.tries_left for k, v in card.data.pins.items()}
        if not _is_verify_with_data(apdu):
            assert after == before, apdu.hex()
        else:
            changed = [k for k in before if before[k] != after[k]]
            assert len(changed) <= 1
            if response.sw == 0x9000 or response.sw & 0xFFF0 != 0x63C0:
                assert all(after[k] >= before[k] for k in before)
        if response.sw & 0xFFF0 == 0x63C0 and _is_verify_with_data(apdu):
            assert response.sw & 0x0F in after.values()
