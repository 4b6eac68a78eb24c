from __future__ import annotations

import pytest

from api.platform.errors import PortalError
from payments.money import yen


@pytest.mark.parametrize("value", [0, -1, 1.0, 1.5, "1", True, None, 100_000_001])
def test_only_positive_whole_yen_within_the_maximum(value: object) -> None:
    with pytest.raises(PortalError) as refused:
        yen(value)
    assert refused.value.code == "AMOUNT_INVALID"


def test_whole_yen_pass_through() -> None:
    assert (yen(1), yen(100_000_000)) == (1, 100_000_000)
