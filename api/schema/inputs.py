"""The Date and DateTime scalars, range-checked where they are read (variables and literals alike).

Text needs no scalar of its own: the gateway checks every string of the variables and the document checks
its literals (api.schema.security, api.schema.documents), so every String and ID argument and input field is
covered, however deeply nested.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from typing import Any

from strawberry.schema.types.base_scalars import DateDefinition, DateTimeDefinition
from strawberry.types.scalar import ScalarDefinition

from api.platform.text import check_date


def _range_checked(definition: ScalarDefinition) -> ScalarDefinition:
    parse: Callable[[Any], Any] = definition.parse_value  # type: ignore[assignment]

    def parse_value(value: Any) -> Any:
        return check_date(parse(value), f"a {definition.name}")

    return dataclasses.replace(definition, parse_value=parse_value)


SCALAR_OVERRIDES: dict[object, ScalarDefinition] = {
    dt.date: _range_checked(DateDefinition),
    dt.datetime: _range_checked(DateTimeDefinition),
}
