"""What a name search asks, the SQL conditions its matches meet, and the order they come in.

The search itself is ``service.search_names``: one ranked pass over every match (``search_ranked``), or,
for a partial search of current names, a walk of an index in match order (``search_ordered``) over
SQLite's FTS5 index (``search_sqlite``) or PostgreSQL's trigram postings (``search_postgres``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from sqlalchemy import ColumnElement, Select, and_, func, literal, or_, tuple_

from api.platform.normalise import like_escape, search_key
from corporate import records
from corporate.models import Corporation

_table = Corporation.__table__
MIN_TRIGRAM = 3  # FTS5 trigram and pg_trgm need three characters to use their index
# A two-character key (often a three-character term that lost one to folding: サービ, Ｍ＆Ｍ) is looked up in
# the pair indexes of migration 0025: SQLite's FTS5 `corporation_pairs`, PostgreSQL's trigram postings by
# code range. Only a one-character key reads every row.
MIN_PAIR = 2
# The indexes an ordered partial search walks key a current state by where it sorts among partial
# matches, name length x 10^13 + corporate number: SQLite's FTS5 index by rowid (migration 0006, which
# keys a past state by minus its row id), PostgreSQL's trigram postings by sort_key (migration 0008).
ORDER_SCALE = 10**13

Target = Literal["name", "furigana", "english", "any"]
_TARGET_COLUMNS = {
    "name": ("search_name",), "furigana": ("search_kana",), "english": ("search_en",),
    "any": ("search_name", "search_kana", "search_en"),
}
SortKey = tuple[int, int, str]
Ranked = tuple[int, int, str, Any]  # (rank, name length, corporate number, row id of the latest state)


class InvalidSearch(ValueError):
    """A query that normalises to nothing."""


@dataclass(frozen=True)
class NameSearch:
    text: str
    mode: Literal["prefix", "partial"] = "prefix"
    target: Target = "any"
    exact_characters: bool = False  # NTA target=2: the stored name must contain the query as typed
    prefecture_code: str | None = None
    city_code: str | None = None
    kinds: tuple[str, ...] = ()  # 3-digit kinds
    include_closed: bool = True
    include_past_names: bool = False  # NTA change=1
    assigned_from: date | None = None
    assigned_to: date | None = None
    changed_since: date | None = None

    @property
    def key(self) -> str:
        return search_key(self.text)


@dataclass(frozen=True)
class IndexWalk:
    """An index an ordered partial search reads its partial matches (rank 2) off, in their sort order."""

    source: Any  # the index's rows
    order: ColumnElement[int]  # an entry's sort key (name length x 10^13 + number)
    matches: list[ColumnElement[bool]]  # the entries whose keys hold the term
    number: ColumnElement[str]  # the corporate number of an entry
    count: Select[Any] | None  # the number of matches, from the index alone, where that is exact
    # Read each entry's row through a LATERAL subquery, so that the database must walk the entries in order
    # and stop at the page's end: where the entries come sorted rather than off an ordered index scan,
    # PostgreSQL would otherwise hash-join them to a scan of the whole table (its estimate of the rows the
    # name conditions keep is far too low).
    lateral: bool = False


def address_filter(prefecture_code: str | None, city_code: str | None) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if prefecture_code:
        conditions.append(_table.c.prefecture_code == prefecture_code)
    if city_code:
        conditions.append(_table.c.city_code == city_code)
    return conditions


def kind_filter(kinds: Sequence[str]) -> list[ColumnElement[bool]]:
    return [_table.c.kind.in_(list(kinds))] if kinds else []


def _prefix(column: ColumnElement[str], key: str, sqlite: bool) -> ColumnElement[bool]:
    if sqlite:  # a range on the B-tree (SQLite's LIKE ignores indexes unless case-sensitive)
        return and_(column >= key, column < key + "\U0010ffff")
    # No ESCAPE clause: PostgreSQL's default escape is already the backslash, and an explicit one turns the
    # pattern into an expression the planner cannot match to the text_pattern_ops index.
    return column.like(like_escape(key) + "%")


def filters(search: NameSearch) -> list[ColumnElement[bool]]:
    """Every condition of a search but the name match itself."""
    conditions: list[ColumnElement[bool]] = [
        func.coalesce(_table.c.hihyoji, "0") != "1", _table.c.process != records.DELETED,
        *address_filter(search.prefecture_code, search.city_code), *kind_filter(search.kinds),
    ]
    if search.exact_characters:
        conditions.append(_table.c.name.contains(search.text, autoescape=True))
    if not search.include_past_names:
        conditions.append(_table.c.latest)
    if not search.include_closed:
        conditions.append(_table.c.close_date.is_(None))
    if search.assigned_from:
        conditions.append(_table.c.assignment_date >= search.assigned_from)
    if search.assigned_to:
        conditions.append(_table.c.assignment_date <= search.assigned_to)
    if search.changed_since:
        conditions.append(_table.c.update_date >= search.changed_since)
    return conditions


def narrowed(search: NameSearch) -> bool:
    """Whether a search has a condition beyond the name, current, visible states (the index's own rows)."""
    return bool(search.prefecture_code or search.city_code or search.kinds or search.exact_characters
                or search.include_past_names or not search.include_closed or search.assigned_from
                or search.assigned_to or search.changed_since)


def index_may_count(search: NameSearch) -> bool:
    """Whether the walk's index holds exactly the states a search may match: a term in any of the keys
    (the index covers them joined), nothing but the name narrowing the search."""
    return search.target == "any" and "\x1f" not in search.key and not narrowed(search)


def name_conditions(search: NameSearch, sqlite: bool) -> tuple[ColumnElement[bool], ColumnElement[bool],
                                                                 ColumnElement[bool]]:
    """(exact, prefix, contains) on the search's target columns."""
    key = search.key
    if not key:
        raise InvalidSearch("the name has nothing left to search once legal forms and symbols are removed")
    columns = [_table.c[name] for name in _TARGET_COLUMNS[search.target]]
    exact = or_(*(column == key for column in columns))
    prefix = or_(*(_prefix(column, key, sqlite) for column in columns))
    contains = or_(*(func.instr(column, key) > 0 if sqlite else column.like(f"%{like_escape(key)}%")
                     for column in columns))
    return exact, prefix, contains


def sorts_after(keys: Any, after: SortKey) -> ColumnElement[bool]:
    """The ranked keys (rank, name_length, number) that come after a page's last sort key."""
    return tuple_(keys.c.rank, keys.c.name_length, keys.c.number) > tuple_(
        literal(after[0]), literal(after[1]), literal(after[2]))
