"""Row counts by group estimated from PostgreSQL's planner statistics, for figures where counting would cost a
scan of a large table (the /metrics gauges of outcomes by state, api.metrics).

ANALYZE (autovacuum's, after about a tenth of a table changed, or an operator's) samples up to 30,000 rows of a
table (300 x ``default_statistics_target``) and keeps its row count (``pg_class.reltuples``) and the frequency
of its most common values (``pg_stats`` for one column, ``pg_stats_ext`` for a multi-column ``CREATE
STATISTICS ... (mcv)``). A group's estimate is its frequency times the row count: reading it is a catalogue
lookup whatever the table's size. Its accuracy is the sample's (a group of 1 % of the rows is within about 0.1 %
of the rows; groups outside the most common values are missing), as of the last ANALYZE; on a table ANALYZE
read whole (fewer rows than its sample) it is the exact count then.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

Group = tuple[str | None, ...]

_ROWS = text("SELECT reltuples FROM pg_class WHERE oid = to_regclass(:table)")
_ONE_COLUMN = text(
    "SELECT most_common_vals::text::text[], most_common_freqs, null_frac FROM pg_stats "
    "WHERE schemaname = current_schema() AND tablename = :table AND attname = :column")
_SEVERAL_COLUMNS = text(
    "SELECT most_common_vals, most_common_freqs FROM pg_stats_ext "
    "WHERE statistics_schemaname = current_schema() AND tablename = :table AND statistics_name = :statistics")


async def estimated_groups(session: AsyncSession, table: str, columns: Sequence[str], *,
                           statistics: str | None = None) -> dict[Group, int] | None:
    """Rows by the values of ``columns`` (as text, NULL as None), estimated on PostgreSQL; None where there is no
    estimate to give (another database, a table never analyzed, no statistics on these columns), and the caller
    counts. Several columns need the extended statistics object named ``statistics`` (with an mcv kind), in the
    order of the table's columns."""
    if session.get_bind().dialect.name != "postgresql":
        return None
    rows = await session.scalar(_ROWS, {"table": table})
    if rows is None or rows < 0:  # -1: never analyzed (nor vacuumed)
        return None
    if rows == 0:
        return {}
    frequencies: dict[Group, float] = {}
    if len(columns) == 1:
        found = (await session.execute(_ONE_COLUMN, {"table": table, "column": columns[0]})).first()
        if found is None:
            return None
        values, freqs, null_frac = found
        if values is None and not null_frac:
            return None  # no common values: a column of mostly distinct values, not a grouping one
        frequencies = {(value,): freq for value, freq in zip(values or (), freqs or (), strict=True)}
        if null_frac:
            frequencies[(None,)] = null_frac
    else:
        found = (await session.execute(_SEVERAL_COLUMNS, {"table": table, "statistics": statistics})).first()
        if found is None or found[0] is None:
            return None
        frequencies = {tuple(values): freq for values, freq in zip(found[0], found[1], strict=True)}
    return {group: estimate for group, freq in frequencies.items() if (estimate := round(freq * rows)) > 0}
