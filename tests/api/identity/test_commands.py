"""`mynaportal sandbox issue-card` / `revoke-card` as a user runs them, on a machine without the card
readers' libraries (pyscard, nfcpy: the optional `bridge` extra)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# The server's commands, with pyscard's and nfcpy's modules made unimportable.
WITHOUT_READERS = ("import sys; sys.modules.update(smartcard=None, nfc=None); sys.argv[0] = 'mynaportal'; "
                   "from api.cli import main; main()")


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "MYNAPORTAL_DATABASE_URL": f"sqlite:///{tmp_path / 'portal.sqlite3'}",
            "MYNAPORTAL_DEMO_KEYS_FILE": str(tmp_path / "keys.json"),
            "MYNAPORTAL_SANDBOX_CA_DIR": str(tmp_path / "ca"), "MYNAPORTAL_PUBLIC_URL": "http://portal.test"}


def mynaportal(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", WITHOUT_READERS, *args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=120, check=False)


def test_issue_and_revoke_cards_without_the_reader_libraries(env: dict[str, str], tmp_path: Path) -> None:
    for setup in (["migrate"], ["demo-seed"]):
        assert mynaportal(env, tmp_path, *setup).returncode == 0

    one = mynaportal(env, tmp_path, "sandbox", "issue-card", "--person", "taro@example.jp",
                     "--output", "taro-card.issuance.json")
    assert one.returncode == 0, one.stderr
    assert one.stdout.splitlines()[0] == "card issuance bundle for 山田 太郎: taro-card.issuance.json"
    bundle = tmp_path / "taro-card.issuance.json"
    assert oct(bundle.stat().st_mode & 0o777) == "0o600"  # it holds the card's private keys
    content = json.loads(bundle.read_text(encoding="utf-8"))
    assert content["card_info"]["name"] == "山田 太郎"
    assert not any("pin" in key.lower() or "password" in key.lower() for key in [*content, *content["card_info"]])

    demo = mynaportal(env, tmp_path, "sandbox", "issue-card", "--demo")
    assert demo.returncode == 0, demo.stderr
    assert demo.stdout.splitlines()[0] == "card issuance bundle for 山田 花子: var/cards/hanako.issuance.json"
    assert len(list((tmp_path / "var" / "cards").glob("*.issuance.json"))) == 2  # the mother and the child
    again = mynaportal(env, tmp_path, "sandbox", "issue-card", "--demo")
    assert again.stdout == "every person already has a card\n"

    revoked = mynaportal(env, tmp_path, "sandbox", "revoke-card", "--person", "taro@example.jp")
    assert (revoked.returncode, revoked.stdout) == (0, "revoked 2 certificates\n")
    assert mynaportal(env, tmp_path, "sandbox", "revoke-card", "--person", "taro@example.jp").stdout == \
        "no active card to revoke\n"


def test_the_app_imports_without_the_reader_libraries(env: dict[str, str], tmp_path: Path) -> None:
    app = subprocess.run([sys.executable, "-c", "import sys; sys.modules.update(smartcard=None, nfc=None); "
                          "import api.app; from api.identity import cards, http, sandbox_ca"],
                         env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
    assert app.returncode == 0, app.stderr


def test_purge_runs_as_a_command(env: dict[str, str], tmp_path: Path) -> None:
    assert mynaportal(env, tmp_path, "migrate").returncode == 0
    done = mynaportal(env, tmp_path, "purge", "--batch", "50")
    assert (done.returncode, done.stdout) == (0, "purged 0 challenges, 0 device grants, "
                                                 "0 access tokens, 0 web sessions\n"), done.stderr
    refused = mynaportal(env, tmp_path, "purge", "--batch", "0")
    assert (refused.returncode, refused.stderr) == (1, "mynaportal: --batch must be at least 1\n")
