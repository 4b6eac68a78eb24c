"""A partial search of current names read in match order: exact and prefix matches off the name B-trees,
then the partial ones off an index walked in its key order (SQLite's FTS5 index, PostgreSQL's trigram
postings), stopping once the page is full instead of ranking every match."""

from __future__ import annotations

from sqlalchemy import case, func, literal, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from corporate.models import Corporation
from corporate.name_search import (
    MIN_PAIR,
    ORDER_SCALE,
    IndexWalk,
    NameSearch,
    Ranked,
    SortKey,
    filters,
    name_conditions,
    sorts_after,
)
from corporate.search_postgres import postgres_walk
from corporate.search_ranked import ranked_keys
from corporate.search_sqlite import sqlite_walk

_table = Corporation.__table__


async def partial_walk(session: AsyncSession, search: NameSearch, sqlite: bool) -> IndexWalk | None:
    """The index walk of a partial search of current names, or None for one ranked pass over every match."""
    if search.mode != "partial" or len(search.key) < MIN_PAIR or search.include_past_names:
        return None
    return sqlite_walk(search) if sqlite else await postgres_walk(session, search)


async def ordered_partial(
    session: AsyncSession, search: NameSearch, walk: IndexWalk, sqlite: bool, offset: int, limit: int,
    after: SortKey | None, with_count: bool,
) -> tuple[int | None, list[Ranked]]:
    """A partial search of current names without reading every match.

    Exact and prefix matches (ranks 0 and 1) come from the name B-trees, as in a prefix search. The
    partial ones (rank 2) come off the walk's index in its key order, which is their sort order (name
    length, number): the walk stops once the page is full. The walk's own count answers where it is
    exact; otherwise each match is read for the count.
    """
    exact, prefix, contains = name_conditions(search, sqlite)
    conditions = filters(search)
    head_keys = select(case((exact, 0), else_=1).label("rank"),
                       func.length(_table.c.search_name).label("name_length"),
                       _table.c.corporate_number.label("number"), _table.c.id.label("row_id")
                       ).where(prefix, *conditions).subquery("head")
    ranked: list[Ranked] = []
    skip = offset  # how many rank-2 matches the page starts after
    if after is None or after[0] < 2:
        head = select(head_keys)
        if after is not None:
            head = head.where(sorts_after(head_keys, after))
        rows = (await session.execute(head.order_by(head_keys.c.rank, head_keys.c.name_length, head_keys.c.number)
                                      .offset(offset).limit(limit))).all()
        ranked = [(row.rank, row.name_length, row.number, row.row_id) for row in rows]
        if rows:
            skip = 0
        elif offset:  # the page starts among the partial matches: after all the exact and prefix ones
            counted = select(func.count()).select_from(head_keys)
            if after is not None:
                counted = counted.where(sorts_after(head_keys, after))
            skip = offset - (await session.scalar(counted) or 0)
    start = after[1] * ORDER_SCALE + int(after[2]) if after is not None and after[0] == 2 else 0
    if len(ranked) < limit:
        columns = (func.length(_table.c.search_name).label("name_length"),
                   _table.c.corporate_number.label("number"), _table.c.id.label("row_id"))
        if walk.lateral:
            hit = select(*columns).where(_table.c.corporate_number == walk.number, contains, ~prefix,
                                         *conditions).limit(1).lateral("hit")
            partial = (select(literal(2).label("rank"), hit.c.name_length, hit.c.number, hit.c.row_id)
                       .select_from(walk.source.join(hit, true())).where(*walk.matches, walk.order > start))
        else:
            partial = (select(literal(2).label("rank"), *columns)
                       .select_from(walk.source.join(_table, _table.c.corporate_number == walk.number))
                       .where(*walk.matches, walk.order > start, contains, ~prefix, *conditions))
        rows = await session.execute(partial.order_by(walk.order).offset(skip).limit(limit - len(ranked)))
        ranked += [(row.rank, row.name_length, row.number, row.row_id) for row in rows]
    count = None
    if with_count:
        count = await session.scalar(walk.count if walk.count is not None else select(func.count()).select_from(
            ranked_keys(search, sqlite).subquery("ranked")))
    return count, ranked
