"""`myna-bridge` end to end: the virtual card files, and commands against the card in vpcd."""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Any

import pytest

from nfc_bridge.cli import main
from nfc_bridge.virtual_card.store import CardStore


def run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], argv: list[str],
        stdin: str = "") -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_virtual_card_new_and_show(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    card = tmp_path / "card.json"
    code, out, _ = run(monkeypatch, capsys, ["virtual-card", "new", str(card), "--ca", str(tmp_path / "ca.pem"),
                                             "--pin-stdin"], "1234\nPASS12\n5678\n")
    assert code == 0 and card.exists() and (tmp_path / "ca.pem").exists()
    # Neither secret is stored, as a JSON string or as the hex of its bytes. (A bare "1234" is no test: the
    # file's random hex salts hold it about one run in a hundred.)
    stored = card.read_text()
    for secret in ("1234", "PASS12"):
        assert f'"{secret}"' not in stored and secret.encode().hex() not in stored.lower()
    assert "PASS12" not in stored
    code, out, _ = run(monkeypatch, capsys, ["virtual-card", "show", str(card)])
    assert code == 0 and "********0257" in out and "621498320257" not in out
    assert "jpki/0018: 3/3 tries left" in out


def test_pins_are_not_arguments(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["sign", "--pin", "1234", "--digest", "00" * 32])
    assert "unrecognized arguments" in capsys.readouterr().err


def test_commands_against_pcsc_card(pcsc_card: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    reader = ["--reader", "Virtual PCD 00 00"]
    code, out, _ = run(monkeypatch, capsys, ["readers"])
    assert code == 0 and "Virtual PCD 00 00" in out
    code, out, _ = run(monkeypatch, capsys, ["status", *reader])
    assert code == 0 and "JPKIAPICCTOKEN2 (My Number card)" in out and "3 of 3 tries left" in out
    code, out, _ = run(monkeypatch, capsys, ["certs", *reader, "--pem"])
    assert code == 0 and out.count("BEGIN CERTIFICATE") == 3
    code, out, err = run(monkeypatch, capsys, ["info", *reader, "--pin-stdin"], "5678\n")
    assert code == 0 and "山田　太郎" in out and "********0257" in out and "5678" not in out + err
    code, out, _ = run(monkeypatch, capsys, ["info", *reader, "--pin-stdin", "--show-number"], "5678\n")
    assert "621498320257" in out
    code, out, err = run(monkeypatch, capsys, ["sign", *reader, "--pin-stdin", "--digest", "00" * 32], "1111\n")
    assert code == 1 and err.strip() == "myna-bridge: wrong PIN, 2 tries left"
    code, out, _ = run(monkeypatch, capsys, ["sign", *reader, "--pin-stdin", "--digest", "00" * 32], "1234\n")
    assert code == 0 and len(bytes.fromhex(out.strip())) == 256


def test_no_card_error_is_one_line(pcscd: str, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(monkeypatch, capsys, ["status", "--reader", pcscd])
    assert code == 1 and err.count("\n") == 1 and "no card" in err


def test_card_file_counters_survive(card_file: Path) -> None:
    assert CardStore(card_file).load().pins["jpki/001B"].tries_left == 5
