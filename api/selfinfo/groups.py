"""The portal's groups of 自己情報 (わたしの情報), and the group of each data kind of the exchange table."""

from __future__ import annotations

import enum


class InfoGroup(enum.StrEnum):
    TAX_INCOME = "tax-income"  # 税・所得
    PENSION = "pension"  # 年金
    CHILD_REARING = "child-rearing"  # 子ども・子育て
    HEALTH = "health"  # 健康・医療
    HOUSEHOLD = "household"  # 世帯
    OTHER = "other"  # その他: held, so shown (福祉 and 雇用 kinds the five groups do not cover)


GROUP_TITLES = {
    InfoGroup.TAX_INCOME: "税・所得",
    InfoGroup.PENSION: "年金",
    InfoGroup.CHILD_REARING: "子ども・子育て",
    InfoGroup.HEALTH: "健康・医療",
    InfoGroup.HOUSEHOLD: "世帯",
    InfoGroup.OTHER: "その他",
}

# The item kind codes of api/exchange/data/beppyo2.toml, by group.
_GROUP_OF_KIND = {
    "local_tax": InfoGroup.TAX_INCOME,
    "pension_benefit": InfoGroup.PENSION,
    "child_allowance": InfoGroup.CHILD_REARING,
    "child_rearing_allowance": InfoGroup.CHILD_REARING,
    "special_child_rearing_allowance": InfoGroup.CHILD_REARING,
    "medical_insurance_benefit": InfoGroup.HEALTH,
    "long_term_care": InfoGroup.HEALTH,
    "resident_record": InfoGroup.HOUSEHOLD,
}


def group_of(item_kind: str) -> InfoGroup:
    return _GROUP_OF_KIND.get(item_kind, InfoGroup.OTHER)
