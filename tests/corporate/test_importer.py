from __future__ import annotations

import asyncio
import csv
import io
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import NullPool

import api.models  # noqa: F401  (every table in the metadata the migrations are compared with)
from api.db import Base, create_engine, create_session_factory
from corporate import generate
from corporate.importer import Rejection, import_files
from corporate.models import Corporation, include_name
from corporate.normalise import search_key
from corporate.search_postgres import trigram_code
from corporate.service import NameSearch, search_names
from tests.corporate.conftest import row, write_csv

NUMBER = "1000012160145"


async def _states(engine: AsyncEngine, number: str) -> list[tuple[str, str, bool]]:
    async with engine.connect() as connection:
        rows = (await connection.execute(
            select(Corporation.name, Corporation.update_date, Corporation.latest)
            .where(Corporation.corporate_number == number).order_by(Corporation.update_date))).all()
    return [(name, day.isoformat(), latest) for name, day, latest in rows]


async def _count(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return await connection.scalar(select(func.count()).select_from(Corporation))


def _file_rows(path: Path) -> list[list[str]]:
    with zipfile.ZipFile(path) as archive:
        [name] = [n for n in archive.namelist() if n.endswith(".csv")]
        return list(csv.reader(io.TextIOWrapper(archive.open(name), encoding="utf-8")))


async def test_the_real_nta_files_import_without_a_rejected_line_and_twice_changes_nothing(
    engine: AsyncEngine, real_files: list[Path]
) -> None:
    expected = sum(len(_file_rows(path)) for path in real_files)
    first = await import_files(engine, real_files)
    assert (first.rows_read, first.inserted, first.rejected) == (expected, expected, 0)
    again = await import_files(engine, real_files)
    assert (again.rows_read, again.inserted, again.unchanged, again.rejected) == (expected, 0, expected, 0)
    assert await _count(engine) == expected


async def test_history_is_kept_and_latest_follows_update_dates_whatever_the_file_order(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    newer = write_csv(tmp_path / "diff_20160210.csv", [row(1, NUMBER, "新しい名前株式会社", process="11",
                                                             update="2016-02-10")])
    older = write_csv(tmp_path / "diff_20160105.csv", [row(1, NUMBER, "古い名前株式会社", update="2016-01-05")])
    await import_files(engine, [newer])
    await import_files(engine, [older])
    assert await _states(engine, NUMBER) == [("古い名前株式会社", "2016-01-05", False),
                                             ("新しい名前株式会社", "2016-02-10", True)]


async def test_the_search_index_follows_the_latest_state_whatever_the_file_order(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    # Names of one length throughout: the current state's index key (length, number) stays the same, so
    # the old state's entry must be gone before the new one's is added, or the index would break.
    files = [write_csv(tmp_path / f"diff_{index}.csv", [line]) for index, line in enumerate([
        row(1, NUMBER, "甲長さ商事株式会社", update="2016-01-05"),
        row(2, NUMBER, "乙長さ商事株式会社", process="13", update="2016-02-10"),
        row(1, NUMBER, "戊長さ商事株式会社", update="2015-12-01"),  # an older state, arriving late
        row(3, NUMBER, "丙長さ商事株式会社", process="13", update="2016-03-01", hihyoji="1"),  # hidden: not indexed
        row(4, NUMBER, "丙長さ商事株式会社", process="99", update="2016-03-02"),  # deleted: not indexed
        row(5, NUMBER, "丁長さ商事株式会社", process="13", update="2016-04-01"),
    ])]
    visible_latest = [True, True, True, False, False, True]
    for path, indexed in zip(files, visible_latest, strict=True):
        await import_files(engine, [path])
        await _search_index_is_sound(engine, search_key("長さ商事"))
        async with engine.connect() as connection:
            if connection.dialect.name == "sqlite":
                current = await connection.scalar(text(
                    "SELECT count(*) FROM corporation_search WHERE corporation_search MATCH '\"長サ商\"' "
                    "AND rowid > 0"))
            else:
                current = await connection.scalar(text(
                    "SELECT count(*) FROM corporation_trigrams WHERE trigram = :code"),
                    {"code": trigram_code("長サ商")})
            assert current == int(indexed)
    assert [latest for _, _, latest in await _states(engine, NUMBER)] == [False, False, False, False, False, True]


async def test_the_search_index_follows_any_update_of_the_table(engine: AsyncEngine, tmp_path: Path) -> None:
    await import_files(engine, [write_csv(tmp_path / "d.csv", [
        row(1, NUMBER, "システム開発株式会社"), row(2, "1000013050378", "東システム株式会社"),
        row(3, "1000020022080", "西システム株式会社")])])
    async with engine.begin() as connection:
        # A column no index entry reads, on every row: the entries stay as they are, once each.
        await connection.execute(update(Corporation).values(imported_at=datetime(2026, 1, 1, tzinfo=UTC)))
        # A state's keys and its visibility, by hand rather than by an import.
        await connection.execute(update(Corporation).where(Corporation.corporate_number == NUMBER)
                                 .values(search_name="新システム", search_text="新システム\x1f\x1f"))
        await connection.execute(update(Corporation).where(Corporation.corporate_number == "1000013050378")
                                 .values(hihyoji="1"))
    await _search_index_is_sound(engine)
    async with create_session_factory(engine)() as session:
        count, found = await search_names(session, NameSearch(text="システム", mode="partial"))
    assert (count, [key for key, _ in found]) == (2, [(2, 5, NUMBER), (2, 5, "1000020022080")])


async def test_truncating_the_table_empties_the_postgresql_postings(engine: AsyncEngine, tmp_path: Path) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only: SQLite has no TRUNCATE")
    await import_files(engine, [write_csv(tmp_path / "d.csv", [row(1, NUMBER, "システム開発株式会社")])])
    async with engine.begin() as connection:
        assert await connection.scalar(text("SELECT count(*) FROM corporation_trigrams")) > 0
        await connection.execute(text("TRUNCATE corporations"))
        assert await connection.scalar(text("SELECT count(*) FROM corporation_trigrams")) == 0


async def test_same_day_changes_are_ordered_by_sequence_number(engine: AsyncEngine, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "diff.csv", [row(8, NUMBER, "後の状態", process="12"),
                                             row(3, NUMBER, "先の状態", process="11")])
    await import_files(engine, [path])
    assert sorted(await _states(engine, NUMBER), key=lambda state: state[2]) == [
        ("先の状態", "2016-01-05", False), ("後の状態", "2016-01-05", True)]


async def test_bad_lines_are_reported_and_the_rest_imported(engine: AsyncEngine, tmp_path: Path) -> None:
    good = [row(1, NUMBER, "正しい株式会社"), row(2, "1000013050378", "鰺ヶ沢簡易裁判所", kind="101")]
    path = tmp_path / "broken.csv"
    path.write_bytes(
        (good[0] + "\n").encode()
        + "1,\"壊れた\n".encode("cp932")  # Shift-JIS bytes inside a Unicode file
        + (row(3, "2000012160145", "検査数字違い") + "\n").encode()
        + (good[1][:40] + "\n").encode()  # a truncated line
        + (good[1] + "\n").encode()
    )
    rejected: list[tuple[int, str]] = []
    report = await import_files(engine, [path], on_reject=lambda r: rejected.append((r.line, r.reason)))
    assert rejected == [(2, "not valid UTF-8"),
                        (3, "corporateNumber is not 13 digits with a valid check digit"),
                        (4, "expected 23, 28, 29 or 30 columns, got 6")]
    assert (report.rows_read, report.inserted, report.rejected) == (5, 2, 3)
    assert [sample.line for sample in report.samples] == [2, 3, 4]
    assert await _count(engine) == 2


async def test_shift_jis_zip_of_28_columns_imports(engine: AsyncEngine, tmp_path: Path) -> None:
    line = ",".join(row(1, NUMBER, "青森－商事株式会社").split(",")[:28])
    path = tmp_path / "diff_20170110.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("diff_20170110.csv", (line + "\r\n").encode("cp932"))
    report = await import_files(engine, [path])
    assert (report.inserted, report.rejected) == (1, 0)
    assert await _states(engine, NUMBER) == [("青森\uff0d商事株式会社", "2016-01-05", True)]


async def test_two_concurrent_imports_of_one_file_store_each_state_once(
    engine: AsyncEngine, database_url: str, tmp_path: Path
) -> None:
    lines = [row(i, number, f"会社{i}") for i, number in enumerate(
        ["1000012160145", "1000013050378", "1000020022080"], start=1)]
    path = write_csv(tmp_path / "all.csv", lines)
    engines = [create_engine(database_url, poolclass=NullPool) for _ in range(2)]
    try:
        reports = await asyncio.gather(*(import_files(other, [path], batch_size=1) for other in engines))
    finally:
        for other in engines:
            await other.dispose()
    assert sum(report.inserted for report in reports) == 3
    assert await _count(engine) == 3


# --- the bulk load into an empty table ---------------------------------------------------------------

_COLUMNS = [column for column in Corporation.__table__.columns if column.name not in ("id", "imported_at")]


async def _rows(engine: AsyncEngine) -> list[tuple[object, ...]]:
    async with engine.connect() as connection:
        return sorted((await connection.execute(select(*_COLUMNS))).all(), key=repr)


async def _schema(engine: AsyncEngine) -> list[tuple[object, ...]]:
    """The table's indexes, constraints and triggers as the database spells them."""
    async with engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            query = ("SELECT type, name, sql FROM sqlite_master WHERE tbl_name LIKE 'corporation%' "
                     "ORDER BY type, name")
        else:
            query = ("SELECT indexname, indexdef FROM pg_indexes "
                     "WHERE tablename IN ('corporations', 'corporation_trigrams') UNION ALL "
                     "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                     "WHERE conrelid IN ('corporations'::regclass, 'corporation_trigrams'::regclass) UNION ALL "
                     "SELECT tgname, tgenabled::text FROM pg_trigger "
                     "WHERE tgrelid = 'corporations'::regclass AND NOT tgisinternal ORDER BY 1, 2")
        return list((await connection.exec_driver_sql(query)).all())


async def _search_index_is_sound(engine: AsyncEngine, word: str = "システム") -> None:
    """SQLite's index holds exactly the visible states, keyed one entry each, and finds them; PostgreSQL's
    trigram postings are exactly what their view computes from the table, and find them."""
    pattern = {"pattern": f"%{word}%"}
    async with engine.connect() as connection:
        visible = await connection.scalar(text(
            "SELECT count(*) FROM corporations WHERE search_text LIKE :pattern "
            "AND coalesce(hihyoji, '0') <> '1' AND process <> '99'"), pattern)
        assert visible > 0
        if connection.dialect.name == "sqlite":
            # FTS5 compares its index with its content (the view of keys) and raises on any difference.
            await connection.exec_driver_sql(
                "INSERT INTO corporation_search(corporation_search, rank) VALUES ('integrity-check', 1)")
            keys, distinct = (await connection.exec_driver_sql(
                "SELECT count(*), count(DISTINCT search_order) FROM corporation_search_rows")).one()
            assert keys == distinct  # one entry per key: a current state per number, past states by id
            # Candidates holding every trigram (detail=none has no phrases), then the exact test.
            found = await connection.scalar(text(
                "SELECT count(*) FROM corporation_search_rows WHERE search_text LIKE :pattern AND search_order IN "
                "(SELECT rowid FROM corporation_search WHERE corporation_search MATCH :trigrams)"),
                {**pattern, "trigrams": " AND ".join(f'"{word[i:i + 3]}"' for i in range(len(word) - 2))})
            assert found == visible
        else:
            stray, missing = (await connection.exec_driver_sql(
                "SELECT (SELECT count(*) FROM (SELECT * FROM corporation_trigrams EXCEPT "
                "SELECT * FROM corporation_trigram_rows) AS stray), (SELECT count(*) FROM (SELECT * FROM "
                "corporation_trigram_rows EXCEPT SELECT * FROM corporation_trigrams) AS missing)")).one()
            assert (stray, missing) == (0, 0)
            codes = list({trigram_code(word[i:i + 3]) for i in range(len(word) - 2)})
            # The states whose postings hold every trigram of the word, then the exact test.
            found = await connection.scalar(text(
                "SELECT count(*) FROM corporations WHERE search_text LIKE :pattern AND latest "
                "AND coalesce(hihyoji, '0') <> '1' AND process <> '99' AND length(search_name) * 10000000000000 "
                "+ corporate_number::bigint IN (SELECT sort_key FROM corporation_trigrams WHERE trigram = ANY(:codes) "
                "GROUP BY sort_key HAVING count(DISTINCT trigram) = :trigrams)"),
                {**pattern, "codes": codes, "trigrams": len(codes)})
            current = await connection.scalar(text(
                "SELECT count(*) FROM corporations WHERE search_text LIKE :pattern AND latest "
                "AND coalesce(hihyoji, '0') <> '1' AND process <> '99'"), pattern)
            assert found == current
        await connection.rollback()


def _awkward_file(tmp_path: Path) -> Path:
    """Synthetic rows plus what a bulk load must get right: history, repeats, same-day order, bad lines."""
    lines = list(generate.rows(300, seed=3))
    lines += [row(1, NUMBER, "古い名前株式会社", update="2016-01-05"),
              row(2, NUMBER, "新しい名前株式会社", process="11", update="2016-02-10"),
              row(3, NUMBER, "古い名前株式会社", update="2016-01-05"),  # the same state again: stored once
              row(9, "1000013050378", "後の状態", process="12"), row(4, "1000013050378", "先の状態", process="11"),
              ",".join(row(5, "1000020022080", "二十三列株式会社").split(",")[:23]),
              row(6, "2000012160145", "検査数字違い"), "", lines[10]]  # two bad lines, a repeated row
    return write_csv(tmp_path / "awkward.csv", lines)


async def _empty(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(delete(Corporation))


async def test_a_bulk_load_ends_as_batch_by_batch_does_with_the_schema_intact(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    path = _awkward_file(tmp_path)
    schema = await _schema(engine)
    rejected: list[tuple[int, str]] = []
    bulk = await import_files(engine, [path], batch_size=64, on_reject=lambda r: rejected.append((r.line, r.reason)))
    assert bulk.bulk and (bulk.rows_read, bulk.inserted, bulk.rejected) == (309, 305, 2)
    assert rejected == [(307, "corporateNumber is not 13 digits with a valid check digit"), (308, "empty line")]
    assert await _schema(engine) == schema
    await _search_index_is_sound(engine)
    assert await _states(engine, NUMBER) == [("古い名前株式会社", "2016-01-05", False),
                                             ("新しい名前株式会社", "2016-02-10", True)]
    loaded = await _rows(engine)
    again = await import_files(engine, [path])
    assert not again.bulk and (again.inserted, again.unchanged) == (0, 307)

    await _empty(engine)
    batched = await import_files(engine, [path], batch_size=64, bulk=False)
    assert not batched.bulk and batched.inserted == 305
    assert await _rows(engine) == loaded


async def test_the_bulk_path_runs_the_migrations_schema(engine: AsyncEngine, tmp_path: Path) -> None:
    await import_files(engine, [_awkward_file(tmp_path)])
    async with engine.connect() as connection:
        assert await connection.run_sync(_metadata_diff) == []


async def _analyzed(engine: AsyncEngine) -> int:
    """How many times `corporations` was analyzed by hand (PostgreSQL), or its statistics rows (SQLite)."""
    async with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            if not await connection.scalar(text("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'")):
                return 0
            return await connection.scalar(text("SELECT count(*) FROM sqlite_stat1 WHERE tbl = 'corporations'"))
        return await connection.scalar(text(
            "SELECT analyze_count FROM pg_stat_user_tables WHERE relname = 'corporations'"))


async def test_a_bulk_load_leaves_statistics_for_the_planner(engine: AsyncEngine, tmp_path: Path) -> None:
    if engine.dialect.name == "sqlite":
        async with engine.begin() as connection:  # statistics outlive the rows of earlier tests
            if await connection.scalar(text("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'")):
                await connection.execute(text("DELETE FROM sqlite_stat1"))
    before = await _analyzed(engine)
    report = await import_files(engine, [_awkward_file(tmp_path)])
    assert report.bulk and "analyze" in report.phases
    assert await _analyzed(engine) > before


def _metadata_diff(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"include_name": include_name})
    return compare_metadata(context, Base.metadata)


class _Interrupt(Exception):
    pass


class _FailingProgress:
    """Stops the import after its first batch, as Ctrl-C or a lost connection would."""

    def start(self, total_bytes: int) -> None:
        pass

    def advance(self, rows: int, size: int) -> None:
        raise _Interrupt

    def finish(self) -> None:
        pass


async def test_an_interrupted_bulk_load_leaves_an_empty_table_and_runs_again(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    path = _awkward_file(tmp_path)
    schema = await _schema(engine)
    with pytest.raises(_Interrupt):
        await import_files(engine, [path], batch_size=64, progress=_FailingProgress())
    assert await _count(engine) == 0
    assert await _schema(engine) == schema
    report = await import_files(engine, [path])
    assert report.bulk and report.inserted == 305
    await _search_index_is_sound(engine)


async def test_parsing_in_a_worker_process_gives_the_same_import(engine: AsyncEngine, tmp_path: Path) -> None:
    path = _awkward_file(tmp_path)
    reports, rejections, stored = [], [], []
    for parallel in (False, True):
        rejected: list[Rejection] = []
        report = await import_files(engine, [path, path], batch_size=64, parallel=parallel,
                                    on_reject=rejected.append)
        reports.append((report.rows_read, report.inserted, report.rejected))
        rejections.append(rejected)
        stored.append(await _rows(engine))
        await _empty(engine)
    assert reports[0] == reports[1] == (618, 305, 4)
    assert rejections[0] == rejections[1] and len(rejections[0]) == 4
    assert stored[0] == stored[1]
