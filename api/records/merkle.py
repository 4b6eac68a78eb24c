"""RFC 9162 Merkle tree hashing, proof generation and verification: pure, no I/O, no project imports.

Any client (the app, an auditor, another agency) may copy this file alone.

Hashing (RFC 9162 §2.1.1, SHA-256): a leaf is ``SHA-256(0x00 || data)``, an interior node
``SHA-256(0x01 || left || right)``, the empty tree ``SHA-256("")``.

Verification: ``verify_inclusion`` (§2.1.3.2) and ``verify_consistency`` (§2.1.4.2) return ``True`` only when the
proof verifies and ``False`` for every proof that does not (wrong hash, wrong length, extra or missing
elements). They raise ``MerkleInputError`` only for arguments no proof could be about: sizes or an index that
are negative or not integers, hashes or proof elements that are not bytes.

Generation: a stored log keeps the hash of every *perfect* subtree, addressed ``(level, index)``: the node
covering leaves ``[index * 2**level, (index + 1) * 2**level)``. A proof element is either such a node or the
hash of a right-edge subtree that is not full yet, which is the fold of at most log2(n) perfect nodes.
``inclusion_plan`` / ``consistency_plan`` name the nodes a proof needs (each element a list of node
addresses, left to right); ``assemble`` turns the fetched hashes into the proof. So a proof costs one read of
at most 2·log2(n) nodes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
Node = tuple[int, int]  # (level, index) of a perfect subtree
Plan = list[list[Node]]  # one entry per proof element: the perfect subtrees it folds, left to right


class MerkleInputError(ValueError):
    """Arguments that no proof can be about (negative sizes, non-bytes hashes)."""


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_of(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH over leaf hashes (§2.1.1), bottom-up: pairs at each level, an odd last node moves up unchanged."""
    if not leaf_hashes:
        return EMPTY_ROOT
    level = list(leaf_hashes)
    while len(level) > 1:
        paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


# --- generation -----------------------------------------------------------------------------------------------

def _largest_power_below(n: int) -> int:
    """The largest power of two strictly smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def perfect_nodes(start: int, end: int) -> list[Node]:
    """The perfect subtrees, left to right, that make up leaves [start, end) of a left-balanced tree range."""
    nodes: list[Node] = []
    while start < end:
        # The biggest aligned subtree at ``start`` that fits.
        level = (start & -start).bit_length() - 1 if start else (end - start).bit_length() - 1
        while start + (1 << level) > end:
            level -= 1
        nodes.append((level, start >> level))
        start += 1 << level
    return nodes


def _inclusion_ranges(index: int, start: int, end: int) -> list[tuple[int, int]]:
    """PATH(m, D[start:end]) of §2.1.3.1 as leaf ranges, bottom-up."""
    ranges: list[tuple[int, int]] = []
    while end - start > 1:
        k = _largest_power_below(end - start)
        if index < start + k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
    ranges.reverse()
    return ranges


def inclusion_plan(index: int, size: int) -> Plan:
    if not 0 <= index < size:
        raise MerkleInputError(f"leaf {index} is not in a tree of size {size}")
    return [perfect_nodes(a, b) for a, b in _inclusion_ranges(index, 0, size)]


def consistency_plan(size1: int, size2: int) -> Plan:
    """SUBPROOF(size1, D[0:size2], true) of §2.1.4.1 as node lists; empty when size1 is 0 or equals size2."""
    if not 0 <= size1 <= size2:
        raise MerkleInputError(f"no consistency proof from size {size1} to size {size2}")
    if size1 in (0, size2):
        return []
    ranges: list[tuple[int, int]] = []
    start, end, complete = 0, size2, True
    m = size1
    while m != end - start:
        k = _largest_power_below(end - start)
        if m <= k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            m -= k
            start += k
            complete = False
    if not complete:
        ranges.append((start, end))
    ranges.reverse()
    return [perfect_nodes(a, b) for a, b in ranges]


def fold(hashes: Sequence[bytes]) -> bytes:
    """The hash of a subtree from its perfect parts, left to right (they shrink, so fold from the right)."""
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = node_hash(left, result)
    return result


def nodes_of(plan: Plan) -> set[Node]:
    return {node for element in plan for node in element}


def assemble(plan: Plan, hashes: Mapping[Node, bytes]) -> list[bytes]:
    return [fold([hashes[node] for node in element]) for element in plan]


def root_plan(size: int) -> list[Node]:
    return perfect_nodes(0, size)


def inclusion_proof(index: int, size: int, get: Callable[[Iterable[Node]], Mapping[Node, bytes]]) -> list[bytes]:
    plan = inclusion_plan(index, size)
    return assemble(plan, get(nodes_of(plan)))


def consistency_proof(size1: int, size2: int,
                      get: Callable[[Iterable[Node]], Mapping[Node, bytes]]) -> list[bytes]:
    plan = consistency_plan(size1, size2)
    return assemble(plan, get(nodes_of(plan)))


def new_nodes(old_size: int, edge: Mapping[Node, bytes], leaves: Sequence[bytes]) -> dict[Node, bytes]:
    """The perfect subtrees that appending ``leaves`` to a tree of ``old_size`` completes (leaves included).

    ``edge`` holds the old tree's right edge: its ``perfect_nodes(0, old_size)`` (the compact range), the only
    old nodes a new one can need as its left child.
    """
    known = dict(edge)
    made: dict[Node, bytes] = {}
    for offset, value in enumerate(leaves):
        index = old_size + offset
        made[(0, index)] = known[(0, index)] = value
        level = 0
        while index & 1:  # a right child completes its parent
            parent = node_hash(known[(level, index - 1)], known[(level, index)])
            level, index = level + 1, index >> 1
            made[(level, index)] = known[(level, index)] = parent
    return made


# --- verification (RFC 9162 §2.1.3.2, §2.1.4.2) ---------------------------------------------------------------

def _check(sizes: Iterable[object], hashes: Iterable[object]) -> None:
    for value in sizes:
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise MerkleInputError(f"sizes and indexes are non-negative integers, not {value!r}")
    for value in hashes:
        if not isinstance(value, bytes | bytearray):
            raise MerkleInputError(f"hashes are bytes, not {type(value).__name__}")


def verify_inclusion(leaf_hash: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes) -> bool:
    _check((index, tree_size), (leaf_hash, root, *proof))
    if index >= tree_size or len(leaf_hash) != HASH_SIZE or len(root) != HASH_SIZE:
        return False
    fn, sn, r = index, tree_size - 1, bytes(leaf_hash)
    for p in proof:
        if sn == 0 or len(p) != HASH_SIZE:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


def verify_consistency(size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes) -> bool:
    _check((size1, size2), (root1, root2, *proof))
    if size1 > size2:
        return False
    # The RFC's algorithm is for 0 < size1 < size2; the trivial cases take an empty proof.
    if size1 == size2:
        return not proof and root1 == root2
    if size1 == 0:
        return not proof
    if not proof or any(len(c) != HASH_SIZE for c in proof) or len(root1) != HASH_SIZE:
        return False
    path = list(proof)
    if size1 & (size1 - 1) == 0:  # an exact power of two: the old root is the proof's start
        path.insert(0, bytes(root1))
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return fr == root1 and sr == root2 and sn == 0
