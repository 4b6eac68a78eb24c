"""The portal's groups of 自己情報 (わたしの情報), and which group each kind of data item (特定個人情報) falls in."""

from __future__ import annotations

import enum


class InfoGroup(enum.StrEnum):
    TAX_INCOME = "tax-income"  # 税・所得
    PENSION = "pension"  # 年金
    CHILD_REARING = "child-rearing"  # 子ども・子育て
    HEALTH = "health"  # 健康・医療
    HOUSEHOLD = "household"  # 世帯


GROUP_TITLES = {
    InfoGroup.TAX_INCOME: "税・所得",
    InfoGroup.PENSION: "年金",
    InfoGroup.CHILD_REARING: "子ども・子育て",
    InfoGroup.HEALTH: "健康・医療",
    InfoGroup.HOUSEHOLD: "世帯",
}

# The kinds of 別表第二 (one-stop.md §5.1) by group; an item's kind is the part of its name before any "/".
_KINDS = {
    InfoGroup.TAX_INCOME: ("地方税関係情報", "所得", "課税", "税"),
    InfoGroup.PENSION: ("年金給付関係情報", "年金"),
    InfoGroup.CHILD_REARING: ("児童手当関係情報", "児童扶養手当関係情報", "特別児童扶養手当関係情報", "母子保健",
                              "児童", "子ども", "保育"),
    InfoGroup.HEALTH: ("医療保険給付関係情報", "介護保険給付等関係情報", "医療", "健康", "健診", "予防接種"),
    InfoGroup.HOUSEHOLD: ("住民票関係情報", "世帯", "続柄"),
}


def group_of(item_name: str) -> InfoGroup | None:
    """The group an item belongs in: its kind named exactly first, else the first group whose word it contains;
    None for an item the portal does not show in these groups."""
    kind = item_name.split("/", 1)[0].strip()
    for group, kinds in _KINDS.items():
        if kind == kinds[0]:
            return group
    for group, kinds in _KINDS.items():
        if any(word in kind for word in kinds[1:]):
            return group
    return None
