"""BER-TLV parsing (tags of any length, definite lengths up to 4 bytes)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass


class TlvError(ValueError):
    pass


@dataclass(frozen=True)
class Tlv:
    tag: int
    value: bytes
    constructed: bool

    def children(self) -> list[Tlv]:
        if not self.constructed:
            raise TlvError(f"tag {self.tag:X} is primitive")
        return parse_all(self.value)


def read_header(data: bytes, offset: int = 0) -> tuple[int, int, int]:
    """Return (tag, length, header_size) of the TLV starting at ``offset``."""
    pos = offset
    if pos >= len(data):
        raise TlvError("no tag")
    first = data[pos]
    tag = first
    pos += 1
    if first & 0x1F == 0x1F:
        while True:
            if pos >= len(data):
                raise TlvError("truncated tag")
            b = data[pos]
            tag = (tag << 8) | b
            pos += 1
            if not b & 0x80:
                break
            if pos - offset > 4:
                raise TlvError("tag longer than 4 bytes")
    if pos >= len(data):
        raise TlvError("no length")
    lb = data[pos]
    pos += 1
    if lb < 0x80:
        length = lb
    elif lb == 0x80:
        raise TlvError("indefinite length not supported")
    else:
        n = lb & 0x7F
        if n > 4 or pos + n > len(data):
            raise TlvError("bad long length")
        length = int.from_bytes(data[pos:pos + n], "big")
        pos += n
    return tag, length, pos - offset


def _first_byte(tag: int) -> int:
    while tag > 0xFF:
        tag >>= 8
    return tag


def iter_tlv(data: bytes) -> Iterator[Tlv]:
    pos = 0
    while pos < len(data):
        # FF/00 filler after the last object (card files are padded)
        if data[pos] in (0x00, 0xFF) and all(b == data[pos] for b in data[pos:]):
            return
        tag, length, hsize = read_header(data, pos)
        start = pos + hsize
        if start + length > len(data):
            raise TlvError(f"value of tag {tag:X} truncated")
        yield Tlv(tag, bytes(data[start:start + length]), bool(_first_byte(tag) & 0x20))
        pos = start + length


def parse_all(data: bytes) -> list[Tlv]:
    return list(iter_tlv(data))


def parse_one(data: bytes) -> Tlv:
    tag, length, hsize = read_header(data)
    if hsize + length > len(data):
        raise TlvError("value truncated")
    return Tlv(tag, bytes(data[hsize:hsize + length]), bool(_first_byte(tag) & 0x20))


def encode(tag: int, value: bytes) -> bytes:
    tag_bytes = tag.to_bytes(max(1, (tag.bit_length() + 7) // 8), "big")
    n = len(value)
    if n < 0x80:
        length = bytes((n,))
    else:
        lb = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes((0x80 | len(lb),)) + lb
    return tag_bytes + length + value
