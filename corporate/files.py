"""Reading NTA bulk files as a stream: zipped or not, Unicode (UTF-8) or Shift-JIS (decoded as cp932).

Each line is decoded and parsed on its own, so a line with broken bytes or an unclosed quote is
rejected alone and never swallows the lines after it. Memory stays bounded by one line.
"""

from __future__ import annotations

import codecs
import csv
import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

SNIFF_BYTES = 1 << 20
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


def _lines(stream: BinaryIO, source: str, encoding: str | None) -> Iterator[Line]:
    buffered = io.BufferedReader(stream, buffer_size=1 << 20) if not isinstance(stream, io.BufferedReader) \
        else stream
    chosen = encoding or detect_encoding(buffered.peek(SNIFF_BYTES)[:SNIFF_BYTES])
    for number, raw in enumerate(buffered, start=1):
        size = len(raw)
        if number == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[3:]
        raw = raw.rstrip(b"\r\n")
        if not raw.strip():
            yield Line(source, number, None, "empty line", size)
            continue
        try:
            text = raw.decode(chosen)
        except UnicodeDecodeError:
            yield Line(source, number, None, f"not valid {_CODEC_NAMES[chosen]}", size)
            continue
        try:
            [fields] = csv.reader((text,), strict=True)
        except (csv.Error, ValueError):
            yield Line(source, number, None, "malformed CSV (unbalanced quotes or a truncated line)",
                       size)
            continue
        yield Line(source, number, fields, None, size)


def members(path: Path) -> list[Member]:
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            return [Member(f"{path.name}:{info.filename}", info.file_size) for info in archive.infolist()
                    if info.filename.lower().endswith(".csv")]
    return [Member(path.name, path.stat().st_size)]


def read_lines(path: Path, *, encoding: str | None = None) -> Iterator[Line]:
    """Every line of every CSV in the file, in order."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                if not info.filename.lower().endswith(".csv"):
                    continue  # the .csv.asc PGP signature and anything else
                with archive.open(info) as stream:
                    yield from _lines(stream, f"{path.name}:{info.filename}", encoding)
        return
    with path.open("rb") as stream:
        yield from _lines(stream, path.name, encoding)
