from __future__ import annotations

import random

import pytest

from corporate import records
from corporate.checkdigit import is_valid

V1_ROW = ["1", "1000012160145", "01", "0", "2015-10-26", "2015-10-05", "弘前検察審査会", "", "101", "青森県",
          "弘前市", "大字下白銀町７", "", "02", "202", "0368356", "", "", "", "", "", "", "2015-10-05"]


def test_a_23_column_row_becomes_30_fields_with_the_new_ones_empty_but_hihyoji_0() -> None:
    values = records.parse_row(V1_ROW)
    assert len(values) == 30
    assert values[:7] == ("1", "1000012160145", "01", "0", "2015-10-26", "2015-10-05", "弘前検察審査会")
    assert values[records.NAME + 1] is None
    assert values[records.PREFECTURE_CODE] == "02"
    # The NTA always answers hihyoji 0 or 1: a state published before Ver.4 is searchable, so 0.
    assert values[23:] == (None,) * 6 + ("0",)


@pytest.mark.parametrize(("columns", "hihyoji"), [(28, "0"), (29, "0"), (30, "0"), (30, "1")])
def test_hihyoji_is_0_or_1_in_every_column_version(columns: int, hihyoji: str) -> None:
    row = [*V1_ROW, "1", "", "", "", "", "", ""][:columns]
    if columns == 30:
        row[records.HIHYOJI] = "" if hihyoji == "0" else hihyoji  # an empty field in a Ver.4 file too
    values, _ = records.parse_and_hash(row)
    assert values[records.HIHYOJI] == hihyoji


def test_the_same_state_hashes_alike_in_every_column_version_and_sequence() -> None:
    v4 = [*V1_ROW, "1", "", "", "", "", "", "0"]
    v4[0] = "99"
    assert records.record_hash(records.parse_row(V1_ROW)) == records.record_hash(records.parse_row(v4))
    changed = list(V1_ROW)
    changed[records.NAME] = "別の名前"
    assert records.record_hash(records.parse_row(changed)) != records.record_hash(records.parse_row(V1_ROW))


def _with(position: int, value: str) -> list[str]:
    row = list(V1_ROW)
    row[position] = value
    return row


@pytest.mark.parametrize(("_case", "row", "reason"), [
    ("columns", V1_ROW[:22], "expected 23, 28, 29 or 30 columns, got 22"),
    ("check digit", _with(1, "2000012160145"), "corporateNumber is not 13 digits with a valid check digit"),
    ("process", _with(2, "55"), "process is not a known code"),
    ("date", _with(4, "2015-13-01"), "updateDate is not a YYYY-MM-DD date"),
    ("short date", _with(5, "2015-1-5"), "changeDate is not a YYYY-MM-DD date"),
    ("kind", _with(8, "999"), "kind is not a known code"),
    ("name", _with(6, ""), "name is missing"),
    ("sequence", _with(0, "x"), "sequenceNumber is not a number"),
])
def test_bad_rows_are_rejected_with_a_reason(_case: str, row: list[str], reason: str) -> None:
    with pytest.raises(records.RejectedRow) as raised:
        records.parse_row(row)
    assert str(raised.value) == reason


def test_a_deletion_row_needs_only_number_process_and_date() -> None:
    row = ["4", "1000012160145", "99", "", "2016-01-05", *[""] * 25]
    values = records.parse_row(row)
    assert values[records.PROCESS] == "99"
    assert values[records.NAME] is None


def test_the_state_hash_never_changes_format() -> None:
    # Stored hashes identify states across imports: a new formula would store every state again.
    assert records.record_hash(records.parse_row(V1_ROW)).hex() == "5e4d17da4cff4b91be45f0133c5dd889"
    assert records.parse_and_hash(list(V1_ROW)) == (list(records.parse_row(V1_ROW)),
                                                    records.record_hash(records.parse_row(V1_ROW)))


def test_the_fast_check_digit_test_agrees_with_checkdigit() -> None:
    chooser = random.Random(2)
    numbers = ["".join(chooser.choice("0123456789") for _ in range(13)) for _ in range(20000)]
    numbers += ["", "123", "１００００１２１６０１４５", "1000012160145 ", "a000012160145", "10000121601450"]
    assert [records.is_corporate_number(number) for number in numbers] == [is_valid(number) for number in numbers]
    assert records.is_corporate_number("1000012160145")
