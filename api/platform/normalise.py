"""Search keys: what a name, its furigana or its English name becomes for matching.

NFKC (full/half width), upper case, hiragana to katakana, small kana to large (furigana is written
large), a few old kanji forms to the common ones, legal-form words dropped (株式会社, (株), 有限会社,
カブシキガイシャ, Co., Ltd. ...), then spaces, punctuation, middle dots and long-vowel marks dropped.
The query goes through the same function, so "ﾄﾖﾀ自動車(株)" finds "トヨタ自動車株式会社".
"""

from __future__ import annotations

import re
import unicodedata

_HIRAGANA_TO_KATAKANA = {code: code + 0x60 for code in range(0x3041, 0x3097)}
_SMALL_KANA = str.maketrans("ァィゥェォッャュョヮヵヶ", "アイウエオツヤユヨワカケ")
_OLD_FORMS = str.maketrans("髙﨑德邊邉澤齋齊濱國嶋櫻廣實惠眞黑龍", "高崎徳辺辺沢斎斉浜国島桜広実恵真黒竜")


def _folded(code: int) -> int:
    for table in (_HIRAGANA_TO_KATAKANA, _SMALL_KANA, _OLD_FORMS):
        code = table.get(code, code)
    return code


# The three tables as one (hiragana to katakana, then small to large, then old forms), applied only to
# keys that hold one of its characters: str.translate costs ~1.3 us per call on non-ASCII text, and the
# import computes three keys per row (a national file has 5.7 million rows).
_FOLD = {code: _folded(code) for table in (_HIRAGANA_TO_KATAKANA, _SMALL_KANA, _OLD_FORMS) for code in table}
_FOLDABLE = re.compile("[" + "".join(map(chr, sorted(_FOLD))) + "]")
_KANJI_FORMS = (
    "特定非営利活動法人", "一般社団法人", "一般財団法人", "公益社団法人", "公益財団法人", "社会福祉法人",
    "独立行政法人", "地方独立行政法人", "国立大学法人", "医療法人社団", "医療法人財団", "医療法人", "学校法人",
    "宗教法人", "株式会社", "有限会社", "合同会社", "合名会社", "合資会社", "相互会社",
)
_KANA_FORMS = ("カブシキガイシヤ", "カブシキカイシヤ", "ユウゲンガイシヤ", "ユウゲンカイシヤ", "ゴウドウガイシヤ",
               "ゴウメイガイシヤ", "ゴウシガイシヤ")
_ABBREVIATIONS = "株有合同名資社財医学宗福"
_KANJI_PATTERN = re.compile(
    "|".join(sorted(_KANJI_FORMS, key=len, reverse=True)) + rf"|\([{_ABBREVIATIONS}]\)|\(特非\)"
)
_KANA_PATTERN = re.compile("|".join(_KANA_FORMS))
_ENGLISH_PATTERN = re.compile(
    r"\b(?:CO\.?\s*,?\s*LTD\.?|COMPANY\s+LIMITED|KABUSHIKI\s+KAISHA|GODO\s+KAISHA|YUGEN\s+KAISHA|K\.\s*K\.|"
    r"G\.\s*K\.|CORPORATION|CORP\.?|INCORPORATED|INC\.?|LIMITED|LTD\.?|L\.?L\.?C\.?|PLC|GMBH)(?=\W|$)"
)
# Everything that is not a letter, a digit or a kana/kanji: spaces, punctuation, ・, ー and other dashes.
_DROPPED = re.compile(r"[\s\W_ー－‐―−〜～・･]+")
_LATIN = re.compile("[A-Z]")  # every English legal form starts with one


def search_key(text: str | None) -> str:
    if not text:
        return ""
    key = unicodedata.normalize("NFKC", text).upper()
    # Each step is skipped when a cheap test shows it cannot change the key (same result, less time).
    if _FOLDABLE.search(key):
        key = key.translate(_FOLD)
    if "法人" in key or "会社" in key or "(" in key:  # every Japanese legal form holds one of them
        key = _KANJI_PATTERN.sub(" ", key)
    if _LATIN.search(key):
        key = _ENGLISH_PATTERN.sub(" ", key)
    key = _DROPPED.sub("", key)
    return _KANA_PATTERN.sub("", key) if "イシヤ" in key else key  # every kana form ends in ガイシヤ/カイシヤ


def like_escape(text: str) -> str:
    """Escape LIKE wildcards (with '\\' as the escape character)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
