from __future__ import annotations

import pytest

from tests.api.conftest import Portal
from tests.api.schema.test_notices import PUBLISH, segment_input

BY_VARIABLE = "query($day: Date) { corporations(query: \"トヨタ\", filter: {changedSince: $day}) { edges { cursor } } }"


@pytest.mark.parametrize("day", ["0001-01-01", "1899-12-31", "2200-01-01", "9999-12-31"])
async def test_far_dates_are_out_of_range_as_variables_and_literals(portal: Portal, day: str) -> None:
    for result in (await portal.query(BY_VARIABLE, {"day": day}, token=portal.father_token),
                   await portal.query(BY_VARIABLE.replace("($day: Date)", "").replace("$day", f'"{day}"'),
                                      token=portal.father_token)):
        assert result["data"] is None
        [error] = result["errors"]
        assert (error["message"], error["extensions"]) == ("a Date must be between 1900-01-01 and 2199-12-31.", {
            "field": "a Date", "reason": "VALUE_OUT_OF_RANGE", "code": "BAD_USER_INPUT"})


async def test_dates_in_range_are_read(portal: Portal) -> None:
    result = await portal.query(BY_VARIABLE, {"day": "2199-12-31"}, token=portal.father_token)
    assert result == {"data": {"corporations": {"edges": []}}}


async def test_far_datetimes_are_out_of_range(portal: Portal) -> None:
    # No agency key is needed to see the refusal: the value is refused before any resolver runs.
    result = await portal.query(PUBLISH, {"input": segment_input(publishAt="9999-12-31T23:59:59+09:00")})
    assert result["errors"][0]["extensions"]["reason"] == "VALUE_OUT_OF_RANGE"
