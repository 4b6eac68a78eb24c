"""`mynaportal keys ...` run as an operator would (a subprocess), on both databases."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import sys
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from api.people.individual_number import IndividualNumberCipher
from api.people.service import find_by_individual_number
from api.platform.db import create_session_factory
from api.platform.keys import StaticKeySource
from tests.api.people.test_key_rotation import numbers, old_cipher, register
from tests.conftest import TEST_DATA_KEY, TEST_LOOKUP_KEY

COMMAND = shutil.which("mynaportal", path=str(Path(sys.executable).parent)) or "mynaportal"
NEW_DATA, NEW_LOOKUP = bytes([5]) * 32, bytes([6]) * 32


def b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def keys(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("MYNAPORTAL_")}
    env.update({"MYNAPORTAL_DATABASE_URL": database_url, "MYNAPORTAL_DATA_KEY": b64(TEST_DATA_KEY),
                "MYNAPORTAL_LOOKUP_KEY": b64(TEST_LOOKUP_KEY),
                "MYNAPORTAL_DATA_KEYS": f"2:{b64(NEW_DATA)},1:{b64(TEST_DATA_KEY)}",
                "MYNAPORTAL_LOOKUP_KEYS": f"2:{b64(NEW_LOOKUP)},1:{b64(TEST_LOOKUP_KEY)}"})
    return subprocess.run([COMMAND, "keys", *args], env=env, capture_output=True, text=True, timeout=60,
                          check=False)


async def test_status_reencrypt_and_retire_from_the_command_line(engine: AsyncEngine, database_url: str) -> None:
    factory = create_session_factory(engine)
    wanted = numbers(5)
    await register(factory, old_cipher(), wanted, with_municipality=True)

    status = keys(database_url, "status")
    assert (status.returncode, status.stdout.splitlines()) == (0, [
        "data key: writes with generation 2, reads 2, 1; generation 1: 5 rows",
        "lookup key: writes with generation 2, reads 2, 1; generation 1: 5 rows",
        "0/5 rows on the newest generations (5 to re-encrypt)",
    ])
    refused = keys(database_url, "retire", "--data", "1")
    assert (refused.returncode, refused.stderr.strip()) == (
        1, "mynaportal: 5 rows still use data key generation 1: run `mynaportal keys reencrypt` first")

    moved = keys(database_url, "reencrypt", "--batch", "2")
    lines = moved.stdout.splitlines()
    assert moved.returncode == 0 and lines[-1] == "done: 5 rows moved to the newest generations"
    assert [line.split(" (")[0] for line in lines[:-1]] == ["moved 2/5 rows", "moved 4/5 rows", "moved 5/5 rows"]
    assert all(number not in moved.stdout + moved.stderr for number in wanted)
    after = keys(database_url, "status").stdout.splitlines()
    assert after[-1] == "5/5 rows on the newest generations (0 to re-encrypt)"

    retired = keys(database_url, "retire", "--data", "1")
    assert (retired.returncode, retired.stdout.strip()) == (
        0, "no row uses data key generation 1: remove it from MYNAPORTAL_DATA_KEYS and restart")
    # Found with generation 2 alone: the old keys are no longer needed.
    only_new = IndividualNumberCipher(keys=StaticKeySource({2: NEW_DATA}, {2: NEW_LOOKUP}))
    async with factory() as session:
        assert all([await find_by_individual_number(session, only_new, number) for number in wanted])

    added = keys(database_url, "add", "--lookup")
    assert added.returncode == 0
    assert added.stdout.splitlines()[-1].startswith("3:")
    assert len(base64.b64decode(added.stdout.splitlines()[-1][2:])) == 32
