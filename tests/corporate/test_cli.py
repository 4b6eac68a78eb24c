"""`mynaportal corporate …`, run as a user would, in a process of its own against a fresh SQLite file."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

COMMAND = shutil.which("mynaportal", path=str(Path(sys.executable).parent)) or "mynaportal"


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([COMMAND, *args], env=env, capture_output=True, text=True, timeout=60, check=False)


def test_an_application_id_is_created_and_revoked_in_a_process_that_loads_only_the_corporate_models(
    tmp_path: Path,
) -> None:
    # The command imports the corporate models alone: their foreign key to persons must still resolve.
    env = {**os.environ, "MYNAPORTAL_DATABASE_URL": f"sqlite:///{tmp_path / 'portal.sqlite3'}",
           "MYNAPORTAL_DEMO_KEYS_FILE": str(tmp_path / "demo-keys.json")}
    assert run(env, "migrate").returncode == 0
    created = run(env, "corporate", "app-id", "create", "bench")
    assert (created.returncode, created.stderr) == (0, "")
    header, issued = created.stdout.splitlines()
    assert header == "application id for bench (shown once, keep it secret):"
    assert re.fullmatch(r"[A-Za-z0-9]{13}", issued)
    revoked = run(env, "corporate", "app-id", "revoke", issued)
    assert (revoked.returncode, revoked.stderr) == (0, "")
