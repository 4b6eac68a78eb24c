"""`mynaportal records sequence|keys` run as an operator would, on both databases."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys

from sqlalchemy.ext.asyncio import AsyncEngine

from api.platform.db import create_session_factory
from api.records import log, merkle
from api.records.signing import DEMO_SEED, LogSigner
from tests.api.platform.test_settings import production_env as production_env_values


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "api.cli", "records", *args], env=env, capture_output=True,
                          text=True, timeout=60, check=False)


async def test_sequence_once_integrates_everything_pending_in_batches(engine: AsyncEngine, database_url: str) -> None:
    sessions = create_session_factory(engine)
    async with sessions() as session, session.begin():
        for i in range(10):
            await log.queue_leaf(session, f"r{i}".encode())
    env = {**os.environ, "MYNAPORTAL_DATABASE_URL": database_url, "MYNAPORTAL_ENV": "development"}
    env.pop("MYNAPORTAL_LOG_SIGNING_KEYS", None)
    done = await asyncio.to_thread(run, env, "sequence", "--once", "--batch", "4")
    assert done.returncode == 0, done.stderr
    assert [json.loads(line)["treeSize"] for line in done.stdout.splitlines()] == [4, 8, 10]
    async with sessions() as session:
        head = await log.latest_tree_head(session)
    assert head is not None and head.root == merkle.root_of([merkle.leaf_hash(f"r{i}".encode()) for i in range(10)])

    keys = await asyncio.to_thread(run, env, "keys")
    demo = LogSigner(((1, DEMO_SEED),)).public_keys()[1]
    assert json.loads(keys.stdout) == {"1": base64.b64encode(demo).decode()}

    production_env = {**env, **production_env_values(), "MYNAPORTAL_DATABASE_URL": database_url}
    production = await asyncio.to_thread(run, production_env, "sequence", "--once")
    assert production.returncode != 0
    assert "MYNAPORTAL_LOG_SIGNING_KEYS is required in production" in production.stderr
