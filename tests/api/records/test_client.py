"""The app's refresh rule: a forked log (two heads for one size, or a head that does not extend the kept one)
is caught, however validly the server signs each head."""

from __future__ import annotations

import base64
import dataclasses

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from api.platform.settings import Settings, SettingsError
from api.records import log, merkle
from api.records.client import HeadSignatureInvalid, SplitView, TreeHead, check_refresh, checkpoint_body
from api.records.signing import DEMO_SEED, LogSigner, LogSigningUnavailable

SIGNER = LogSigner(((1, bytes(range(32))),))
KEYS = SIGNER.public_keys()


def _fork(leaves: list[bytes], size: int) -> tuple[TreeHead, dict[merkle.Node, bytes]]:
    """The same server key signing a head over another history (an in-memory second view of the log)."""
    nodes = merkle.new_nodes(0, {}, [merkle.leaf_hash(leaf) for leaf in leaves[:size]])
    return SIGNER.sign(size, merkle.fold([nodes[n] for n in merkle.root_plan(size)])), nodes


async def test_an_honest_refresh_is_accepted_and_a_forked_log_is_caught(session: AsyncSession) -> None:
    leaves = [f"record {i}".encode() for i in range(8)]
    for leaf in leaves[:4]:
        await log.queue_leaf(session, leaf)
    kept = await log.integrate(session, SIGNER)
    assert kept is not None
    assert check_refresh(None, kept, [], KEYS) == kept  # the first head the app sees

    for leaf in leaves[4:]:
        await log.queue_leaf(session, leaf)
    honest = await log.integrate(session, SIGNER)
    assert honest is not None
    proof = await log.consistency_proof(session, kept.size, honest.size)
    assert check_refresh(kept, honest, proof, KEYS) == honest

    # The fork: another view where record 2 never happened, validly signed, served to this app.
    other = [*leaves[:2], b"something else", *leaves[3:]]
    same_size, _ = _fork(other, 4)
    assert same_size.size == kept.size and same_size.root != kept.root
    with pytest.raises(SplitView, match="two different tree heads for size 4"):
        check_refresh(kept, same_size, [], KEYS)
    larger, nodes = _fork(other, 8)
    fork_proof = merkle.consistency_proof(4, 8, lambda wanted: {n: nodes[n] for n in wanted})
    with pytest.raises(SplitView, match="the head of size 8 does not extend the head of size 4"):
        check_refresh(kept, larger, fork_proof, KEYS)
    with pytest.raises(SplitView, match="does not extend"):  # the honest proof does not save the forked head
        check_refresh(kept, larger, proof, KEYS)
    with pytest.raises(SplitView, match="shrank from 8 to 4"):
        check_refresh(honest, kept, [], KEYS)


def test_a_head_not_signed_by_a_published_key_is_refused() -> None:
    head = SIGNER.sign(3, merkle.leaf_hash(b"x"), 1_700_000_000_000)
    assert head.body() == checkpoint_body(3, head.root, 1_700_000_000_000)
    assert head.body().decode() == ("mynaportal/records/v1\n3\n" + base64.b64encode(head.root).decode()
                                    + "\n1700000000000\n")
    with pytest.raises(HeadSignatureInvalid, match="not signed"):
        check_refresh(None, dataclasses.replace(head, timestamp_ms=1), [], KEYS)
    with pytest.raises(HeadSignatureInvalid, match="no published key of generation 7"):
        check_refresh(None, dataclasses.replace(head, key_generation=7), [], KEYS)


def test_signing_keys_come_from_settings_and_production_refuses_the_demo_key() -> None:
    seed = base64.b64encode(bytes(range(32))).decode()
    settings = Settings.from_env({"MYNAPORTAL_LOG_SIGNING_KEYS": f"2:{seed},1:{seed}",
                                  "MYNAPORTAL_DATA_KEY": seed,
                                  "MYNAPORTAL_LOOKUP_KEY": base64.b64encode(bytes(range(1, 33))).decode()})
    signer = LogSigner.from_settings(settings)
    assert (signer.generation, sorted(signer.public_keys())) == (2, [1, 2])
    demo = LogSigner.from_settings(Settings())
    assert demo.public_keys() == LogSigner(((1, DEMO_SEED),)).public_keys()
    with pytest.raises(LogSigningUnavailable, match="MYNAPORTAL_LOG_SIGNING_KEYS is required in production"):
        LogSigner.from_settings(Settings(environment="production"))
    with pytest.raises(SettingsError, match="production refuses the demo key of generation 1 in "
                                            "MYNAPORTAL_LOG_SIGNING_KEYS"):
        Settings.from_env({"MYNAPORTAL_ENV": "production", "MYNAPORTAL_LOG_SIGNING_KEYS": f"1:demo:{seed}"})
