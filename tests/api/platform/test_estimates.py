"""Row counts by group from PostgreSQL's planner statistics: what the last ANALYZE saw, never a count."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from api.platform.db import create_session_factory
from api.platform.estimates import estimated_groups

TABLE = "estimates_test_rows"


async def _insert(session, rows: list[tuple[str, int | None]]) -> None:
    await session.execute(text(f"INSERT INTO {TABLE} (kind, code) VALUES (:kind, :code)"),  # noqa: S608
                          [{"kind": kind, "code": code} for kind, code in rows])


async def test_groups_are_the_last_analyzes_frequencies_times_its_row_count(engine: AsyncEngine) -> None:
    factory = create_session_factory(engine)
    if engine.dialect.name != "postgresql":
        async with factory() as session:
            assert await estimated_groups(session, "payments", ["state"]) is None  # the caller counts
        return
    async with engine.begin() as connection:
        await connection.execute(text(f"CREATE TABLE {TABLE} (id serial PRIMARY KEY, kind text, code smallint)"))
        await connection.execute(text(f"CREATE STATISTICS {TABLE}_groups (mcv) ON kind, code FROM {TABLE}"))
    try:
        async with factory() as session, session.begin():
            await _insert(session, [("a", None)] * 30 + [("b", 201)] * 20 + [("b", 410)] * 10)
            # Never analyzed: no estimate (the caller counts).
            assert await estimated_groups(session, TABLE, ["kind"]) is None
        async with engine.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.execute(text(f"ANALYZE {TABLE}"))
        async with factory() as session, session.begin():
            # A table smaller than ANALYZE's sample is read whole: the estimates are the exact counts then.
            assert await estimated_groups(session, TABLE, ["kind"]) == {("a",): 30, ("b",): 30}
            assert await estimated_groups(session, TABLE, ["code"]) == {(None,): 30, ("201",): 20, ("410",): 10}
            assert await estimated_groups(session, TABLE, ["kind", "code"], statistics=f"{TABLE}_groups") == {
                ("a", None): 30, ("b", "201"): 20, ("b", "410"): 10}
            assert await estimated_groups(session, TABLE, ["kind", "code"], statistics="no_such_statistics") is None
            assert await estimated_groups(session, TABLE, ["id"]) is None  # all distinct: nothing to group by
            # Rows written since are not counted: the figures move with the next ANALYZE, not per read.
            await _insert(session, [("c", 500)] * 20)
            assert await estimated_groups(session, TABLE, ["kind"]) == {("a",): 30, ("b",): 30}
    finally:
        async with engine.begin() as connection:
            await connection.execute(text(f"DROP TABLE {TABLE}"))
