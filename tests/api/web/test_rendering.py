"""How the pages show agencies' data items, and the navigation's furigana."""

from __future__ import annotations

from api.web.navigation import SECTIONS, with_furigana
from api.web.rendering import FIELD_LABELS, shown_value


def test_values_are_shown_as_people_read_them() -> None:
    assert shown_value(4_200_000, "taxable_income") == "4,200,000"
    assert shown_value(2025, "tax_year") == "2025"
    assert shown_value(True) == "はい"
    assert shown_value([{"name": "山田 太郎", "relationship": "世帯主"}, {"name": "山田 一郎", "relationship": "子"}]) \
        == "山田 太郎、世帯主\n山田 一郎、子"
    assert FIELD_LABELS["municipal_tax"] == "住民税額"


def test_furigana_marks_only_the_listed_words_and_escapes_the_rest() -> None:
    assert str(with_furigana("やりとり履歴", {"履歴": "りれき"})) == "やりとり<ruby>履歴<rt>りれき</rt></ruby>"
    assert str(with_furigana("<b>情報</b>", {"情報": "じょうほう"})) == \
        "&lt;b&gt;<ruby>情報<rt>じょうほう</rt></ruby>&lt;/b&gt;"
    assert [s.path for s in SECTIONS] == ["/", "/notices", "/payments", "/history", "/applications", "/certificates",
                                         "/me", "/consents", "/proxies"]
