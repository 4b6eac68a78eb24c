"""Synthetic full-data files in the real format (30-column Ver.4 CSV), for benchmarks and load tests.

Numbers carry valid check digits; names mix kanji, kana and legal forms the way real ones do; the
rows are deterministic for a seed. Written as a stream, so any row count fits in constant memory.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

from corporate.checkdigit import with_check_digit

_KANJI = ("山田中村小林加藤吉田佐藤鈴木高橋伊藤渡辺青森東京日本北海富士央大和桜緑光丸協三第一未来新栄"
          "松竹梅川井上野原石岡本森西南北平安成長福永広島宮崎関谷清水春夏秋冬朝日月星雲海空花鳥風")
_KATAKANA = "アイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモヤユヨラリルレロワン"
_TRADES = ("商事", "建設", "工業", "電機", "食品", "不動産", "運輸", "物産", "興産", "製作所", "システム",
           "ホールディングス", "サービス", "開発", "水産", "農園", "薬局", "印刷", "設計", "観光")
_FORMS = (("株式会社", "301", True), ("株式会社", "301", False), ("有限会社", "302", True), ("合同会社", "305", True),
          ("一般社団法人", "399", True), ("", "499", True))
_PREFECTURES = (("01", "北海道"), ("02", "青森県"), ("13", "東京都"), ("14", "神奈川県"), ("23", "愛知県"),
                ("27", "大阪府"), ("40", "福岡県"), ("47", "沖縄県"))
_FULL_WIDTH = str.maketrans("0123456789-", "０１２３４５６７８９－")


def _quoted(value: str) -> str:
    return '"' + value.replace('"', '""') + '"' if value else ""


def rows(count: int, *, seed: int = 1) -> Iterator[str]:
    chooser = random.Random(seed)  # noqa: S311 (synthetic data, reproducible by seed; not security)
    for sequence in range(1, count + 1):
        base = f"{(sequence * 7919 + seed) % 10**12:012d}"  # 7919 is prime to 10**12: numbers never repeat
        kana = "".join(chooser.choice(_KATAKANA) for _ in range(chooser.randrange(2, 5)))
        stem = "".join(chooser.choice(_KANJI) for _ in range(2)) if chooser.random() < 0.7 else kana
        trade = chooser.choice(_TRADES)
        suffix = str(chooser.randrange(1000)) if chooser.random() < 0.5 else ""
        form, kind, before = chooser.choice(_FORMS)
        core = f"{stem}{trade}{suffix}"
        name = f"{form}{core}" if before else f"{core}{form}"
        prefecture_code, prefecture = chooser.choice(_PREFECTURES)
        city_code = f"{chooser.randrange(100, 600):03d}"
        street = f"{chooser.randrange(1, 9)}-{chooser.randrange(1, 40)}-{chooser.randrange(1, 30)}"
        street = street.translate(_FULL_WIDTH)
        closed = chooser.random() < 0.05
        english = f"{base[-6:]} Trading Co., Ltd." if chooser.random() < 0.1 else ""
        fields = [
            str(sequence), with_check_digit(base), "01", "0", "2015-10-30", "2015-10-05", _quoted(name), "", kind,
            _quoted(prefecture), _quoted(f"市{city_code}"), _quoted(street), "", prefecture_code, city_code,
            f"{chooser.randrange(10**7):07d}", "", "", "2020-03-31" if closed else "", "01" if closed else "", "", "",
            "2015-10-05", "1", _quoted(english), "", "", "", _quoted(kana), "0",
        ]
        yield ",".join(fields)


def write(path: Path, count: int, *, seed: int = 1) -> None:
    with path.open("w", encoding="utf-8", newline="\n") as out:
        for line in rows(count, seed=seed):
            out.write(line + "\n")
