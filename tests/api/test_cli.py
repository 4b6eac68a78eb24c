"""The installed `mynaportal` command, run as a user would, against a fresh SQLite file and real uvicorn."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.served import COMMAND, serving


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([COMMAND, *args], env=env, capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "MYNAPORTAL_DATABASE_URL": f"sqlite:///{tmp_path / 'portal.sqlite3'}",
            "MYNAPORTAL_DEMO_KEYS_FILE": str(tmp_path / "demo-keys.json")}


@pytest.mark.parametrize("command", ["serve", "migrate", "demo-seed", "export-schema", "token", "agency-key"])
def test_every_command_explains_itself(env: dict[str, str], command: str) -> None:
    result = run(env, command, "--help")
    assert result.returncode == 0
    assert result.stdout.startswith(f"usage: mynaportal {command}")


def test_top_level_help_lists_the_commands(env: dict[str, str]) -> None:
    result = run(env, "--help")
    assert result.returncode == 0
    for command in ("serve", "migrate", "demo-seed", "export-schema", "token", "agency-key"):
        assert command in result.stdout


def test_export_schema_writes_the_sdl(env: dict[str, str], tmp_path: Path, repo_root: Path) -> None:
    target = tmp_path / "schema.graphql"
    result = run(env, "export-schema", "--output", str(target))
    assert result.returncode == 0
    assert target.read_text() == (repo_root / "graphql" / "schema.graphql").read_text()


def test_production_refuses_to_start_with_demo_keys(env: dict[str, str], tmp_path: Path) -> None:
    keys = json.dumps({"MYNAPORTAL_DATA_KEY": "demo:" + "A" * 44, "MYNAPORTAL_LOOKUP_KEY": "demo:" + "B" * 44})
    values = json.loads(keys)
    result = run({**env, "MYNAPORTAL_ENV": "production", **values}, "migrate")
    assert result.returncode == 1
    assert "production refuses the demo key in MYNAPORTAL_DATA_KEY" in result.stderr


def test_migrate_seed_token_and_serve(env: dict[str, str]) -> None:
    assert run(env, "migrate").stdout == "database migrated to head\n"
    assert run(env, "demo-seed").stdout == "demo data loaded\n"
    assert run(env, "demo-seed").stdout == "the database already holds people: demo data left as it is\n"
    token = run(env, "token", "--quiet").stdout.strip()
    assert token.startswith("mpt_") and len(token) == 47
    agency_key = run(env, "agency-key", "--agency", "chiyoda-city", "--scope", "notices:publish").stdout.strip()
    assert agency_key.startswith("mpa_") and len(agency_key) == 47
    unknown = run(env, "agency-key", "--agency", "nowhere")
    assert (unknown.returncode, unknown.stderr) == (1, "mynaportal: no agency with slug 'nowhere'\n")

    with serving(env, ready_within=20) as server:
        answer = httpx.post(f"{server.base}/graphql", json={"query": "{ viewer { name maskedIndividualNumber } }"},
                            headers={"authorization": f"Bearer {token}"})
        assert answer.json() == {"data": {"viewer": {"name": "山田 太郎", "maskedIndividualNumber": "********0013"}}}
    logs = server.log()
    lines = [json.loads(line) for line in logs.splitlines() if line.startswith("{")]
    assert any(line["message"] == "POST /graphql 200" and "request_id" in line for line in lines)
    assert "100000000013" not in logs
