"""The search indexes after a bulk load: SQLite's FTS5 index rebuilt in one pass, PostgreSQL's trigram
postings (migration 0008) made anew from their view, indexed once and vacuumed."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from corporate.import_rows import TABLE

# PostgreSQL's trigram postings of current names (migration 0008): kept by statement triggers on the table
# (migration 0037), which the bulk load turns off, making the postings anew from their view once `latest` is fixed.
POSTINGS = "corporation_trigrams"
POSTINGS_TRIGGERS = ("corporations_trigrams_insert", "corporations_trigrams_update", "corporations_trigrams_delete")


async def stop_postings(connection: AsyncConnection) -> list[tuple[str, str]]:
    """Turn the postings' triggers off for the load; the postings' constraints, to add back after the fill."""
    for trigger in POSTINGS_TRIGGERS:
        await connection.exec_driver_sql(f"ALTER TABLE {TABLE} DISABLE TRIGGER {trigger}")
    constraints = (await connection.exec_driver_sql(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %(table)s::regclass "
        "ORDER BY conname", {"table": POSTINGS})).all()
    return [(name, definition) for name, definition in constraints]


async def fill_postings(connection: AsyncConnection, constraints: list[tuple[str, str]]) -> None:
    """Make the postings anew from their view in one pass, index them once, and turn the triggers back on.

    CREATE TABLE ... AS writes through PostgreSQL's bulk-insert path: at national size it took 29-33 s
    where INSERT ... SELECT into the existing table took 70 s. So the table is replaced, and the
    constraints read before the load are added back by name (the primary key makes its columns NOT
    NULL again). JIT compilation only slowed this query down.
    """
    await connection.exec_driver_sql("SET LOCAL jit = off")
    await connection.exec_driver_sql(f"DROP TABLE {POSTINGS}")
    await connection.exec_driver_sql(f"CREATE TABLE {POSTINGS} AS "  # noqa: S608
                                     "SELECT trigram, sort_key, position FROM corporation_trigram_rows")
    for name, definition in constraints:
        await connection.exec_driver_sql(f'ALTER TABLE {POSTINGS} ADD CONSTRAINT "{name}" {definition}')
    for trigger in POSTINGS_TRIGGERS:
        await connection.exec_driver_sql(f"ALTER TABLE {TABLE} ENABLE TRIGGER {trigger}")


async def rebuild_fts(connection: AsyncConnection) -> None:
    """Index every row of SQLite's FTS5 indexes (trigrams, and pairs since migration 0025) in one pass each
    (the content table was empty before the load, so the indexes were too)."""
    await connection.exec_driver_sql("INSERT INTO corporation_search(corporation_search) VALUES ('rebuild')")
    await connection.exec_driver_sql("INSERT INTO corporation_pairs(corporation_pairs) VALUES ('rebuild')")


async def vacuum_postings(connection: AsyncConnection) -> None:
    """VACUUM the postings after the load's commit, outside any transaction.

    Index-only scans of the postings skip the table only for pages the visibility map marks all-visible;
    VACUUM marks them now rather than when autovacuum comes (it cannot run in the load's transaction).
    """
    autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
    await autocommit.exec_driver_sql(f"VACUUM {POSTINGS}")
