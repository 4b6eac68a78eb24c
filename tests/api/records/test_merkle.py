"""RFC 9162 hashing, proofs and verification, against published vectors and a from-scratch reference.

Published vectors (data only) are from transparency-dev/merkle, the Go library behind Trillian and Tessera:
``rfc6962/rfc6962_test.go`` (hasher vectors) and ``proof/verify_test.go`` (leaves, roots of sizes 1..8,
inclusion and consistency proofs), https://github.com/transparency-dev/merkle (Apache-2.0). The same values are
in ``testdata/inclusion`` and ``testdata/consistency`` there (e.g. consistency/1/happy-path.json).
"""

from __future__ import annotations

import hashlib
import random

import pytest

from api.records import merkle
from api.records.merkle import (
    EMPTY_ROOT,
    MerkleInputError,
    leaf_hash,
    node_hash,
    root_of,
    verify_consistency,
    verify_inclusion,
)

h = bytes.fromhex

LEAVES = [h(""), h("00"), h("10"), h("2021"), h("3031"), h("40414243"), h("5051525354555657"),
          h("606162636465666768696a6b6c6d6e6f")]
ROOTS = [h(x) for x in (
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
)]
# (leaf number counted from 1, tree size, proof)
INCLUSION = [
    (1, 1, []),
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (3, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (2, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]
CONSISTENCY = [
    (1, 1, []),
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
    (6, 7, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
]
SOME_HASH = h("abacaba000000000000000000000000000000000000000000060061e00123456")


def test_hashes_match_the_published_rfc6962_vectors() -> None:
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert leaf_hash(b"").hex() == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    assert leaf_hash(b"L123456").hex() == "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56"
    assert node_hash(b"N123", b"N456").hex() == "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb"


def test_roots_match_the_published_vectors() -> None:
    hashes = [leaf_hash(data) for data in LEAVES]
    assert [root_of(hashes[:n]) for n in range(1, 9)] == ROOTS
    assert root_of([]) == EMPTY_ROOT


def _getter(hashes: list[bytes]):  # type: ignore[no-untyped-def]
    def get(nodes):  # type: ignore[no-untyped-def]
        return {(level, index): root_of(hashes[index << level:(index + 1) << level]) for level, index in nodes}
    return get


@pytest.mark.parametrize(("leaf", "size", "proof"), INCLUSION)
def test_published_inclusion_proofs_verify_and_are_the_ones_generated(leaf: int, size: int, proof: list[str]) -> None:
    hashes = [leaf_hash(data) for data in LEAVES]
    wanted = [h(x) for x in proof]
    assert merkle.inclusion_proof(leaf - 1, size, _getter(hashes)) == wanted
    assert verify_inclusion(hashes[leaf - 1], leaf - 1, size, wanted, ROOTS[size - 1]) is True


def _inclusion_corruptions(index: int, size: int, proof: list[bytes], root: bytes, leaf: bytes):  # type: ignore[no-untyped-def]
    # The corruptions transparency-dev's verifier tests apply to every good proof; none may verify.
    yield index - 1, size, proof, root, leaf
    yield index + 1, size, proof, root, leaf
    yield index ^ 2, size, proof, root, leaf
    yield index, size * 2, proof, root, leaf
    yield index, size // 2, proof, root, leaf
    yield index, size, proof, root, b"WrongLeaf"
    yield index, size, proof, EMPTY_ROOT, leaf
    yield index, size, proof, SOME_HASH, leaf
    yield index, size, [*proof, b""], root, leaf
    yield index, size, [*proof, root], root, leaf
    yield index, size, [b"", *proof], root, leaf
    yield index, size, [root, *proof], root, leaf
    for i in range(len(proof)):
        flipped = list(proof)
        flipped[i] = bytes([flipped[i][0] ^ 8]) + flipped[i][1:]
        yield index, size, flipped, root, leaf
    if proof:
        yield index, size, proof[:-1], root, leaf
    if len(proof) > 1:
        yield index, size, [proof[0], SOME_HASH, *proof[1:]], root, leaf


@pytest.mark.parametrize(("leaf", "size", "proof"), INCLUSION)
def test_corrupted_inclusion_proofs_do_not_verify(leaf: int, size: int, proof: list[str]) -> None:
    good = [h(x) for x in proof]
    lh = leaf_hash(LEAVES[leaf - 1])
    for index, tree_size, bad, root, hashed in _inclusion_corruptions(leaf - 1, size, good, ROOTS[size - 1], lh):
        if index < 0:
            continue
        assert verify_inclusion(hashed, index, tree_size, bad, root) is False, (index, tree_size, bad, root)


@pytest.mark.parametrize(("size1", "size2", "proof"), CONSISTENCY)
def test_published_consistency_proofs_verify_and_are_the_ones_generated(size1: int, size2: int,
                                                                        proof: list[str]) -> None:
    hashes = [leaf_hash(data) for data in LEAVES]
    wanted = [h(x) for x in proof]
    assert merkle.consistency_proof(size1, size2, _getter(hashes)) == wanted
    root1, root2 = ROOTS[size1 - 1], ROOTS[size2 - 1]
    assert verify_consistency(size1, size2, wanted, root1, root2) is True
    if not wanted:
        return
    corruptions = [
        (size1 - 1, size2, root1, root2, wanted), (size1 + 1, size2, root1, root2, wanted),
        (size1 ^ 2, size2, root1, root2, wanted), (size1, size2 * 2, root1, root2, wanted),
        (size1, size2 // 2, root1, root2, wanted), (size1, size2, b"WrongRoot", root2, wanted),
        (size1, size2, root1, b"WrongRoot", wanted), (size1, size2, root2, root1, wanted),
        (size1, size2, root1, root2, []), (size1, size2, root1, root2, [*wanted, b""]),
        (size1, size2, root1, root2, [*wanted, root1]), (size1, size2, root1, root2, [*wanted, root2]),
        (size1, size2, root1, root2, [b"", *wanted]), (size1, size2, root1, root2, [root1, *wanted]),
        (size1, size2, root1, root2, [root2, *wanted]), (size1, size2, root1, root2, [wanted[0], *wanted]),
        (size1, size2, root1, root2, wanted[:-1]),
    ]
    for i in range(len(wanted)):
        flipped = list(wanted)
        flipped[i] = bytes([flipped[i][0] ^ 16]) + flipped[i][1:]
        corruptions.append((size1, size2, root1, root2, flipped))
    for s1, s2, r1, r2, bad in corruptions:
        assert verify_consistency(s1, s2, bad, r1, r2) is False, (s1, s2, r1, r2, bad)


def test_trivial_consistency_cases() -> None:
    r1, r2 = b"don't care 1", b"don't care 2"
    assert verify_consistency(0, 0, [], r1, r1) is True
    assert verify_consistency(0, 1, [], r1, r2) is True
    assert verify_consistency(1, 1, [], r2, r2) is True
    assert verify_consistency(0, 0, [], r1, r2) is False
    assert verify_consistency(1, 1, [], r1, r2) is False
    assert verify_consistency(1, 0, [], r1, r2) is False  # back in time
    assert verify_consistency(2, 1, [], r1, r2) is False
    assert verify_consistency(1, 2, [], r1, r2) is False  # a proof is needed
    assert verify_consistency(0, 1, [EMPTY_ROOT], EMPTY_ROOT, EMPTY_ROOT) is False
    assert verify_consistency(1, 1, [EMPTY_ROOT], EMPTY_ROOT, EMPTY_ROOT) is False


def test_single_entry_inclusion() -> None:
    hashed = leaf_hash(b"data")
    assert verify_inclusion(hashed, 0, 1, [], hashed) is True
    assert verify_inclusion(hashed, 0, 1, [], b"") is False
    assert verify_inclusion(b"", 0, 1, [], hashed) is False
    for index, size in ((0, 0), (1, 0), (2, 1)):
        assert verify_inclusion(SOME_HASH, index, size, [], EMPTY_ROOT) is False


def test_impossible_arguments_raise_a_clear_error() -> None:
    with pytest.raises(MerkleInputError, match="non-negative"):
        verify_inclusion(SOME_HASH, -1, 2, [], SOME_HASH)
    with pytest.raises(MerkleInputError, match="bytes"):
        verify_consistency(1, 2, ["00" * 32], SOME_HASH, SOME_HASH)  # type: ignore[list-item]
    with pytest.raises(MerkleInputError):
        merkle.inclusion_plan(5, 5)


def test_every_proof_of_every_small_tree_verifies_and_uses_few_nodes() -> None:
    # Our own: every leaf of every size up to 70, every pair of sizes, against the naive root of the leaves.
    hashes = [leaf_hash(hashlib.sha256(str(i).encode()).digest()) for i in range(70)]
    get = _getter(hashes)
    for size in range(1, 71):
        root = root_of(hashes[:size])
        assert merkle.fold([get([n])[n] for n in merkle.root_plan(size)]) == root
        for index in range(size):
            plan = merkle.inclusion_plan(index, size)
            assert len(merkle.nodes_of(plan)) <= 2 * max(1, (size - 1).bit_length())
            proof = merkle.assemble(plan, get(merkle.nodes_of(plan)))
            assert verify_inclusion(hashes[index], index, size, proof, root)
            assert not verify_inclusion(hashes[index - 1], index, size, proof, root) or size == 1
        for size1 in range(0, size + 1):
            proof = merkle.consistency_proof(size1, size, get)
            assert verify_consistency(size1, size, proof, root_of(hashes[:size1]), root)


def test_new_nodes_build_the_same_tree_in_any_batches() -> None:
    hashes = [leaf_hash(bytes([i])) for i in range(100)]
    rng = random.Random(7)
    stored: dict[tuple[int, int], bytes] = {}
    size = 0
    while size < len(hashes):
        batch = hashes[size:size + rng.randint(1, 9)]
        edge = {node: stored[node] for node in merkle.root_plan(size)}
        stored.update(merkle.new_nodes(size, edge, batch))
        size += len(batch)
        assert merkle.fold([stored[n] for n in merkle.root_plan(size)]) == root_of(hashes[:size])
    assert stored == dict(_getter(hashes)(
        [(level, i) for level in range(8) for i in range(len(hashes) >> level)]))
