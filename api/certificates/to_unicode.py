"""Names outside the BMP read back: the fonts' ToUnicode CMaps written in UTF-16, as the PDF standard asks.

ReportLab 4-5 writes each subset glyph's Unicode value as ``<%04X>`` (``ttfonts.makeToUnicodeCMap``, no option
to change it), so a character above U+FFFF (𠮷, U+20BB7, common in IPAmj names) comes out as five hex digits,
which readers take as U+20BB plus garbage: pdftotext prints ₻田 for 𠮷田. ISO 32000 (9.10.3) wants the
destination as UTF-16BE, a surrogate pair here. The fix goes in through pyHanko's public object model, as an
incremental update before the signature covers it, and only for documents with such a character.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

_WIDE = re.compile(rb"<([0-9A-Fa-f]{2,4})> <([0-9A-Fa-f]{5,6})>")


def outside_bmp(strings: Iterable[str]) -> bool:
    return any(ord(character) > 0xFFFF for text in strings for character in text)


def _utf16(match: re.Match[bytes]) -> bytes:
    code = int(match.group(2), 16) - 0x10000
    return b"<%s> <%04X%04X>" % (match.group(1), 0xD800 + (code >> 10), 0xDC00 + (code & 0x3FF))


def utf16_cmap(cmap: bytes) -> bytes:
    """The CMap with every bfchar destination above U+FFFF as its surrogate pair (the rest unchanged)."""
    return _WIDE.sub(_utf16, cmap)


def _pages(node: generic.DictionaryObject) -> Iterator[generic.DictionaryObject]:
    if node.get("/Type") == "/Pages":
        for kid in node["/Kids"]:
            yield from _pages(kid.get_object())
    else:
        yield node


def repair(writer: IncrementalPdfFileWriter) -> int:
    """Rewrite the ToUnicode CMaps that need it; returns how many were rewritten."""
    seen: set[int] = set()
    rewritten = 0
    for page in _pages(writer.root["/Pages"]):
        resources = page["/Resources"]
        fonts = resources["/Font"] if "/Font" in resources else generic.DictionaryObject()
        for reference in fonts.values():
            font = reference.get_object()
            cmap_reference = font.get_value_as_reference("/ToUnicode", optional=True)
            if cmap_reference is None or cmap_reference.idnum in seen:
                continue
            seen.add(cmap_reference.idnum)
            cmap = cmap_reference.get_object().data
            fixed = utf16_cmap(cmap)
            if fixed == cmap:
                continue
            stream = generic.StreamObject(stream_data=fixed)
            stream.compress()
            font[generic.NameObject("/ToUnicode")] = writer.add_object(stream)
            writer.update_container(font)
            rewritten += 1
    return rewritten
