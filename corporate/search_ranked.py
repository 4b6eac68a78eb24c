"""A name search in one ranked pass: every match ranked (0 exact, 1 prefix, 2 partial), sorted and paged."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.platform.normalise import like_escape
from corporate.models import Corporation
from corporate.name_search import (
    MIN_TRIGRAM,
    NameSearch,
    Ranked,
    SortKey,
    filters,
    name_conditions,
    sorts_after,
)
from corporate.search_postgres import pair_candidates
from corporate.search_sqlite import indexed_candidates

_table = Corporation.__table__


def _matching(search: NameSearch, sqlite: bool) -> tuple[list[ColumnElement[bool]], ColumnElement[int]]:
    """The WHERE conditions of a search and its rank expression (0 exact, 1 prefix, 2 partial)."""
    key = search.key
    exact, prefix, contains = name_conditions(search, sqlite)
    if search.mode == "prefix":
        match: ColumnElement[bool] = prefix
    elif sqlite and (candidates := indexed_candidates(key, search.include_past_names)) is not None:
        match = and_(candidates, contains)
    elif not sqlite and len(key) >= MIN_TRIGRAM:
        match = and_(_table.c.search_text.like(f"%{like_escape(key)}%"), contains)
    elif not sqlite and (candidates := pair_candidates(key, search.include_past_names)) is not None:
        match = and_(candidates, contains)
    else:
        match = contains
    return [match, *filters(search)], case((exact, 0), (prefix, 1), else_=2)


def ranked_keys(search: NameSearch, sqlite: bool) -> Select[Any]:
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


async def ranked_page(
    session: AsyncSession, search: NameSearch, sqlite: bool, offset: int, limit: int, after: SortKey | None,
    with_count: bool,
) -> tuple[int | None, list[Ranked]]:
    """One narrow ranked pass, the total riding along as a window count (a common term can match hundreds
    of thousands of rows, and a separate count read them all a second time)."""
    keys = ranked_keys(search, sqlite).subquery("ranked")
    if with_count:  # counted before the keyset filter: the total of the whole search, not of what follows
        keys = select(keys, func.count().over().label("total")).subquery("counted")
    page = select(keys)
    if after is not None:
        page = page.where(sorts_after(keys, after))
    page = page.order_by(keys.c.rank, keys.c.name_length, keys.c.number).offset(offset).limit(limit)
    ranked = (await session.execute(page)).all()
    count = None
    if with_count:
        # Past the last page the window has no row to ride on: count on its own (rare).
        count = ranked[0].total if ranked else (
            await session.scalar(select(func.count()).select_from(keys)) if offset or after else 0)
    return count, [(row.rank, row.name_length, row.number, row.row_id) for row in ranked]
