"""The virtual card's behaviour, byte for byte (jpki.md §4.4)."""

from __future__ import annotations

import hashlib

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from nfc_bridge.virtual_card.card import ATR, VirtualCard

AUTH_PIN, SIGN_PASSWORD, CARD_INFO_PIN = b"1234", b"ABC123", b"5678"
SELECT_JPKI = "00A4040C0AD392F000260100000001"
SELECT_TEXT = "00A4040C0AD3921000310001010408"
SHA256_PREFIX = "3031300d060960864801650304020105000420"


def send(card: VirtualCard, hex_apdu: str, data: bytes = b"") -> str:
    apdu = bytes.fromhex(hex_apdu) + data  # hex_apdu carries Lc when data follows
    return card.process(apdu).hex().upper()


def select_ef(card: VirtualCard, fid: str) -> str:
    return send(card, "00A4020C02" + fid)


def counters(card: VirtualCard) -> dict[str, int]:
    return {k: v.tries_left for k, v in card.data.pins.items()}


def test_atr() -> None:
    assert ATR == bytes.fromhex("3BE000FF8131FE4514")


def test_select_exact_aid_only(virtual_card: VirtualCard) -> None:
    assert send(virtual_card, SELECT_JPKI) == "9000"
    assert send(virtual_card, "00A4040C09D392F000260100000001"[:-2].replace("0C09", "0C09")) == "6A82"
    assert send(virtual_card, "00A4040C09D392F0002601000000") == "6A82"  # prefix: no
    assert send(virtual_card, "00A4040C0BD392F00026010000000100") == "6A82"
    # a failed SELECT leaves the JPKI AP current
    assert select_ef(virtual_card, "0006") == "9000"


@pytest.mark.parametrize("probe", [
    "00A4040007627601FF000000", "00A4040006A00000000101", "00A404000BE82B0601040181C31F020100",
    "00A4040C0FD23300000045737445494420763335", "00CADF3005", "00CB3FFF035C017E08",
    "00A4040009A0000003080000100000", "00A4040C07A000000116DB00", "00A404000CF276A288BCFBA69D34F31001",
    "00A4040009A0000003974254465900", "00A4040006D2760001240100",
])
def test_foreign_driver_probes_fail_cleanly(virtual_card: VirtualCard, probe: str) -> None:
    send(virtual_card, SELECT_JPKI)
    select_ef(virtual_card, "0018")
    assert send(virtual_card, "0020008004", AUTH_PIN) == "9000"
    answer = send(virtual_card, probe)
    assert answer in ("6A82", "6D00")
    # state untouched: still in the JPKI AP with the PIN verified
    assert select_ef(virtual_card, "0017") == "9000"
    assert send(virtual_card, "802A008033" + SHA256_PREFIX + "00" * 32 + "00")[-4:] == "9000"


def test_token_and_availability_files(virtual_card: VirtualCard) -> None:
    send(virtual_card, SELECT_JPKI)
    select_ef(virtual_card, "0006")
    assert send(virtual_card, "00B0000020") == (b"JPKIAPICCTOKEN2".ljust(32)).hex().upper() + "9000"
    assert len(bytes.fromhex(send(virtual_card, "00B0000000"))) == 160 + 2
    select_ef(virtual_card, "0008")
    assert send(virtual_card, "00B0000000") == "8F8F009000"


def test_read_binary_edge_cases(virtual_card: VirtualCard) -> None:
    cert = virtual_card.data.der("auth_cert")
    send(virtual_card, SELECT_JPKI)
    assert send(virtual_card, "00B0000004") == "6986"  # no current EF
    select_ef(virtual_card, "000A")
    assert send(virtual_card, "00B0000004") == cert[:4].hex().upper() + "9000"
    assert cert[:2] == b"\x30\x82" and int.from_bytes(cert[2:4], "big") + 4 == len(cert)
    assert send(virtual_card, "00B0000000") == cert[:256].hex().upper() + "9000"
    tail = len(cert) - 10
    assert send(virtual_card, f"00B0{tail:04X}FF") == cert[tail:].hex().upper() + "9000"  # short at EOF
    assert send(virtual_card, f"00B0{len(cert):04X}01") == "6B00"
    assert send(virtual_card, "00B07FFF01") == "6B00"
    assert send(virtual_card, "00B00000000000") == cert.hex().upper() + "9000"  # extended Le
    assert send(virtual_card, "00B00000") == "6700"
    # by SFI: also makes the EF current
    assert send(virtual_card, "00B08B0004") == virtual_card.data.der("auth_ca_cert")[:4].hex().upper() + "9000"
    assert send(virtual_card, "00B0000004") == virtual_card.data.der("auth_ca_cert")[:4].hex().upper() + "9000"
    assert send(virtual_card, "00B0850004") == "6A82"
    select_ef(virtual_card, "0017")
    assert send(virtual_card, "00B0000004") == "6981"


def test_select_missing_ef_and_mf(virtual_card: VirtualCard) -> None:
    assert select_ef(virtual_card, "000A") == "6A82"  # no AP yet
    assert send(virtual_card, "00A4000C") == "6A86"
    assert send(virtual_card, "00A4000C023F00") == "6A82"
    send(virtual_card, SELECT_JPKI)
    assert select_ef(virtual_card, "0C0C") == "6A82"
    assert send(virtual_card, "00A4000C") == "9000"


def test_empty_verify_is_always_63cx(virtual_card: VirtualCard) -> None:
    send(virtual_card, SELECT_JPKI)
    select_ef(virtual_card, "0018")
    assert send(virtual_card, "00200080") == "63C3"
    assert send(virtual_card, "0020008004", AUTH_PIN) == "9000"
    assert send(virtual_card, "00200080") == "63C3"  # never 9000, even when verified
    select_ef(virtual_card, "001B")
    assert send(virtual_card, "00200080") == "63C5"
    assert send(virtual_card, "00200098") == "63C3"  # by short EF id, no SELECT needed


def test_auth_pin_exhaustion_and_block(virtual_card: VirtualCard) -> None:
    send(virtual_card, SELECT_JPKI)
    select_ef(virtual_card, "0018")
    assert [send(virtual_card, "0020008004", b"0000") for _ in range(3)] == ["63C2", "63C1", "63C0"]
    assert send(virtual_card, "00200080") == "63C0"
    assert send(virtual_card, "0020008004", AUTH_PIN) == "6984"  # blocked: even the right PIN
    assert send(virtual_card, "00200080") == "63C0"
    select_ef(virtual_card, "0017")
    assert send(virtual_card, "802A008033" + SHA256_PREFIX + "00" * 32 + "00") == "6982"


def test_success_resets_counter(virtual_card: VirtualCard) -> None:
    send(virtual_card, SELECT_JPKI)
    select_ef(virtual_card, "001B")
    assert send(virtual_card, "0020008006", b"WRONG1") == "63C4"
    assert send(virtual_card, "0020008006", SIGN_PASSWORD) == "9000"
    assert send(virtual_card, "00200080") == "63C5"


def test_sign_cert_needs_password_and_select_clears_state(virtual_card: VirtualCard) -> None:
    send(virtual_card, SELECT_JPKI)
    select_ef(virtual_card, "0001")
    assert send(virtual_card, "00B0000004") == "6982"
    assert send(virtual_card, "0020009B06", SIGN_PASSWORD) == "9000"
    assert send(virtual_card, "00B0000004")[-4:] == "9000"
    send(virtual_card, SELECT_JPKI)  # re-SELECT of the AP = logout
    select_ef(virtual_card, "0001")
    assert send(virtual_card, "00B0000004") == "6982"
    assert send(virtual_card, "0020009B06", SIGN_PASSWORD) == "9000"
    virtual_card.reset()
    send(virtual_card, SELECT_JPKI)
    select_ef(virtual_card, "0001")
    assert send(virtual_card, "00B0000004") == "6982"


@pytest.mark.parametrize(("key_ef", "pin_ef", "pin", "cert"), [
    ("0017", "0018", AUTH_PIN, "auth_cert"), ("001A", "001B", SIGN_PASSWORD, "sign_cert")])
def test_signature_verifies(virtual_card: VirtualCard, key_ef: str, pin_ef: str, pin: bytes, cert: str) -> None:
    digest = hashlib.sha256(b"challenge").digest()
    send(virtual_card, SELECT_JPKI)
    select_ef(virtual_card, key_ef)
    assert send(virtual_card, "802A008033" + SHA256_PREFIX + digest.hex() + "00") == "6982"
    select_ef(virtual_card, pin_ef)
    assert send(virtual_card, "00200080" + f"{len(pin):02X}", pin) == "9000"
    select_ef(virtual_card, key_ef)
    answer = bytes.fromhex(send(virtual_card, "802A008033" + SHA256_PREFIX + digest.hex() + "00"))
    assert answer[-2:] == b"\x90\x00" and len(answer) == 258
    public_key = x509.load_der_x509_certificate(virtual_card.data.der(cert)).public_key()
    public_key.verify(answer[:-2], b"challenge", padding.PKCS1v15(), hashes.SHA256())  # type: ignore[union-attr]
    # P2 = 80|SFI gives the byte-identical signature without SELECT (deterministic PKCS#1 v1.5)
    sfi = int(key_ef, 16)
    again = send(virtual_card, f"802A00{0x80 | sfi:02X}33" + SHA256_PREFIX + digest.hex() + "00")
    assert bytes.fromhex(again) == answer


def test_sign_input_checks(virtual_card: VirtualCard) -> None:
    send(virtual_card, SELECT_JPKI)
    send(virtual_card, "0020009804", AUTH_PIN)
    select_ef(virtual_card, "0017")
    assert send(virtual_card, "802A0180033031300D") == "6A86"
    assert send(virtual_card, "802A0080F6" + "00" * 246) == "6700"  # > 245 bytes cannot be padded
    assert send(virtual_card, "802A008000") == "6700"
    select_ef(virtual_card, "000A")
    assert send(virtual_card, "802A00800101") == "6A88"


def test_unknown_instruction_class_channel_sm(virtual_card: VirtualCard) -> None:
    assert send(virtual_card, "00CA004200") == "6D00"
    assert send(virtual_card, "00FF0000") == "6D00"
    assert send(virtual_card, "A0A40000") == "6E00"
    assert send(virtual_card, "01A4040C0AD392F000260100000001") == "6881"
    assert send(virtual_card, "0CA4040C0AD392F000260100000001") == "6882"
    assert send(virtual_card, "0CB0000004") == "69FC"
    assert send(virtual_card, "") == "6700"
    assert send(virtual_card, "00A404") == "6700"


def test_get_challenge(virtual_card: VirtualCard) -> None:
    assert len(bytes.fromhex(send(virtual_card, "0084000010"))) == 18
    assert send(virtual_card, "00840000000008") == "6985"


def test_card_info_ap(virtual_card: VirtualCard) -> None:
    assert send(virtual_card, SELECT_TEXT) == "9000"
    select_ef(virtual_card, "0001")
    assert send(virtual_card, "00B0000011") == "6982"
    select_ef(virtual_card, "0011")
    assert send(virtual_card, "00200080") == "63C3"
    assert send(virtual_card, "0020008004", CARD_INFO_PIN) == "9000"
    select_ef(virtual_card, "0001")
    assert send(virtual_card, "00B0000011") == ("FF100C" + b"621498320257".hex() + "FFFF").upper() + "9000"
    select_ef(virtual_card, "0002")
    assert send(virtual_card, "00B0000003")[:4] == "FF20"


def test_collation_number_a_opens_number_only(virtual_card: VirtualCard) -> None:
    send(virtual_card, SELECT_TEXT)
    assert send(virtual_card, "002000940C", b"621498320257") == "9000"
    select_ef(virtual_card, "0001")
    assert send(virtual_card, "00B0000011")[-4:] == "9000"
    select_ef(virtual_card, "0002")
    assert send(virtual_card, "00B0000003") == "6982"
    assert send(virtual_card, "002000950E", b"55021720352285") == "9000"
    assert send(virtual_card, "00B0000003")[-4:] == "9000"


def test_myna_pin_status_keys_all_answer_63cx(virtual_card: VirtualCard) -> None:
    # `myna pin status` queries these seven keys and aborts on the first non-63Cx (jpki.md §4.4 #9)
    expected = {SELECT_TEXT: ["0011", "0014", "0015"],
                "00A4040C0AD3921000310001010402": ["0013", "0012"], SELECT_JPKI: ["0018", "001B"]}
    for aid, keys in expected.items():
        assert send(virtual_card, aid) == "9000"
        for key in keys:
            assert select_ef(virtual_card, key) == "9000"
            assert send(virtual_card, "00200080")[:3] == "63C"


def test_change_pin(virtual_card: VirtualCard) -> None:
    send(virtual_card, SELECT_JPKI)
    select_ef(virtual_card, "0018")
    assert send(virtual_card, "0024018004", b"9999") == "6982"
    send(virtual_card, "0020008004", AUTH_PIN)
    assert send(virtual_card, "0024018004", b"12AB") == "6A80"
    assert send(virtual_card, "0024018004", b"9999") == "9000"
    assert send(virtual_card, "0020008004", AUTH_PIN) == "63C2"
    assert send(virtual_card, "0020008004", b"9999") == "9000"


def test_errors_do_not_touch_counters(virtual_card: VirtualCard) -> None:
    before = counters(virtual_card)
    for apdu in ("00200080", "002000800400", "0020018004" + b"1234".hex(), "00200099", "00200080" + "11" + "00" * 17):
        send(virtual_card, apdu)
    send(virtual_card, SELECT_JPKI)
    for apdu in ("00200080", "00200098", "0020009B", "002000800400"):
        send(virtual_card, apdu)
    assert counters(virtual_card) == before
