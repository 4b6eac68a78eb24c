"""What a certificate says, before layout: title, the certified entries, 認証文, issuer, date, serial."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

# (first day, era name): 和暦 as municipal certificates print it.
_ERAS = ((date(2019, 5, 1), "令和"), (date(1989, 1, 8), "平成"), (date(1926, 12, 25), "昭和"),
         (date(1912, 7, 30), "大正"), (date(1868, 1, 25), "明治"))


def era(day: date) -> str:
    """1985-04-01 → 昭和60年4月1日 (元年 for the first year of an era)."""
    for start, name in _ERAS:
        if day >= start:
            year = day.year - start.year + 1
            return f"{name}{'元' if year == 1 else year}年{day.month}月{day.day}日"
    return western(day)


def western(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def both(day: date) -> str:
    """The issue date as the J-LIS sample prints it: the Western year with the era year in brackets."""
    return f"{western(day)}（{era(day).split('年')[0]}年）"


@dataclass(frozen=True)
class Entry:
    label: str
    value: str


@dataclass(frozen=True)
class Block:
    """One certified section: a person of a 住民票, the 戸籍's header, a tax year ..."""

    heading: str
    entries: tuple[Entry, ...]


@dataclass(frozen=True)
class CertificateText:
    title: str
    municipality: str  # 千代田区
    blocks: tuple[Block, ...]
    attestation: str  # 認証文
    mayor: str  # 千代田区長　山田 一
    issued_on: date
    serial: str
    verification_url: str
    seal_png: bytes | None = None  # the registered impression (印鑑登録証明書)
    notes: tuple[str, ...] = field(default_factory=tuple)

    def strings(self) -> list[str]:
        """Every string that will be printed: each must have a glyph in a font the renderer holds."""
        out = [self.title, self.municipality, self.attestation, self.mayor, self.serial, *self.notes]
        for block in self.blocks:
            out.append(block.heading)
            out.extend(s for entry in block.entries for s in (entry.label, entry.value))
        return out
