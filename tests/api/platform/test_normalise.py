from __future__ import annotations

import pytest

from api.platform.normalise import like_escape, search_key


@pytest.mark.parametrize(("typed", "stored"), [
    ("ﾄﾖﾀ自動車(株)", "トヨタ自動車株式会社"),
    ("㈱とよたじどうしゃ", "トヨタジドウシャ"),
    ("ソニーグループ", "ソニ－グル－プ"),
    ("icp capital", "ＩＣＰ　Ｃａｐｉｔａｌ　Ｌｉｍｉｔｅｄ"),
    ("Toyota Motor", "TOYOTA MOTOR CORPORATION"),
    ("有限会社髙島", "高島有限会社"),
    ("ダイマルフジイキギョウ", "ダイマルフジイキギヨウ"),
    ("国・税・庁", "国税庁"),
])
def test_what_people_type_meets_what_is_stored(typed: str, stored: str) -> None:
    assert search_key(typed) == search_key(stored)


def test_exact_keys() -> None:
    assert search_key("トヨタ自動車株式会社") == "トヨタ自動車"
    assert search_key("Toyota Motor Co., Ltd.") == "TOYOTAMOTOR"
    assert search_key("カブシキガイシャトヨタ") == "トヨタ"
    assert search_key("株式会社") == ""
    assert search_key(None) == ""


def test_like_escape() -> None:
    assert like_escape("50%_a\\b") == "50\\%\\_a\\\\b"


def test_every_folded_character_and_legal_form_still_normalises() -> None:
    # search_key skips steps that cannot change a key; these reach every step.
    assert search_key("ぁぃぅぇぉっゃゅょゎゕゖゔ") == "アイウエオツヤユヨワカケヴ"
    assert search_key("髙﨑德邊邉澤齋齊濱國嶋櫻廣實惠眞黑龍") == "高崎徳辺辺沢斎斉浜国島桜広実恵真黒竜"
    assert search_key("ABC GODO KAISHA") == "ABC"
    assert search_key("(有)山田") == search_key("山田カブシキカイシヤ") == "山田"
    assert search_key("一般社団法人 日本") == "日本"
