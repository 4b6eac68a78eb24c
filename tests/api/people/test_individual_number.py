from __future__ import annotations

import pytest
from cryptography.exceptions import InvalidTag
from hypothesis import given
from hypothesis import strategies as st

from api.people.individual_number import IndividualNumberCipher, InvalidIndividualNumber, check_digit, mask, validate

KEY_A = bytes(32)
KEY_B = bytes([1]) * 32


@pytest.mark.parametrize("number", ["621498320257", "123456789018"])
def test_valid_numbers_pass(number: str) -> None:
    assert validate(number) == number


@pytest.mark.parametrize(
    ("_case", "number", "message"),
    [
        ("wrong check digit", "621498320258", "the individual number's check digit is wrong"),
        ("letter", "62149832025X", "an individual number is exactly 12 digits"),
        ("too short", "62149832025", "an individual number is exactly 12 digits"),
        ("fullwidth digits", "６２１４９８３２０２５７", "an individual number is exactly 12 digits"),
    ],
)
def test_invalid_numbers_fail_without_echoing_the_number(_case: str, number: str, message: str) -> None:
    with pytest.raises(InvalidIndividualNumber) as raised:
        validate(number)
    assert str(raised.value) == message
    assert number not in str(raised.value)


def test_check_digit_is_zero_when_remainder_is_at_most_one() -> None:
    # 00000000000 sums to 0; 10000000000 sums to 6 (6 mod 11 = 6 → 5); 00000100000 sums to 7 → 4.
    assert check_digit("00000000000") == 0
    assert check_digit("10000000000") == 5
    assert check_digit("00000100000") == 4


@given(st.text(alphabet="0123456789", min_size=11, max_size=11))
def test_a_computed_check_digit_always_validates(base: str) -> None:
    number = base + str(check_digit(base))
    assert validate(number) == number


def test_mask_shows_only_the_last_four_digits() -> None:
    assert mask("621498320257") == "********0257"


def test_encryption_round_trips_and_never_repeats_a_ciphertext() -> None:
    cipher = IndividualNumberCipher(KEY_A, KEY_B)
    first, second = cipher.encrypt("621498320257", 1), cipher.encrypt("621498320257", 1)
    assert first != second
    assert b"621498320257" not in first
    assert cipher.decrypt(first, 1) == cipher.decrypt(second, 1) == "621498320257"


def test_a_tampered_ciphertext_is_rejected() -> None:
    cipher = IndividualNumberCipher(KEY_A, KEY_B)
    blob = bytearray(cipher.encrypt("621498320257", 1))
    blob[-1] ^= 1
    with pytest.raises(InvalidTag):
        cipher.decrypt(bytes(blob), 1)


def test_lookup_hash_is_keyed_and_stable() -> None:
    cipher = IndividualNumberCipher(KEY_A, KEY_B)
    other_key = IndividualNumberCipher(KEY_A, bytes([2]) * 32)
    assert cipher.lookup_hash("621498320257", 1) == cipher.lookup_hash("621498320257", 1)
    assert cipher.lookup_hash("621498320257", 1) != other_key.lookup_hash("621498320257", 1)
    assert len(cipher.lookup_hash("621498320257", 1)) == 32


def test_encrypting_an_invalid_number_is_refused() -> None:
    with pytest.raises(InvalidIndividualNumber):
        IndividualNumberCipher(KEY_A, KEY_B).encrypt("621498320258", 1)
