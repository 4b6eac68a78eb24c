from __future__ import annotations

from api.exchange.legal_table import legal_table
from api.selfinfo.groups import GROUP_TITLES, InfoGroup, group_of


def test_every_kind_of_the_exchange_table_has_a_group() -> None:
    groups = {kind: group_of(kind) for kind in legal_table().items}
    assert groups["local_tax"] is InfoGroup.TAX_INCOME
    assert groups["pension_benefit"] is InfoGroup.PENSION
    assert groups["child_allowance"] is groups["child_rearing_allowance"] is InfoGroup.CHILD_REARING
    assert groups["medical_insurance_benefit"] is InfoGroup.HEALTH
    assert groups["resident_record"] is InfoGroup.HOUSEHOLD
    assert groups["public_assistance"] is InfoGroup.OTHER
    assert [GROUP_TITLES[g] for g in InfoGroup] == [
        "税・所得", "年金", "子ども・子育て", "健康・医療", "世帯", "その他"]
