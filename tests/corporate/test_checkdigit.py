from __future__ import annotations

import pytest

from corporate.checkdigit import InvalidCorporateNumber, clean_input, compute_check_digit, is_valid, validate

VALID = ["7000012050002", "1180301018771", "4000012090001", "1130001011420", "5010401067252", "8000012010038",
         "7000020100005", "5070001032626", "5835678256246", "5111101000006", "8040001999013"]


@pytest.mark.parametrize("number", VALID)
def test_published_numbers_are_valid(number: str) -> None:
    assert is_valid(number)
    assert compute_check_digit(number[1:]) == int(number[0])


@pytest.mark.parametrize("number", ["2835678256246", "2180001015846", "0000012050002", "700001205000",
                                    "70000120500020", "7000012O50002", "７000012050002"])
def test_invalid_numbers_are_refused(number: str) -> None:
    assert not is_valid(number)
    with pytest.raises(InvalidCorporateNumber):
        validate(number)


def test_a_zero_nine_swap_goes_unnoticed_as_the_nta_scheme_allows() -> None:
    assert is_valid("7900012050002")


def test_worked_example_sums() -> None:
    assert compute_check_digit("000012050002") == 7
    assert compute_check_digit("180301018771") == 1


def test_clean_input_accepts_what_people_type() -> None:
    assert clean_input("７-０００-０１２０-５０００２") == "7000012050002"
    assert clean_input("T7000012050002") == "7000012050002"
    assert clean_input(" 7000012050002 ") == "7000012050002"
