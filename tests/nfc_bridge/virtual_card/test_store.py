from __future__ import annotations

import json
from pathlib import Path

from nfc_bridge.virtual_card.card import load_virtual_card

SELECT_JPKI = bytes.fromhex("00A4040C0AD392F000260100000001")


def test_counters_persist_across_restarts(card_file: Path) -> None:
    card = load_virtual_card(card_file)
    card.process(SELECT_JPKI)
    assert card.process(bytes.fromhex("0020009804") + b"0000") == b"\x63\xc2"
    restarted = load_virtual_card(card_file)
    restarted.process(SELECT_JPKI)
    assert restarted.process(bytes.fromhex("00200098")) == b"\x63\xc2"
    assert restarted.process(bytes.fromhex("0020009804") + b"1234") == b"\x90\x00"
    assert load_virtual_card(card_file).tries_left("jpki/0018") == 3


def test_file_holds_no_plain_pins(card_file: Path) -> None:
    text = card_file.read_text()
    raw = json.loads(text)
    assert set(raw["pins"]["jpki/0018"]) == {"salt", "hash", "max_tries", "tries_left"}
    assert "ABC123" not in text
    assert oct(card_file.stat().st_mode & 0o777) == "0o600"
