"""`myna-bridge` end to end: the virtual card files, and commands against the card in vpcd."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from nfc_bridge.cli import main
from nfc_bridge.virtual_card.store import CardData, CardStore
from tests.nfc_bridge.conftest import issuance_bundle


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


def test_virtual_card_load_makes_cards_and_consumes_the_bundles(
        card_template: CardData, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    bundle = json.dumps(issuance_bundle(card_template), ensure_ascii=False)
    for name in ("taro", "hanako"):
        (tmp_path / f"{name}.issuance.json").write_text(bundle, encoding="utf-8")
    code, out, _ = run(monkeypatch, capsys, ["virtual-card", "load", "--sandbox-pins", str(tmp_path)])
    assert code == 0
    assert out == f"virtual card for 山田　太郎: {tmp_path / 'hanako.json'}\n" \
                  f"virtual card for 山田　太郎: {tmp_path / 'taro.json'}\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["hanako.json", "taro.json"]
    assert oct((tmp_path / "taro.json").stat().st_mode & 0o777) == "0o600"
    assert CardStore(tmp_path / "taro.json").load().pins["jpki/0018"].matches(b"1234")
    code, out, _ = run(monkeypatch, capsys, ["virtual-card", "load", "--sandbox-pins", str(tmp_path)])
    assert (code, out) == (0, "no issuance bundles to load\n")

    (tmp_path / "one.issuance.json").write_text(bundle, encoding="utf-8")
    code, _, _ = run(monkeypatch, capsys, ["virtual-card", "load", str(tmp_path / "one.issuance.json"),
                                           "--card", str(tmp_path / "mine.json"), "--pin-stdin"],
                     "4321\nPASS12\n8765\n")
    assert code == 0 and CardStore(tmp_path / "mine.json").load().pins["jpki/001B"].matches(b"PASS12")


def test_virtual_card_load_refusals(card_template: CardData, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    bundle = tmp_path / "taro.issuance.json"
    bundle.write_text(json.dumps(issuance_bundle(card_template)), encoding="utf-8")
    code, _, err = run(monkeypatch, capsys, ["virtual-card", "load", str(bundle), "--pin-stdin"], "12\nPASS12\n5678\n")
    assert (code, err) == (1, "myna-bridge: the authentication and card-info PINs are 4 digits\n")
    assert bundle.exists() and not (tmp_path / "taro.json").exists()
    code, _, err = run(monkeypatch, capsys, ["virtual-card", "load", str(tmp_path / "nowhere")])
    assert (code, err) == (1, f"myna-bridge: no bundle or folder {tmp_path / 'nowhere'}\n")


# pyscard's and nfcpy's modules made unimportable: the `bridge` extra is not installed.
WITHOUT_READERS = ("import sys; sys.modules.update(smartcard=None, nfc=None); sys.argv[0] = 'myna-bridge'; "
                   "from nfc_bridge.cli import main; raise SystemExit(main())")


def test_without_the_reader_libraries_the_virtual_card_works_and_readers_explain(card_file: Path) -> None:
    def bridge(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-c", WITHOUT_READERS, *args], capture_output=True, text=True,
                              timeout=60, check=False)

    assert bridge("--help").returncode == 0
    shown = bridge("virtual-card", "show", str(card_file))
    assert shown.returncode == 0 and "jpki/0018: 3/3 tries left" in shown.stdout
    for command in (["readers"], ["status"], ["status", "--nfc", "usb"]):
        refused = bridge(*command)
        assert (refused.returncode, refused.stderr) == (1, "myna-bridge: the card reader libraries (pyscard, nfcpy) "
                                                           "are not installed: pip install 'mynaportal[bridge]'\n")
