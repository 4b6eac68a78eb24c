"""What a client of the log checks: signed tree heads and the refresh rule that reveals a split view.

Pure (merkle and Ed25519, no I/O, no other project imports), so the app's logic can be ported from it as is.

A tree head is signed over a C2SP tlog-checkpoint body (https://c2sp.org/tlog-checkpoint) with the signing
time as its extension line::

    mynaportal/records/v1
    <tree size>
    <base64 root hash>
    <timestamp, milliseconds since the epoch>

A head signed by the server alone cannot prove the server shows everyone the same log. So the app keeps the
last head it verified and, on every refresh, asks for a consistency proof from it to the new head:
``check_refresh`` accepts the new head only if that proof holds. Two different heads for one size, or a new
head that does not extend the kept one, raise ``SplitView``; the app keeps its old head and reports it.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from api.records.merkle import verify_consistency

LOG_ORIGIN = "mynaportal/records/v1"


class LogVerificationError(Exception):
    """The log's answer does not verify; the client keeps what it had."""


class HeadSignatureInvalid(LogVerificationError):
    pass


class SplitView(LogVerificationError):
    """The new head does not extend the kept one: the log was rewritten or is shown differently to others."""


@dataclass(frozen=True, slots=True)
class TreeHead:
    size: int
    root: bytes
    timestamp_ms: int
    key_generation: int
    signature: bytes

    def body(self, origin: str = LOG_ORIGIN) -> bytes:
        return checkpoint_body(self.size, self.root, self.timestamp_ms, origin)

    def as_json(self) -> dict[str, object]:
        return {"size": self.size, "root": base64.b64encode(self.root).decode(), "timestamp": self.timestamp_ms,
                "keyGeneration": self.key_generation, "signature": base64.b64encode(self.signature).decode()}


def checkpoint_body(size: int, root: bytes, timestamp_ms: int, origin: str = LOG_ORIGIN) -> bytes:
    return f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n{timestamp_ms}\n".encode()


def verify_head(head: TreeHead, public_keys: Mapping[int, bytes], origin: str = LOG_ORIGIN) -> None:
    """Raise ``HeadSignatureInvalid`` unless a published key of the head's generation signed it."""
    raw = public_keys.get(head.key_generation)
    if raw is None:
        raise HeadSignatureInvalid(f"no published key of generation {head.key_generation}")
    try:
        Ed25519PublicKey.from_public_bytes(raw).verify(head.signature, head.body(origin))
    except (InvalidSignature, ValueError):
        raise HeadSignatureInvalid(f"the tree head of size {head.size} is not signed by its key") from None


def check_refresh(last: TreeHead | None, new: TreeHead, proof: Sequence[bytes], public_keys: Mapping[int, bytes],
                  origin: str = LOG_ORIGIN) -> TreeHead:
    """The head to keep after a refresh: ``new`` once its signature and its consistency with ``last`` hold."""
    verify_head(new, public_keys, origin)
    if last is None:
        return new
    if new.size < last.size:
        raise SplitView(f"the log shrank from {last.size} to {new.size} records")
    if new.size == last.size and new.root != last.root:
        raise SplitView(f"two different tree heads for size {new.size}")
    if not verify_consistency(last.size, new.size, proof, last.root, new.root):
        raise SplitView(f"the head of size {new.size} does not extend the head of size {last.size}")
    return new
