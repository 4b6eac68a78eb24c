"""Reading corporate-number data: lookups by number, the diff window, name search, data dates.

Functions take an AsyncSession and return plain dataclasses; states carry the 30 NTA fields as the
strings the files had (dates as YYYY-MM-DD), so every output format renders the same values.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    Select,
    Text,
    and_,
    bindparam,
    case,
    cast,
    column,
    func,
    literal,
    or_,
    select,
    table,
    text,
    tuple_,
)
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from api.db import PointRead
from corporate import records
from corporate.models import Corporation
from corporate.normalise import like_escape, search_key

_table = Corporation.__table__
_FIELD_COLUMNS = [_table.c[column] for column in records.COLUMNS]
_SORT_STATES = (_table.c.update_date, _table.c.sequence_number, _table.c.id)
MIN_TRIGRAM = 3  # FTS5 trigram and pg_trgm need three characters to use their index


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
    """``lookup`` as the /4/num hot path runs it: one ``api.db.PointRead`` per count of numbers (at most ten,
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


def _address_filter(prefecture_code: str | None, city_code: str | None) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if prefecture_code:
        conditions.append(_table.c.prefecture_code == prefecture_code)
    if city_code:
        conditions.append(_table.c.city_code == city_code)
    return conditions


def _kinds(kinds: Sequence[str]) -> list[ColumnElement[bool]]:
    return [_table.c.kind.in_(list(kinds))] if kinds else []


async def diff(
    session: AsyncSession, start: date, end: date, *, prefecture_code: str | None = None,
    city_code: str | None = None, kinds: Sequence[str] = (), offset: int = 0, limit: int = 2000,
) -> ResultPage:
    """Every state published between start and end (inclusive), by (update date, number)."""
    conditions = [_table.c.update_date.between(start, end), *_address_filter(prefecture_code, city_code),
                  *_kinds(kinds)]
    count = await session.scalar(select(func.count()).select_from(_table).where(*conditions))
    rows = (await session.execute(
        _states_query().where(*conditions)
        .order_by(_table.c.update_date, _table.c.corporate_number, _table.c.sequence_number, _table.c.id)
        .offset(offset).limit(limit)
    )).all()
    return ResultPage(count=count or 0, states=[_state(row) for row in rows])


Target = Literal["name", "furigana", "english", "any"]
_TARGET_COLUMNS = {
    "name": ("search_name",), "furigana": ("search_kana",), "english": ("search_en",),
    "any": ("search_name", "search_kana", "search_en"),
}


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


def _phrase_query(key: str) -> str:
    """The key as an FTS5 phrase: the trigram tokenizer makes it the phrase of the key's trigrams, which
    the index (detail=full since migration 0009: it keeps positions) matches where the keys hold it."""
    return '"' + key.replace('"', '""') + '"'


def _prefix(column: ColumnElement[str], key: str, sqlite: bool) -> ColumnElement[bool]:
    if sqlite:  # a range on the B-tree (SQLite's LIKE ignores indexes unless case-sensitive)
        return and_(column >= key, column < key + "\U0010ffff")
    # No ESCAPE clause: PostgreSQL's default escape is already the backslash, and an explicit one turns the
    # pattern into an expression the planner cannot match to the text_pattern_ops index.
    return column.like(like_escape(key) + "%")


# The indexes an ordered partial search walks key a current state by where it sorts among partial
# matches, name length x 10^13 + corporate number: SQLite's FTS5 index by rowid (migration 0006, which
# keys a past state by minus its row id), PostgreSQL's trigram postings by sort_key (migration 0008).
_ORDER_SCALE = 10**13
_search_index = table("corporation_search", column("rowid", BigInteger))
_postings = table("corporation_trigrams", column("trigram", BigInteger), column("sort_key", BigInteger),
                  column("position", Integer))
# On PostgreSQL a longer term whose rarest trigram has at most this many postings is found through pg_trgm
# (one ranked pass over at most this many rows, which its GIN index intersects well); a term of commoner
# trigrams is walked in order off the postings.
SELECTIVE_POSTINGS = 20_000


def trigram_code(trigram: str) -> int:
    """A trigram as the postings store it: its three code points, 21 bits each."""
    return (ord(trigram[0]) << 42) | (ord(trigram[1]) << 21) | ord(trigram[2])


def _index_matches(key: str) -> ColumnElement[bool]:
    """The index entries whose keys hold ``key``."""
    # unique: the past-names search matches the index twice in one statement
    return text("corporation_search MATCH :trigrams").bindparams(
        bindparam("trigrams", _phrase_query(key), unique=True)).self_group()


def _indexed_number() -> ColumnElement[str]:
    """The corporate number of a current state's index entry."""
    return func.printf("%013d", _search_index.c.rowid % _ORDER_SCALE)


def _indexed_sqlite(key: str, include_past_names: bool) -> ColumnElement[bool]:
    """The rows SQLite's trigram index offers as candidates for a partial match of ``key``."""
    current = select(_indexed_number()).where(_index_matches(key), _search_index.c.rowid > 0)
    candidates: ColumnElement[bool] = and_(_table.c.latest, _table.c.corporate_number.in_(current))
    if include_past_names:
        past = select(-_search_index.c.rowid).where(_index_matches(key), _search_index.c.rowid < 0)
        candidates = or_(candidates, _table.c.id.in_(past))
    return candidates


def _filters(search: NameSearch) -> list[ColumnElement[bool]]:
    """Every condition of a search but the name match itself."""
    conditions: list[ColumnElement[bool]] = [
        func.coalesce(_table.c.hihyoji, "0") != "1", _table.c.process != records.DELETED,
        *_address_filter(search.prefecture_code, search.city_code), *_kinds(search.kinds),
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


def _narrowed(search: NameSearch) -> bool:
    """Whether a search has a condition beyond the name, current, visible states (the index's own rows)."""
    return bool(search.prefecture_code or search.city_code or search.kinds or search.exact_characters
                or search.include_past_names or not search.include_closed or search.assigned_from
                or search.assigned_to or search.changed_since)


def _name_conditions(search: NameSearch, sqlite: bool) -> tuple[ColumnElement[bool], ColumnElement[bool],
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


def _matching(search: NameSearch, sqlite: bool) -> tuple[list[ColumnElement[bool]], ColumnElement[int]]:
    """The WHERE conditions of a search and its rank expression (0 exact, 1 prefix, 2 partial)."""
    key = search.key
    exact, prefix, contains = _name_conditions(search, sqlite)
    if search.mode == "prefix":
        match: ColumnElement[bool] = prefix
    elif sqlite and len(key) >= MIN_TRIGRAM:
        match = and_(_indexed_sqlite(key, search.include_past_names), contains)
    elif not sqlite and len(key) >= MIN_TRIGRAM:
        match = and_(_table.c.search_text.like(f"%{like_escape(key)}%"), contains)
    else:
        match = contains
    return [match, *_filters(search)], case((exact, 0), (prefix, 1), else_=2)


def _ranked_keys(search: NameSearch, sqlite: bool) -> Select[Any]:
    """(rank, name length, corporate number, row id of the latest state) of every match, one row per number.

    Narrow on purpose: the whole match set may be sorted and counted, and only the page's rows are
    read in full afterwards.
    """
    conditions, rank = _matching(search, sqlite)
    if not search.include_past_names:  # current names: the latest rows themselves, no grouping
        return select(rank.label("rank"), func.length(_table.c.search_name).label("name_length"),
                      _table.c.corporate_number.label("number"), _table.c.id.label("row_id")).where(*conditions)
    grouped = (select(_table.c.corporate_number, func.min(rank).label("rank"),
                      func.min(func.length(_table.c.search_name)).label("name_length"))
               .where(*conditions).group_by(_table.c.corporate_number)).subquery("grouped")
    return (select(grouped.c.rank, grouped.c.name_length, grouped.c.corporate_number.label("number"),
                   _table.c.id.label("row_id"))
            .join(_table, and_(_table.c.corporate_number == grouped.c.corporate_number, _table.c.latest)))


SortKey = tuple[int, int, str]
Ranked = tuple[int, int, str, Any]  # (rank, name length, corporate number, row id of the latest state)


async def search_names(
    session: AsyncSession, search: NameSearch, *, offset: int = 0, limit: int = 2000,
    after: SortKey | None = None, with_count: bool = True,
) -> tuple[int | None, list[tuple[SortKey, CorporateState]]]:
    """Matches ranked exact first, then prefix, then partial; shorter names first; then by number.

    Returns the total (when asked) and the page's (sort key, latest state) pairs; only the page's rows
    are read in full. A partial search of current names reads its partial matches off an index in order
    where it can (``_partial_walk``, ``_ordered_partial``); every other search ranks its matches in one pass.
    """
    sqlite = session.bind.dialect.name == "sqlite"
    walk = await _partial_walk(session, search, sqlite)
    if walk is not None:
        count, ranked = await _ordered_partial(session, search, walk, sqlite, offset, limit, after, with_count)
    else:
        count, ranked = await _ranked_page(session, search, sqlite, offset, limit, after, with_count)
    states: dict[Any, CorporateState] = {}
    if ranked:
        rows = await session.execute(select(_table.c.id, *_FIELD_COLUMNS, _table.c.imported_at)
                                     .where(_table.c.id.in_([row_id for *_, row_id in ranked])))
        states = {row[0]: _state(row[1:]) for row in rows}
    return count, [((rank, length or 0, number), states[row_id]) for rank, length, number, row_id in ranked]


def _after(keys: Any, after: SortKey) -> ColumnElement[bool]:
    return tuple_(keys.c.rank, keys.c.name_length, keys.c.number) > tuple_(
        literal(after[0]), literal(after[1]), literal(after[2]))


async def _ranked_page(
    session: AsyncSession, search: NameSearch, sqlite: bool, offset: int, limit: int, after: SortKey | None,
    with_count: bool,
) -> tuple[int | None, list[Ranked]]:
    """One narrow ranked pass, the total riding along as a window count (a common term can match hundreds
    of thousands of rows, and a separate count read them all a second time)."""
    keys = _ranked_keys(search, sqlite).subquery("ranked")
    if with_count:  # counted before the keyset filter: the total of the whole search, not of what follows
        keys = select(keys, func.count().over().label("total")).subquery("counted")
    page = select(keys)
    if after is not None:
        page = page.where(_after(keys, after))
    page = page.order_by(keys.c.rank, keys.c.name_length, keys.c.number).offset(offset).limit(limit)
    ranked = (await session.execute(page)).all()
    count = None
    if with_count:
        # Past the last page the window has no row to ride on: count on its own (rare).
        count = ranked[0].total if ranked else (
            await session.scalar(select(func.count()).select_from(keys)) if offset or after else 0)
    return count, [(row.rank, row.name_length, row.number, row.row_id) for row in ranked]


@dataclass(frozen=True)
class _Walk:
    """An index an ordered partial search reads its partial matches (rank 2) off, in their sort order."""

    source: Any  # the index's rows
    order: ColumnElement[int]  # an entry's sort key (name length x 10^13 + number)
    matches: list[ColumnElement[bool]]  # the entries whose keys hold the term
    number: ColumnElement[str]  # the corporate number of an entry
    count: Select[Any] | None  # the number of matches, from the index alone, where that is exact


def _index_may_count(search: NameSearch) -> bool:
    """Whether the walk's index holds exactly the states a search may match: a term in any of the keys
    (the index covers them joined), nothing but the name narrowing the search."""
    return search.target == "any" and "\x1f" not in search.key and not _narrowed(search)


def _sqlite_walk(search: NameSearch) -> _Walk:
    key = search.key
    count = (select(func.count()).select_from(_search_index).where(_index_matches(key), _search_index.c.rowid > 0)
             if _index_may_count(search) else None)
    return _Walk(_search_index, _search_index.c.rowid, [_index_matches(key)], _indexed_number(), count)


def _trigrams_at(key: str) -> list[tuple[int, int]]:
    """(offset, trigram code) of trigrams that cover every character of ``key``: at 0, 3, 6 ... and the
    last, so the term is at a position exactly where each of them is at that position plus its offset."""
    offsets = sorted({*range(0, len(key) - 2, 3), len(key) - 3})
    return [(offset, trigram_code(key[offset:offset + 3])) for offset in offsets]


async def _postgres_walk(session: AsyncSession, search: NameSearch) -> _Walk | None:
    """The walk over the trigram postings, or None where one pg_trgm pass is the cheaper way.

    The postings hold current, visible states only, so a search narrowed by anything else goes through
    pg_trgm; so does a longer term with a rare trigram (at most SELECTIVE_POSTINGS postings, found by a
    bounded count of each trigram's postings), which pg_trgm's GIN index intersects well. Otherwise the
    walk reads the postings of the term's rarest trigram in order and keeps the states holding its
    other trigrams at the right positions: exactly the states holding the term.
    """
    key = search.key
    if "\x1f" in key or _narrowed(search):
        return None
    covering = _trigrams_at(key)
    if len(key) > MIN_TRIGRAM:
        codes = list(dict.fromkeys(trigram_code(key[position:position + 3]) for position in range(len(key) - 2)))
        bounded = [select(func.count()).select_from(
            select(literal(1)).where(_postings.c.trigram == code).limit(SELECTIVE_POSTINGS + 1).subquery())
            .scalar_subquery() for code in codes]
        sizes = dict(zip(codes, (await session.execute(select(*bounded))).one(), strict=True))
        if min(sizes.values()) <= SELECTIVE_POSTINGS:
            return None
        covering.sort(key=lambda trigram: sizes[trigram[1]])
    walked = _postings.alias("walked")
    (base, first), others = covering[0], covering[1:]
    held: list[ColumnElement[bool]] = []
    for offset, code in others:
        other = _postings.alias()
        # A probe per walked entry, as a scalar subquery: PostgreSQL would turn EXISTS into a join, and
        # misjudging how few rows it keeps, hash the whole of both lists before the first page.
        held.append(select(literal(1)).where(
            other.c.trigram == code, other.c.sort_key == walked.c.sort_key,
            other.c.position == walked.c.position + (offset - base)).limit(1).scalar_subquery().is_not(None))
    # A state holding the term twice has two walked entries: one row per sort key.
    states = select(walked.c.sort_key).where(walked.c.trigram == first, *held).distinct().subquery("walked_states")
    number = func.lpad(cast(states.c.sort_key % _ORDER_SCALE, Text), 13, "0")
    count = _postings_count(covering) if _index_may_count(search) else None
    return _Walk(states, states.c.sort_key, [], number, count)


def _postings_count(covering: list[tuple[int, int]]) -> Select[Any]:
    """The number of states holding the term, from the postings alone: its covering trigrams joined at
    their relative positions (a hash join of index-only scans, where the walk's probes would be slower)."""
    ordered = sorted(covering)
    (base, first), others = ordered[0], ordered[1:]
    anchor = _postings.alias("anchor")
    joined: Any = anchor
    for offset, code in others:
        other = _postings.alias()
        joined = joined.join(other, and_(other.c.trigram == code, other.c.sort_key == anchor.c.sort_key,
                                         other.c.position == anchor.c.position + (offset - base)))
    return select(func.count(anchor.c.sort_key.distinct())).select_from(joined).where(anchor.c.trigram == first)


async def _partial_walk(session: AsyncSession, search: NameSearch, sqlite: bool) -> _Walk | None:
    """The index walk of a partial search of current names, or None for one ranked pass over every match."""
    if search.mode != "partial" or len(search.key) < MIN_TRIGRAM or search.include_past_names:
        return None
    return _sqlite_walk(search) if sqlite else await _postgres_walk(session, search)


async def _ordered_partial(
    session: AsyncSession, search: NameSearch, walk: _Walk, sqlite: bool, offset: int, limit: int,
    after: SortKey | None, with_count: bool,
) -> tuple[int | None, list[Ranked]]:
    """A partial search of current names without reading every match.

    Exact and prefix matches (ranks 0 and 1) come from the name B-trees, as in a prefix search. The
    partial ones (rank 2) come off the walk's index in its key order, which is their sort order (name
    length, number): the walk stops once the page is full. The walk's own count answers where it is
    exact; otherwise each match is read for the count.
    """
    exact, prefix, contains = _name_conditions(search, sqlite)
    filters = _filters(search)
    head_keys = select(case((exact, 0), else_=1).label("rank"),
                       func.length(_table.c.search_name).label("name_length"),
                       _table.c.corporate_number.label("number"), _table.c.id.label("row_id")
                       ).where(prefix, *filters).subquery("head")
    ranked: list[Ranked] = []
    skip = offset  # how many rank-2 matches the page starts after
    if after is None or after[0] < 2:
        head = select(head_keys)
        if after is not None:
            head = head.where(_after(head_keys, after))
        rows = (await session.execute(head.order_by(head_keys.c.rank, head_keys.c.name_length, head_keys.c.number)
                                      .offset(offset).limit(limit))).all()
        ranked = [(row.rank, row.name_length, row.number, row.row_id) for row in rows]
        if rows:
            skip = 0
        elif offset:  # the page starts among the partial matches: after all the exact and prefix ones
            counted = select(func.count()).select_from(head_keys)
            if after is not None:
                counted = counted.where(_after(head_keys, after))
            skip = offset - (await session.scalar(counted) or 0)
    start = after[1] * _ORDER_SCALE + int(after[2]) if after is not None and after[0] == 2 else 0
    if len(ranked) < limit:
        rows = await session.execute(
            select(literal(2).label("rank"), func.length(_table.c.search_name).label("name_length"),
                   _table.c.corporate_number.label("number"), _table.c.id.label("row_id"))
            .select_from(walk.source.join(_table, _table.c.corporate_number == walk.number))
            .where(*walk.matches, walk.order > start, contains, ~prefix, *filters)
            .order_by(walk.order).offset(skip).limit(limit - len(ranked)))
        ranked += [(row.rank, row.name_length, row.number, row.row_id) for row in rows]
    count = None
    if with_count:
        count = await session.scalar(walk.count if walk.count is not None else select(func.count()).select_from(
            _ranked_keys(search, sqlite).subquery("ranked")))
    return count, ranked


async def last_update_date(session: AsyncSession) -> date | None:
    """The newest update date in the data: the NTA header's lastUpdateDate."""
    return await session.scalar(select(func.max(_table.c.update_date)))
