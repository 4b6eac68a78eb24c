"""PostgreSQL's name-search index: the trigram postings `corporation_trigrams` (migrations 0008 and 0025).

A posting is (trigram, sort key, position) of a current, visible state's search keys; the sort key is
name length x 10^13 + number, so a trigram's postings read in order are its states in match order.
Since 0025 each key's final pair is a posting too, as a trigram whose third code point is 0: a
two-character key's states are the postings of one code range (its trigrams and its key ends).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    Select,
    Text,
    and_,
    cast,
    column,
    func,
    literal,
    select,
    table,
)
from sqlalchemy.ext.asyncio import AsyncSession

from corporate.models import Corporation
from corporate.name_search import MIN_TRIGRAM, ORDER_SCALE, IndexWalk, NameSearch, index_may_count, narrowed

_table = Corporation.__table__
_postings = table("corporation_trigrams", column("trigram", BigInteger), column("sort_key", BigInteger),
                  column("position", Integer))
# On PostgreSQL a longer term whose rarest trigram has at most this many postings is found through pg_trgm
# (one ranked pass over at most this many rows, which its GIN index intersects well); a term of commoner
# trigrams is walked in order off the postings.
SELECTIVE_POSTINGS = 20_000


def trigram_code(trigram: str) -> int:
    """A trigram as the postings store it: its three code points, 21 bits each."""
    return (ord(trigram[0]) << 42) | (ord(trigram[1]) << 21) | ord(trigram[2])


def _pair_range(key: str) -> tuple[int, int]:
    """The posting codes of a two-character key: every trigram it starts, and the key ends it is."""
    low = (ord(key[0]) << 42) | (ord(key[1]) << 21)
    return low, low + (1 << 21)


def _pair_states(key: str) -> Select[Any]:
    """The sort keys of the current, visible states whose keys hold the two-character ``key``."""
    low, high = _pair_range(key)
    return select(_postings.c.sort_key).where(_postings.c.trigram >= low, _postings.c.trigram < high).distinct()


def pair_candidates(key: str, include_past_names: bool) -> ColumnElement[bool] | None:
    """The current states holding a two-character ``key``, from the postings (None where they cannot tell:
    another length, or past names, which the postings do not hold)."""
    if include_past_names or len(key) != 2:
        return None
    states = _pair_states(key).subquery("pair_states")
    return and_(_table.c.latest, _table.c.corporate_number.in_(
        select(func.lpad(cast(states.c.sort_key % ORDER_SCALE, Text), 13, "0"))))


def _pair_walk(search: NameSearch) -> IndexWalk:
    """A two-character key's states off the postings of its code range, in sort order (a range holds
    several trigrams, so its sort keys are gathered and sorted: a few tens of thousands at most)."""
    states = _pair_states(search.key).subquery("walked_states")
    number = func.lpad(cast(states.c.sort_key % ORDER_SCALE, Text), 13, "0")
    count = select(func.count()).select_from(states) if index_may_count(search) else None
    return IndexWalk(states, states.c.sort_key, [], number, count, lateral=True)


def _trigrams_at(key: str) -> list[tuple[int, int]]:
    """(offset, trigram code) of trigrams that cover every character of ``key``: at 0, 3, 6 ... and the
    last, so the term is at a position exactly where each of them is at that position plus its offset."""
    offsets = sorted({*range(0, len(key) - 2, 3), len(key) - 3})
    return [(offset, trigram_code(key[offset:offset + 3])) for offset in offsets]


async def postgres_walk(session: AsyncSession, search: NameSearch) -> IndexWalk | None:
    """The walk over the trigram postings, or None where one pg_trgm pass is the cheaper way.

    The postings hold current, visible states only, so a search narrowed by anything else goes through
    pg_trgm; so does a longer term with a rare trigram (at most SELECTIVE_POSTINGS postings, found by a
    bounded count of each trigram's postings), which pg_trgm's GIN index intersects well. Otherwise the
    walk reads the postings of the term's rarest trigram in order and keeps the states holding its
    other trigrams at the right positions: exactly the states holding the term.
    """
    key = search.key
    if "\x1f" in key or narrowed(search):
        return None
    if len(key) < MIN_TRIGRAM:
        return _pair_walk(search)
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
    number = func.lpad(cast(states.c.sort_key % ORDER_SCALE, Text), 13, "0")
    count = _postings_count(covering) if index_may_count(search) else None
    return IndexWalk(states, states.c.sort_key, [], number, count)


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
