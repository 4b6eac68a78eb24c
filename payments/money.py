"""Amounts: whole yen as Python ints, never floats, never bools, within the published maximum."""

from __future__ import annotations

from typing import Any

from api.platform.errors import PortalError
from payments.models import MAX_AMOUNT_YEN


def yen(value: Any, *, field: str = "amount") -> int:
    # bool is an int subclass and floats round silently: both are refused, as are strings.
    if isinstance(value, bool) or not isinstance(value, int):
        raise PortalError("AMOUNT_INVALID", f"{field} must be a whole number of yen.")
    if value <= 0:
        raise PortalError("AMOUNT_INVALID", f"{field} must be a positive number of yen.")
    if value > MAX_AMOUNT_YEN:
        raise PortalError("AMOUNT_INVALID", f"{field} must be at most {MAX_AMOUNT_YEN} yen.")
    return value
