"""`mynaportal applications purge` as an operator runs it (the walkthrough and staff commands: tests/web and
tests/nfc_bridge/portal)."""

from __future__ import annotations

from pathlib import Path

from tests.api.identity.test_commands import env, mynaportal  # noqa: F401 - the fixture shared by name


def test_the_staff_session_purge_runs_as_a_command(env: dict[str, str], tmp_path: Path) -> None:  # noqa: F811
    assert mynaportal(env, tmp_path, "migrate").returncode == 0
    done = mynaportal(env, tmp_path, "applications", "purge", "--batch", "50")
    assert (done.returncode, done.stdout) == (0, "purged 0 staff web sessions\n"), done.stderr
    refused = mynaportal(env, tmp_path, "applications", "purge", "--batch", "0")
    assert (refused.returncode, refused.stderr) == (1, "mynaportal: --batch must be at least 1\n")
