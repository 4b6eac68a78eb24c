"""Reading corporate-number data: lookups by number, the diff window, name search, data dates.

The name search's SQL lives in name_search and the search_* modules; search_names runs it and reads the
page's states.

Functions take an AsyncSession and return plain dataclasses; states carry the 30 NTA fields as the
strings the files had (dates as YYYY-MM-DD), so every output format renders the same values.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from api.platform.db import PointRead
from corporate import records
from corporate.models import Corporation
from corporate.name_search import NameSearch, SortKey, address_filter, kind_filter
from corporate.search_ordered import ordered_partial, partial_walk
from corporate.search_ranked import ranked_page

_table = Corporation.__table__
_FIELD_COLUMNS = [_table.c[column] for column in records.COLUMNS]
_SORT_STATES = (_table.c.update_date, _table.c.sequence_number, _table.c.id)


@dataclass(frozen=True)
class CorporateState:
    """One published state of a corporation: the 30 fields in NTA order, as strings or None."""

    values: tuple[str | None, ...]
    imported_at: datetime

    def __getitem__(self, field: str) -> str | None:
        return self.values[records.INDEX[field]]

    @property
    def corporate_number(self) -> str:
        return self.values[records.NUMBER]  # type: ignore[return-value]

    @property
    def latest(self) -> bool:
        return self.values[records.LATEST] == "1"


@dataclass(frozen=True)
class ResultPage:
    count: int
    states: list[CorporateState]


def _as_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _state(row: Sequence[Any]) -> CorporateState:
    return CorporateState(values=tuple(_as_text(value) for value in row[:30]), imported_at=row[30])


def _states_query() -> Select[Any]:
    return select(*_FIELD_COLUMNS, _table.c.imported_at)


async def lookup(session: AsyncSession, numbers: Sequence[str], *, history: bool = False) -> list[CorporateState]:
    """The latest state of each number (or every state with history), in the order the numbers were given.

    Unknown numbers are simply absent, as in the NTA API.
    """
    return _in_given_order((await session.execute(_lookup_query(numbers, history))).all(), numbers)


async def lookup_with(engine: AsyncEngine, numbers: Sequence[str], *, history: bool = False
                      ) -> list[CorporateState]:
    """``lookup`` as the /4/num hot path runs it: one ``api.platform.db.PointRead`` per count of numbers (at most ten,
    by their index) on a connection of ``engine``'s pool, no session."""
    distinct = list(dict.fromkeys(numbers))
    params = {f"number_{i}": number for i, number in enumerate(distinct)}
    return _in_given_order(await _point_lookup(len(distinct), history).rows(engine, params), numbers)


@functools.cache
def _point_lookup(count: int, history: bool) -> PointRead:
    query = _states_query().where(_table.c.corporate_number.in_([bindparam(f"number_{i}") for i in range(count)]))
    if not history:
        query = query.where(_table.c.latest)
    return PointRead(query.order_by(*_SORT_STATES))


def _lookup_query(numbers: Sequence[str], history: bool) -> Select[Any]:
    query = _states_query().where(_table.c.corporate_number.in_(list(numbers)))
    if not history:
        query = query.where(_table.c.latest)
    return query.order_by(*_SORT_STATES)


def _in_given_order(rows: Sequence[Any], numbers: Sequence[str]) -> list[CorporateState]:
    order = {number: position for position, number in enumerate(dict.fromkeys(numbers))}
    states = [_state(row) for row in rows]
    return sorted(states, key=lambda state: order[state.corporate_number])  # stable: history stays in order


async def histories(session: AsyncSession, numbers: Sequence[str]) -> dict[str, list[CorporateState]]:
    """Every state of each number, oldest first; an unknown number maps to an empty list."""
    grouped: dict[str, list[CorporateState]] = {number: [] for number in numbers}
    for state in await lookup(session, numbers, history=True):
        grouped[state.corporate_number].append(state)
    return grouped


async def diff(
    session: AsyncSession, start: date, end: date, *, prefecture_code: str | None = None,
    city_code: str | None = None, kinds: Sequence[str] = (), offset: int = 0, limit: int = 2000,
) -> ResultPage:
    """Every state published between start and end (inclusive), by (update date, number)."""
    conditions = [_table.c.update_date.between(start, end), *address_filter(prefecture_code, city_code),
                  *kind_filter(kinds)]
    count = await session.scalar(select(func.count()).select_from(_table).where(*conditions))
    rows = (await session.execute(
        _states_query().where(*conditions)
        .order_by(_table.c.update_date, _table.c.corporate_number, _table.c.sequence_number, _table.c.id)
        .offset(offset).limit(limit)
    )).all()
    return ResultPage(count=count or 0, states=[_state(row) for row in rows])


async def search_names(
    session: AsyncSession, search: NameSearch, *, offset: int = 0, limit: int = 2000,
    after: SortKey | None = None, with_count: bool = True,
) -> tuple[int | None, list[tuple[SortKey, CorporateState]]]:
    """Matches ranked exact first, then prefix, then partial; shorter names first; then by number.

    Returns the total (when asked) and the page's (sort key, latest state) pairs; only the page's rows
    are read in full. A partial search of current names reads its partial matches off an index in order
    where it can (``search_ordered``); every other search ranks its matches in one pass (``search_ranked``).
    """
    sqlite = session.bind.dialect.name == "sqlite"
    walk = await partial_walk(session, search, sqlite)
    if walk is not None:
        count, ranked = await ordered_partial(session, search, walk, sqlite, offset, limit, after, with_count)
    else:
        count, ranked = await ranked_page(session, search, sqlite, offset, limit, after, with_count)
    states: dict[Any, CorporateState] = {}
    if ranked:
        rows = await session.execute(select(_table.c.id, *_FIELD_COLUMNS, _table.c.imported_at)
                                     .where(_table.c.id.in_([row_id for *_, row_id in ranked])))
        states = {row[0]: _state(row[1:]) for row in rows}
    return count, [((rank, length or 0, number), states[row_id]) for rank, length, number, row_id in ranked]


async def last_update_date(session: AsyncSession) -> date | None:
    """The newest update date in the data: the NTA header's lastUpdateDate."""
    return await session.scalar(select(func.max(_table.c.update_date)))
