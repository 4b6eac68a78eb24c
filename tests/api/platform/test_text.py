from __future__ import annotations

import pytest

from api.platform.errors import PortalError
from api.platform.text import check_text


def test_acceptable_text_is_returned_as_is() -> None:
    assert check_text("住民税 第1期 𠮷", "purpose", 20) == "住民税 第1期 𠮷"
    assert check_text("", "note", 5, required=False) == ""


@pytest.mark.parametrize(("value", "message"), [
    ("a\x00b", "purpose must not contain NUL."),
    ("x\ud800", "purpose must be valid Unicode (no lone surrogates)."),
    ("a" * 21, "purpose must be at most 20 characters."),
    ("  ", "purpose must not be empty."),
    (12, "purpose must be a string."),
    (None, "purpose must be a string."),
])
def test_bad_text_is_a_bad_user_input_naming_the_field(value: object, message: str) -> None:
    with pytest.raises(PortalError) as refused:
        check_text(value, "purpose", 20)
    assert (refused.value.code, refused.value.message, refused.value.extensions) == (
        "BAD_USER_INPUT", message, {"field": "purpose"})
