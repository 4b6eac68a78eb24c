"""Segments: who a notice is for, as SQL over people (prefecture, municipality, age range, has a child under N).

A prefecture is the first two digits of the 全国地方公共団体コード every municipality code begins with (13 東京都):
everyone in a prefecture is everyone whose municipality code starts with them."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, select, true
from sqlalchemy.orm import aliased

from api.people.models import ParentChild, Person
from api.platform.errors import ErrorCode, PortalError

MAX_AGE = 150


def _invalid(message: str) -> PortalError:
    """The segment's criteria are out of range or inconsistent."""
    return PortalError(ErrorCode.BAD_USER_INPUT, message)


@dataclass(frozen=True)
class Segment:
    municipality_code: str | None = None
    prefecture_code: str | None = None  # "01" (北海道) to "47" (沖縄県)
    min_age: int | None = None
    max_age: int | None = None  # inclusive
    has_child_under: int | None = None  # a child (any parent link) younger than this many years

    def __post_init__(self) -> None:
        for name in ("min_age", "max_age", "has_child_under"):
            value = getattr(self, name)
            if value is not None and not 0 <= value <= MAX_AGE:
                raise _invalid(f"{name} must be between 0 and {MAX_AGE}")
        if self.min_age is not None and self.max_age is not None and self.min_age > self.max_age:
            raise _invalid("min_age must not exceed max_age")
        if self.has_child_under == 0:
            raise _invalid("has_child_under must be at least 1")
        if self.municipality_code is not None and (len(self.municipality_code) != 6
                                                   or not self.municipality_code.isdigit()):
            raise _invalid("municipality_code is 6 digits")
        code = self.prefecture_code
        if code is not None and not (len(code) == 2 and code.isascii() and code.isdigit() and 1 <= int(code) <= 47):
            raise _invalid("prefecture_code is 01 to 47")
        if code is not None and self.municipality_code is not None and not self.municipality_code.startswith(code):
            raise _invalid("the municipality is not in the prefecture")

    @property
    def empty(self) -> bool:
        return all(value is None for value in asdict(self).values())

    def to_json(self) -> dict[str, Any]:
        return {key: value for key, value in asdict(self).items() if value is not None}

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Segment:
        return cls(**(data or {}))


def years_before(day: date, years: int) -> date:
    """The same calendar day ``years`` earlier (29 February becomes 28 February)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def segment_condition(segment: Segment, today: date) -> ColumnElement[bool]:
    """A condition on ``Person`` that holds for the people in the segment on ``today``."""
    conditions: list[ColumnElement[bool]] = []
    if segment.municipality_code is not None:
        conditions.append(Person.municipality_code == segment.municipality_code)
    if segment.prefecture_code is not None:  # a range of the municipality codes' index, not a pattern
        conditions.append(Person.municipality_code.between(f"{segment.prefecture_code}0000",
                                                           f"{segment.prefecture_code}9999"))
    if segment.min_age is not None:  # age >= n  <=>  born on or before today n years ago
        conditions.append(Person.birth_date <= years_before(today, segment.min_age))
    if segment.max_age is not None:  # age <= n  <=>  born after today (n + 1) years ago
        conditions.append(Person.birth_date > years_before(today, segment.max_age + 1))
    if segment.has_child_under is not None:
        child = aliased(Person)
        conditions.append(exists(
            select(ParentChild.child_id)
            .join(child, child.id == ParentChild.child_id)
            .where(ParentChild.parent_id == Person.id,
                   child.birth_date > years_before(today, segment.has_child_under))
        ))
    return and_(true(), *conditions)
