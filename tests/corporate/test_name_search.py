"""What a name search asks: its key, when it is invalid, and when more than the name narrows it."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from corporate.name_search import InvalidSearch, NameSearch, index_may_count, name_conditions, narrowed


@pytest.mark.parametrize("sqlite", [True, False])
def test_a_name_that_normalises_to_nothing_is_invalid(sqlite: bool) -> None:
    with pytest.raises(InvalidSearch):
        name_conditions(NameSearch(text="株式会社"), sqlite)


@pytest.mark.parametrize("options", [
    {"prefecture_code": "13"}, {"city_code": "101"}, {"kinds": ("301",)}, {"exact_characters": True},
    {"include_past_names": True}, {"include_closed": False}, {"assigned_from": date(2016, 1, 1)},
    {"assigned_to": date(2016, 1, 1)}, {"changed_since": date(2016, 1, 1)},
])
def test_any_condition_beside_the_name_narrows_a_search(options: dict[str, Any]) -> None:
    search = NameSearch(text="青森", mode="partial", **options)
    assert narrowed(search)
    assert not index_may_count(search)


def test_the_index_counts_a_search_of_every_key_by_name_alone() -> None:
    assert not narrowed(NameSearch(text="青森", mode="partial", target="name"))
    assert index_may_count(NameSearch(text="青森", mode="partial"))
    assert not index_may_count(NameSearch(text="青森", mode="partial", target="name"))
    assert not index_may_count(NameSearch(text="青森", mode="partial", target="furigana"))
