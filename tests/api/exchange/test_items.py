"""Item schemas: a copy's key comes from its value, values are canonical, anything else is refused by kind."""

from __future__ import annotations

import pytest

from api.exchange.items import check_item
from api.platform.errors import PortalError

TAX = {"tax_year": 2025, "taxable_income": 4_200_000, "municipal_tax": 238_000, "dependants": 2}


def test_keys_come_from_the_value() -> None:
    assert check_item("local_tax", TAX) == ("2025", TAX)
    assert check_item("pension_benefit", {"kind": "老齢基礎年金", "annual_amount": 800_000,
                                          "since": "2020-04-01"}) == (
        "老齢基礎年金", {"kind": "老齢基礎年金", "annual_amount": 800_000, "since": "2020-04-01"})
    assert check_item("public_assistance", {"status": "受給中"}, "2025") == ("2025", {"status": "受給中"})


@pytest.mark.parametrize(("kind", "value", "key"), [
    ("local_tax", {**TAX, "dependants": True}, None),  # a boolean is not a count
    ("local_tax", {**TAX, "taxable_income": "4200000"}, None),  # nor a text a number
    ("local_tax", {**TAX, "tax_year": 1999}, None),
    ("local_tax", TAX, "2024"),  # a key that contradicts the value
    ("local_tax", [TAX], None),
    ("resident_record", {"household_head_name": "山田 太郎", "relationship_to_head": "子",
                         "members": [{"name": "x", "relationship": "子", "birth_date": "not a date"}]}, None),
    ("public_assistance", {"nested": {"a": 1}}, None),  # the other kinds are flat
    ("public_assistance", {}, None),
    ("public_assistance", {"a": "x" * 201}, None),
])
def test_invalid_values_are_refused_naming_the_kind(kind: str, value: object, key: str | None) -> None:
    with pytest.raises(PortalError) as refused:
        check_item(kind, value, key)
    assert refused.value.code == "BAD_USER_INPUT" and refused.value.extensions["itemKind"] == kind
