"""Reading NTA bulk files as a stream: zipped or not, Unicode (UTF-8) or Shift-JIS (decoded as cp932).

Each line counts on its own, so a line with broken bytes or an unclosed quote is rejected alone and never
swallows the lines after it. For speed a block of lines (BLOCK_BYTES) is decoded and parsed in one go,
and only a block where that could differ from reading line by line is read line by line. Memory stays
bounded by one block.
"""

from __future__ import annotations

import codecs
import csv
import io
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

SNIFF_BYTES = 1 << 20
BLOCK_BYTES = 1 << 18  # lines are read, decoded and parsed about this many bytes at a time
_CODEC_NAMES = {"utf-8": "UTF-8", "cp932": "Shift-JIS (cp932)"}


@dataclass(frozen=True)
class Line:
    """A physical line of a CSV member: its 1-based number, and its fields or why it is unreadable."""

    source: str
    number: int
    fields: list[str] | None
    problem: str | None = None
    size: int = 0  # bytes of the line, for progress


@dataclass(frozen=True)
class Member:
    """One CSV inside a file (a zip may hold several, plus the NTA's .asc signatures)."""

    source: str
    size: int  # bytes, for the progress bar


def detect_encoding(head: bytes) -> str:
    """'utf-8' when most non-ASCII lines of the first megabyte are valid UTF-8, else 'cp932'.

    Judged line by line so that one corrupt line does not flip a Unicode file to Shift-JIS.
    """
    utf8 = other = 0
    for raw in head.split(b"\n")[:-1] or [head]:
        if raw.isascii():
            continue
        try:
            raw.decode("utf-8")
            utf8 += 1
        except UnicodeDecodeError:
            other += 1
    return "utf-8" if utf8 >= other else "cp932"


@dataclass(frozen=True)
class Block:
    """Consecutive lines of one CSV member: the fields of each, or None and the reason in `problems`."""

    source: str
    first: int  # the number of the first line
    fields: list[list[str] | None]
    problems: dict[int, str]  # position in `fields` -> why that line is unreadable
    size: int  # bytes, for progress


def _line(raw: bytes, encoding: str) -> tuple[list[str] | None, str | None]:
    """One line on its own: its fields, or why it is unreadable."""
    raw = raw.rstrip(b"\r\n")
    if not raw.strip():
        return None, "empty line"
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError:
        return None, f"not valid {_CODEC_NAMES[encoding]}"
    try:
        [fields] = csv.reader((text,), strict=True)
    except (csv.Error, ValueError):
        return None, "malformed CSV (unbalanced quotes or a truncated line)"
    return fields, None


def _block_at_once(raws: list[bytes], encoding: str) -> list[list[str]] | None:
    """The fields of every line, decoded and parsed in one call each; None when a line needs a closer look.

    Any line that is undecodable, empty, carries a stray CR, or whose quotes run past its end makes the
    whole block go line by line (`_line`), so the result is the same as reading each line alone.
    """
    try:
        text = b"".join(raws).decode(encoding)
    except UnicodeDecodeError:
        return None
    if "\r" in text:
        text = text.replace("\r\n", "\n")
        if "\r" in text:
            return None
    lines = text.split("\n")  # no byte of a multi-byte UTF-8 or cp932 character is 0x0A
    if lines[-1] == "":
        lines.pop()
    if len(lines) != len(raws):
        return None
    reader = csv.reader(lines, strict=True)
    try:
        rows = list(reader)
    except (csv.Error, ValueError):
        return None
    # A quote left open swallows the next line into its row: then there are fewer rows than lines.
    if len(rows) != len(lines) or not all(rows) or not all(line.strip() for line in lines):
        return None
    return rows


def _blocks(stream: BinaryIO, source: str, encoding: str | None, keep: Callable[[], bool] | None,
            block_bytes: int) -> Iterator[Block]:
    buffered = io.BufferedReader(stream, buffer_size=1 << 20) if not isinstance(stream, io.BufferedReader) \
        else stream
    chosen = encoding or detect_encoding(buffered.peek(SNIFF_BYTES)[:SNIFF_BYTES])
    number = 1
    while raws := buffered.readlines(block_bytes):
        size = sum(map(len, raws))
        if keep is not None and not keep():  # another parsing process's block: skipped before decoding
            number += len(raws)
            continue
        if number == 1 and raws[0].startswith(codecs.BOM_UTF8):
            raws[0] = raws[0][3:]
        fields: list[list[str] | None] | None = _block_at_once(raws, chosen)  # type: ignore[assignment]
        problems: dict[int, str] = {}
        if fields is None:
            fields = []
            for position, raw in enumerate(raws):
                line_fields, problem = _line(raw, chosen)
                fields.append(line_fields)
                if problem:
                    problems[position] = problem
        yield Block(source, number, fields, problems, size)
        number += len(raws)


def members(path: Path) -> list[Member]:
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            return [Member(f"{path.name}:{info.filename}", info.file_size) for info in archive.infolist()
                    if info.filename.lower().endswith(".csv")]
    return [Member(path.name, path.stat().st_size)]


def read_blocks(path: Path, *, encoding: str | None = None, keep: Callable[[], bool] | None = None,
                block_bytes: int | None = None) -> Iterator[Block]:
    """Every line of every CSV in the file, in order, a block of lines at a time (the fast way).

    `keep`, asked once per block in order, says whether to parse it: several processes share a file by
    each keeping every n-th block (the blocks' bounds and line numbers are the same in all of them, given
    the same `block_bytes`, BLOCK_BYTES by default)."""
    block_bytes = block_bytes or BLOCK_BYTES
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                if not info.filename.lower().endswith(".csv"):
                    continue  # the .csv.asc PGP signature and anything else
                with archive.open(info) as stream:
                    yield from _blocks(stream, f"{path.name}:{info.filename}", encoding, keep, block_bytes)
        return
    with path.open("rb") as stream:
        yield from _blocks(stream, path.name, encoding, keep, block_bytes)


def read_lines(path: Path, *, encoding: str | None = None) -> Iterator[Line]:
    """Every line of every CSV in the file, in order, one at a time."""
    for block in read_blocks(path, encoding=encoding):
        share = block.size // max(len(block.fields), 1)
        for position, fields in enumerate(block.fields):
            yield Line(block.source, block.first + position, fields, block.problems.get(position), share)
