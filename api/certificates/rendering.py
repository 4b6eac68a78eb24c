"""Lays a certificate out on A4 and writes the PDF, with its Japanese fonts embedded (subset).

IPAex Mincho (JIS X 0208 and more) sets everything it covers; a string with a character it lacks is set in IPAmj
Mincho (the 文字情報基盤's 58,000 characters, for names outside JIS X 0208); a character neither font has fails
the issuance (``GlyphMissing``) instead of printing an empty box. The fonts are parsed once per process.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import segno
from reportlab.lib.colors import Color, black
from reportlab.lib.pagesizes import A4
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from api.certificates.documents import CertificateText, both
from api.platform.errors import PortalError

FONT_FILES = {
    "IPAexMincho": Path("/usr/share/fonts/opentype/ipaexfont-mincho/ipaexm.ttf"),
    "IPAmjMincho": Path("/usr/share/fonts/truetype/ipamj/ipamjm.ttf"),
}
_WIDTH, _HEIGHT = A4
_MARGIN = 50.0
_LINE = 15.0
_LABEL_WIDTH = 120.0
_SEAL_RED = Color(0.78, 0.1, 0.1)
_BOTTOM = 120.0  # every page: the QR code and its note below this line
_FOOTER = 150.0  # the last page: the attestation, the date, the mayor and the seal above the QR code


class GlyphMissing(PortalError):
    def __init__(self, character: str) -> None:
        # The code point only: the name it belongs to is personal data.
        super().__init__("GLYPH_MISSING", f"No font here can print U+{ord(character):04X}; the certificate was "
                                          "not issued. The municipality must register the character's glyph.")


@dataclass(frozen=True)
class Rendered:
    pdf: bytes
    pages: int
    fonts: tuple[str, ...]


class Renderer:
    """Fonts loaded once; ``render`` is then pure and thread-safe (each call has its own canvas)."""

    def __init__(self, font_files: dict[str, Path] = FONT_FILES) -> None:
        self._coverage: list[tuple[str, frozenset[int]]] = []
        for name, path in font_files.items():
            font = TTFont(name, str(path))
            pdfmetrics.registerFont(font)
            self._coverage.append((name, frozenset(font.face.charToGlyph)))

    def font_for(self, text: str) -> str:
        codes = {ord(c) for c in text if not c.isspace()}
        for name, covered in self._coverage:
            if codes <= covered:
                return name
        missing = next(c for c in text if not c.isspace() and all(ord(c) not in cov for _, cov in self._coverage))
        raise GlyphMissing(missing)

    def check(self, document: CertificateText) -> None:
        for text in document.strings():
            self.font_for(text)

    def render(self, document: CertificateText) -> Rendered:
        self.check(document)  # before any drawing: a missing glyph fails the whole document
        buffer = io.BytesIO()
        canvas = Canvas(buffer, pagesize=A4, initialFontName=self._coverage[0][0], pageCompression=1,
                        invariant=True)
        canvas.setTitle(document.title)
        canvas.setAuthor(document.mayor)
        canvas.setSubject(f"{document.municipality} {document.serial}")
        canvas.setCreator("mynaportal certificates")
        used: set[str] = set()
        pages = _Pages(canvas, self, document, used)
        pages.header()
        for block in document.blocks:
            needed = _LINE * (len(block.entries) + 2)
            pages.ensure(needed)
            pages.text(_MARGIN, block.heading, 11)
            pages.y -= _LINE * 1.2
            for entry in block.entries:
                pages.ensure(_LINE)
                pages.text(_MARGIN + 10, entry.label, 10)
                pages.text(_MARGIN + 10 + _LABEL_WIDTH, entry.value, 10)
                pages.y -= _LINE
            canvas.setLineWidth(0.3)
            canvas.line(_MARGIN, pages.y + _LINE * 0.4, _WIDTH - _MARGIN, pages.y + _LINE * 0.4)
            pages.y -= _LINE * 0.6
        pages.footer()
        canvas.save()
        return Rendered(buffer.getvalue(), pages.number, tuple(sorted(used)))


class _Pages:
    def __init__(self, canvas: Canvas, renderer: Renderer, document: CertificateText, used: set[str]) -> None:
        self.canvas, self.renderer, self.document, self.used = canvas, renderer, document, used
        self.number = 1
        self.y = _HEIGHT - _MARGIN

    def text(self, x: float, text: str, size: float, *, centre: bool = False, colour: Color = black) -> None:
        font = self.renderer.font_for(text)
        self.used.add(font)
        self.canvas.setFont(font, size)
        self.canvas.setFillColor(colour)
        if centre:
            self.canvas.drawCentredString(x, self.y, text)
        else:
            self.canvas.drawString(x, self.y, text)

    def header(self) -> None:
        top = self.y
        self._qr(self.document.verification_url)  # on every page: a sheet alone still leads to the check
        self.y = top
        self.text(_WIDTH / 2, self.document.title, 20, centre=True)
        self.y -= 18
        self.text(_WIDTH - _MARGIN - 160, f"証明書番号 {self.document.serial}", 8)
        self.text(_MARGIN, f"{self.document.municipality}　{self.number}枚目", 8)
        self.y -= _LINE * 1.5

    def ensure(self, height: float) -> None:
        if self.y - height < _BOTTOM:
            self.canvas.showPage()
            self.number += 1
            self.y = _HEIGHT - _MARGIN
            self.header()

    def footer(self) -> None:
        self.ensure(_FOOTER + (90 if self.document.seal_png is not None else 0))
        document = self.document
        if document.seal_png is not None:
            self.canvas.drawImage(ImageReader(io.BytesIO(document.seal_png)), _MARGIN + 10 + _LABEL_WIDTH,
                                  self.y - 70, width=70, height=70)
            self.text(_MARGIN + 10, "登録印影", 10)
            self.y -= 85
        for note in document.notes:
            self.text(_MARGIN, note, 8)
            self.y -= _LINE
        self.y = _BOTTOM + _FOOTER - 30
        self.text(_MARGIN, document.attestation, 10.5)
        self.y -= _LINE * 1.6
        self.text(_MARGIN + 20, both(document.issued_on), 10.5)
        self.y -= _LINE * 2
        self.text(_MARGIN + 170, document.mayor, 13)
        # The mayor's official seal (職印): a red square with its legend, as on the printed form.
        self.canvas.setStrokeColor(_SEAL_RED)
        self.canvas.setLineWidth(1.5)
        self.canvas.rect(_MARGIN + 380, self.y - 12, 42, 42, stroke=1, fill=0)
        self.y += 14
        self.text(_MARGIN + 401, f"{document.municipality[:3]}", 9, centre=True, colour=_SEAL_RED)
        self.y -= 12
        self.text(_MARGIN + 401, "長之印", 9, centre=True, colour=_SEAL_RED)

    def _qr(self, url: str) -> None:
        # A fixed mask: segno's search for the best of eight costs more than the rest of the page, and any mask is
        # a valid QR code (ISO/IEC 18004 §7.8); each row's dark runs are one rectangle.
        modules = segno.make_qr(url, error="m", mask=0).matrix
        size = 90.0
        cell = size / (len(modules) + 8)
        left, bottom = _WIDTH - _MARGIN - size, 20.0
        self.canvas.setFillColor(black)
        path = self.canvas.beginPath()
        for row, line in enumerate(modules):
            column = 0
            while column < len(line):
                if not line[column]:
                    column += 1
                    continue
                start = column
                while column < len(line) and line[column]:
                    column += 1
                path.rect(left + (start + 4) * cell, bottom + size - (row + 5) * cell, (column - start) * cell, cell)
        self.canvas.drawPath(path, stroke=0, fill=1)
        self.y = bottom + 30
        self.text(_MARGIN, "この証明書の発行は右の二次元コードのページで確かめられます。", 7.5)
        self.y -= 12
        self.text(_MARGIN, f"証明書番号 {self.document.serial}　{self.number}枚目", 7.5)
