"""The auditor finds every kind of tampering with the stored log, on both databases, and names the first."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable

import pytest
from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from api.platform.db import create_session_factory
from api.records import log, merkle
from api.records.audit import audit_log
from api.records.models import LogLeaf, LogNode, TreeHeadRow
from api.records.signing import DEMO_SEED, LogSigner

SIGNER = LogSigner(((1, bytes(range(32))),))
OTHER = LogSigner(((1, bytes(range(100, 132))),))


async def build(session: AsyncSession, signer: LogSigner = SIGNER) -> None:
    """13 leaves in rounds of 4: heads of sizes 4, 8, 12 and 13."""
    for i in range(13):
        await log.queue_leaf(session, f"record {i}".encode())
    while await log.integrate(session, signer, batch_size=4) is not None:
        pass


async def _set_leaf(session: AsyncSession, index: int, **values: object) -> None:
    await session.execute(update(LogLeaf).where(LogLeaf.leaf_index == index).values(**values))


async def _set_node(session: AsyncSession, level: int, index: int, value: bytes) -> None:
    await session.execute(update(LogNode).where(LogNode.level == level, LogNode.node_index == index)
                          .values(hash=value))


async def leaf_content(session: AsyncSession) -> None:
    await _set_leaf(session, 5, leaf_data=b"record 5 (changed)")


async def leaf_hash(session: AsyncSession) -> None:
    await _set_leaf(session, 6, leaf_data=None, leaf_hash=merkle.leaf_hash(b"forged"))


async def leaf_and_its_node(session: AsyncSession) -> None:
    forged = merkle.leaf_hash(b"forged")
    await _set_leaf(session, 6, leaf_data=None, leaf_hash=forged)
    await _set_node(session, 0, 6, forged)


async def interior_node(session: AsyncSession) -> None:
    await _set_node(session, 2, 1, bytes(32))


async def missing_node(session: AsyncSession) -> None:
    await session.execute(delete(LogNode).where(LogNode.level == 1, LogNode.node_index == 5))


async def missing_leaf(session: AsyncSession) -> None:
    await session.execute(delete(LogLeaf).where(LogLeaf.leaf_index == 3))


async def head_root(session: AsyncSession) -> None:
    await session.execute(update(TreeHeadRow).where(TreeHeadRow.size == 8).values(root_hash=bytes(32)))


async def head_signed_by_another_key(session: AsyncSession) -> None:
    forged = OTHER.sign(8, bytes(32))
    await session.execute(update(TreeHeadRow).where(TreeHeadRow.size == 8).values(
        root_hash=forged.root, signature=forged.signature, timestamp_ms=forged.timestamp_ms))


async def head_signed_with_the_key_over_a_wrong_root(session: AsyncSession) -> None:
    # Even someone holding the signing key cannot make a head the leaves do not produce.
    forged = SIGNER.sign(12, merkle.leaf_hash(b"another history"))
    await session.execute(update(TreeHeadRow).where(TreeHeadRow.size == 12).values(
        root_hash=forged.root, signature=forged.signature, timestamp_ms=forged.timestamp_ms))


async def leaf_under_no_head(session: AsyncSession) -> None:
    await session.execute(delete(TreeHeadRow).where(TreeHeadRow.size == 13))


TAMPERING: list[tuple[Callable[[AsyncSession], Awaitable[None]], str]] = [
    (leaf_content, "leaf 5: its content does not hash to its leaf hash"),
    (leaf_hash, "node (level 0, index 6) covering leaf 6: does not match its leaves"),
    (leaf_and_its_node, "node (level 1, index 3) covering leaf 6: does not match its leaves"),
    (interior_node, "node (level 2, index 1) covering leaf 4: does not match its leaves"),
    (missing_node, "node (level 1, index 5) covering leaf 10: missing"),
    (missing_leaf, "leaf 3: missing from the log"),
    (head_root, "tree head 8: the tree head of size 8 is not signed by its key"),
    (head_signed_by_another_key, "tree head 8: the tree head of size 8 is not signed by its key"),
    (head_signed_with_the_key_over_a_wrong_root, "tree head 12: its root is not the root of the log's first 12 leaves"),
    (leaf_under_no_head, "leaf 12: integrated but under no signed tree head"),
]


async def test_an_untouched_log_audits_clean(session: AsyncSession) -> None:
    await build(session)
    report = await audit_log(session, SIGNER.public_keys(), chunk=3)
    assert (report.ok, report.leaves, report.heads, report.problems) == (True, 13, 4, [])


@pytest.mark.parametrize(("tamper", "problem"), TAMPERING, ids=[t.__name__ for t, _ in TAMPERING])
async def test_tampering_is_reported_naming_the_first_bad_item(session: AsyncSession, tamper, problem) -> None:  # type: ignore[no-untyped-def]
    await build(session)
    await tamper(session)
    report = await audit_log(session, SIGNER.public_keys(), chunk=3)
    assert (report.ok, report.problems) == (False, [problem])


async def test_heads_signed_by_a_retired_generation_still_verify(session: AsyncSession) -> None:
    old = LogSigner(((1, bytes(range(32))),))
    for i in range(3):
        await log.queue_leaf(session, f"r{i}".encode())
    await log.integrate(session, old)
    rotated = LogSigner(((2, bytes(range(50, 82))), (1, bytes(range(32)))))
    await log.queue_leaf(session, b"r3")
    assert (await log.integrate(session, rotated)).key_generation == 2  # type: ignore[union-attr]
    assert (await audit_log(session, rotated.public_keys())).ok
    only_new = {2: rotated.public_keys()[2]}
    assert (await audit_log(session, only_new)).problems == ["tree head 3: no published key of generation 1"]


def run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)


async def test_the_audit_command_exits_non_zero_on_tampering(engine: AsyncEngine, database_url: str) -> None:
    async with create_session_factory(engine)() as session:
        await build(session, LogSigner(((1, DEMO_SEED),)))  # the development demo key the command uses
    env = {**os.environ, "MYNAPORTAL_DATABASE_URL": database_url, "MYNAPORTAL_ENV": "development"}
    env.pop("MYNAPORTAL_LOG_SIGNING_KEYS", None)
    command = [sys.executable, "-m", "api.cli", "records", "audit"]
    clean = await asyncio.to_thread(run, command, env)
    assert (clean.returncode, clean.stdout.strip()) == (
        0, '{"ok": true, "leaves": 13, "treeHeads": 4, "problems": []}')
    async with create_session_factory(engine)() as session, session.begin():
        await interior_node(session)
    bad = await asyncio.to_thread(run, command, env)
    assert bad.returncode == 1
    assert "node (level 2, index 1) covering leaf 4: does not match its leaves" in bad.stdout
