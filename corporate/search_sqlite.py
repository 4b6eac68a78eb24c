"""SQLite's name-search indexes: the FTS5 trigram table `corporation_search` (migrations 0006 and 0009) and
the FTS5 pair table `corporation_pairs` (migration 0025) for two-character keys.

`corporation_search` keys a current state by its sort key (name length x 10^13 + number) and a past state
by minus its row id, and holds the states' search keys joined; a term is matched as the phrase of its
trigrams. `corporation_pairs` keys current, visible states the same way and holds each pair of adjacent
characters of their keys as a word (api.platform.db.text_pairs); a two-character key is matched as its word.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, ColumnElement, and_, bindparam, column, func, or_, select, table, text

from api.platform.db import text_pairs
from corporate.models import Corporation
from corporate.name_search import MIN_TRIGRAM, ORDER_SCALE, IndexWalk, NameSearch, index_may_count

_table = Corporation.__table__
_search_index = table("corporation_search", column("rowid", BigInteger))
_pair_index = table("corporation_pairs", column("rowid", BigInteger))


def _pair_matches(key: str) -> ColumnElement[bool]:
    """The pair index's entries (current, visible states) whose keys hold the two-character ``key``."""
    return text("corporation_pairs MATCH :pair").bindparams(
        bindparam("pair", f'"{text_pairs(key)}"', unique=True)).self_group()


def _phrase_query(key: str) -> str:
    """The key as an FTS5 phrase: the trigram tokenizer makes it the phrase of the key's trigrams, which
    the index (detail=full since migration 0009: it keeps positions) matches where the keys hold it."""
    return '"' + key.replace('"', '""') + '"'


def _index_matches(key: str) -> ColumnElement[bool]:
    """The index entries whose keys hold ``key``."""
    # unique: the past-names search matches the index twice in one statement
    return text("corporation_search MATCH :trigrams").bindparams(
        bindparam("trigrams", _phrase_query(key), unique=True)).self_group()


def _indexed_number() -> ColumnElement[str]:
    """The corporate number of a current state's index entry."""
    return func.printf("%013d", _search_index.c.rowid % ORDER_SCALE)


def indexed_candidates(key: str, include_past_names: bool) -> ColumnElement[bool] | None:
    """The rows SQLite's trigram index (or, for a two-character key of current names, its pair index)
    offers as candidates for a partial match of ``key``; None where neither can (the search reads every row)."""
    if len(key) < MIN_TRIGRAM:
        if include_past_names or len(key) != 2:  # the pair index holds current states only
            return None
        pairs = select(func.printf("%013d", _pair_index.c.rowid % ORDER_SCALE)).where(_pair_matches(key))
        return and_(_table.c.latest, _table.c.corporate_number.in_(pairs))
    current = select(_indexed_number()).where(_index_matches(key), _search_index.c.rowid > 0)
    candidates: ColumnElement[bool] = and_(_table.c.latest, _table.c.corporate_number.in_(current))
    if include_past_names:
        past = select(-_search_index.c.rowid).where(_index_matches(key), _search_index.c.rowid < 0)
        candidates = or_(candidates, _table.c.id.in_(past))
    return candidates


def sqlite_walk(search: NameSearch) -> IndexWalk:
    """The walk over an FTS5 index, in rowid order (the pair index for a two-character key, the trigram
    index for a longer one); counted from the index where that is exact."""
    key = search.key
    if len(key) < MIN_TRIGRAM:
        count = (select(func.count()).select_from(_pair_index).where(_pair_matches(key))
                 if index_may_count(search) else None)
        return IndexWalk(_pair_index, _pair_index.c.rowid, [_pair_matches(key)],
                         func.printf("%013d", _pair_index.c.rowid % ORDER_SCALE), count)
    count = (select(func.count()).select_from(_search_index).where(_index_matches(key), _search_index.c.rowid > 0)
             if index_may_count(search) else None)
    return IndexWalk(_search_index, _search_index.c.rowid, [_index_matches(key)], _indexed_number(), count)
