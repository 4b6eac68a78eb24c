from __future__ import annotations

import datetime as dt

import pytest

from api.platform.errors import ErrorCode, PortalError
from api.platform.text import (
    MAX_TEXT_LENGTH,
    check_date,
    check_integer,
    check_json_texts,
    check_params,
    check_text,
    json_object,
)


@pytest.mark.parametrize("value", ["山田 太郎", "line\nnext\ttab\r\n", "😀 a pair", "x" * MAX_TEXT_LENGTH, ""])
def test_text_the_portal_can_store_passes(value: str) -> None:
    assert check_text(value, "name") == value


@pytest.mark.parametrize(("value", "problem"), [
    ("a\x00b", "holds a control character"),
    ("bell\x07", "holds a control character"),
    ("escape\x1b[0m", "holds a control character"),
    ("\ud800", "is not valid Unicode (a lone surrogate)"),
    ("low \udc00 alone", "is not valid Unicode (a lone surrogate)"),
    ("x" * (MAX_TEXT_LENGTH + 1), f"is longer than {MAX_TEXT_LENGTH} characters"),
])
def test_text_that_cannot_be_stored_is_refused_with_its_field(value: str, problem: str) -> None:
    with pytest.raises(PortalError) as refused:
        check_text(value, "input.title")
    assert (refused.value.code, refused.value.message, refused.value.extensions) == (
        ErrorCode.TEXT_INVALID, f"The text of input.title {problem}.", {"field": "input.title"})


def test_a_field_may_be_given_its_own_length() -> None:
    assert check_text("abc", "code", max_length=3) == "abc"
    with pytest.raises(PortalError):
        check_text("abcd", "code", max_length=3)


def test_integers_beyond_bigint_are_out_of_range() -> None:
    assert check_integer(2**63 - 1, "amount") == 2**63 - 1
    with pytest.raises(PortalError) as refused:
        check_integer(2**63, "amount")
    assert refused.value.code == ErrorCode.VALUE_OUT_OF_RANGE
    assert refused.value.extensions == {"field": "amount"}


@pytest.mark.parametrize("value", [dt.date(1, 1, 1), dt.date(1899, 12, 31), dt.date(2200, 1, 1),
                                   dt.datetime(9999, 12, 31, 23, 59, tzinfo=dt.UTC)])
def test_far_dates_are_out_of_range(value: dt.date) -> None:
    with pytest.raises(PortalError) as refused:
        check_date(value, "dueDate")
    assert (refused.value.code, refused.value.message) == (
        ErrorCode.VALUE_OUT_OF_RANGE, "dueDate must be between 1900-01-01 and 2199-12-31.")


def test_dates_of_the_portal_pass() -> None:
    assert check_date(dt.date(1900, 1, 1), "d") == dt.date(1900, 1, 1)
    assert check_date(dt.date(2199, 12, 31), "d") == dt.date(2199, 12, 31)


def test_every_string_of_a_json_value_is_checked_however_deep() -> None:
    nested: object = "\x00"
    for _ in range(5000):  # deeper than the recursion limit: the walk is iterative
        nested = [nested]
    with pytest.raises(PortalError) as refused:
        check_json_texts({"input": {"items": nested}}, "variables")
    assert refused.value.extensions["field"] == "variables.input.items" + "[0]" * 5000


def test_keys_are_checked_and_never_echoed() -> None:
    with pytest.raises(PortalError) as refused:
        check_json_texts({"in\x00put": "fine"}, "variables")
    assert refused.value.extensions == {"field": "variables.<key>"}
    check_json_texts({"input": ["fine", 1, 2.5, None, True]}, "variables")
    with pytest.raises(PortalError) as huge:
        check_json_texts({"amount": 10**30}, "body")
    assert (huge.value.code, huge.value.extensions) == (ErrorCode.VALUE_OUT_OF_RANGE, {"field": "body.amount"})


@pytest.mark.parametrize("raw", [b"null", b"42", b"[1]", b"\xff{}", b"[" * 100_000, b'{"a": NaN}',
                                 b'{"a": ' + b"9" * 5000 + b"}", b"{"])
def test_a_body_that_is_not_a_json_object_is_bad_input(raw: bytes) -> None:
    with pytest.raises(PortalError) as refused:
        json_object(raw)
    assert refused.value.code == ErrorCode.BAD_USER_INPUT


def test_a_json_body_has_its_texts_checked() -> None:
    assert json_object('{"purpose": "保育料"}'.encode()) == {"purpose": "保育料"}
    with pytest.raises(PortalError) as refused:
        json_object(b'{"purpose": "a\\u0000b"}')
    assert (refused.value.code, refused.value.extensions) == (ErrorCode.TEXT_INVALID, {"field": "body.purpose"})


def test_query_parameters_are_checked() -> None:
    check_params({"reference": "INV-1"})
    with pytest.raises(PortalError) as refused:
        check_params({"reference": "INV\x00"})
    assert refused.value.extensions == {"field": "reference"}


def test_a_file_in_base64_may_be_longer_than_text_up_to_its_own_bound() -> None:
    file = "QUJD" * 5000  # 20,000 characters of base64
    check_json_texts({"content": file}, "variables", files={"variables.content": 20_000})
    for refused, bound in ((file, 19_996), ("QUJD\n" * 4000, 20_000), ("é" * 10_001, 20_000)):
        with pytest.raises(PortalError) as caught:
            check_json_texts({"content": refused}, "variables", files={"variables.content": bound})
        assert (caught.value.code, caught.value.extensions) == ("TEXT_INVALID", {"field": "variables.content"})
    with pytest.raises(PortalError) as caught:  # base64 elsewhere (a cursor) is text
        check_json_texts({"after": file}, "variables", files={"variables.content": 20_000})
    assert caught.value.extensions == {"field": "variables.after"}
