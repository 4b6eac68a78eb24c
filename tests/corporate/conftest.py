from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import delete, event, func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from api.platform.db import create_session_factory
from api.platform.normalise import search_key
from api.platform.settings import PROJECT_ROOT
from corporate import generate
from corporate.checkdigit import with_check_digit
from corporate.importer import import_files
from corporate.models import Corporation
from corporate.name_search import NameSearch, SortKey
from corporate.search_postgres import trigram_code
from corporate.service import CorporateState, search_names

SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data" / "corporate"
REAL_FILES = sorted(SHARED_DATA.glob("*.zip"))


def row(sequence: int, number: str, name: str, *, process: str = "01", update: str = "2016-01-05",
        furigana: str = "", en_name: str = "", prefecture: tuple[str, str] = ("02", "青森県"), city: str = "202",
        kind: str = "301", close_date: str = "", hihyoji: str = "0", assigned: str = "2015-10-05") -> str:
    """A 30-column Ver.4 CSV line."""
    fields = [str(sequence), number, process, "0", update, update, f'"{name}"', "", kind, f'"{prefecture[1]}"',
              '"弘前市"', '"大字下白銀町７"', "", prefecture[0], city, "0368356", "", "", close_date,
              "01" if close_date else "", "", "", assigned, "1", f'"{en_name}"' if en_name else "", "", "", "",
              f'"{furigana}"' if furigana else "", hihyoji]
    return ",".join(fields)


def write_csv(path: Path, lines: list[str], encoding: str = "utf-8") -> Path:
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


@pytest.fixture
def real_files() -> list[Path]:
    assert len(REAL_FILES) == 2, f"the NTA sample files are expected in {SHARED_DATA}"
    return REAL_FILES


async def load_aomori(engine: AsyncEngine, tmp_path: Path) -> None:
    """Three visible 青森 names (exact, prefix, partial), a hidden one and a renamed corporation."""
    await import_files(engine, [write_csv(tmp_path / "d.csv", [
        row(1, "1000012160145", "青森物産株式会社"),
        row(2, "1000013050378", "株式会社青森"),
        row(3, "1000020022080", "東青森開発有限会社"),
        row(4, "1420001011738", "隠れ青森株式会社", hihyoji="1"),
        row(5, "1000013050378", "株式会社青森リンゴ", update="2016-02-01"),  # renamed: a past name
    ])])


async def load_synthetic(engine: AsyncEngine, tmp_path: Path) -> list[str]:
    """Synthetic national-style rows plus history, hidden, deleted and closed states; some search keys."""
    lines = list(generate.rows(3000, seed=11))
    lines += [row(1, "1000012160145", "北海物産株式会社", update="2015-11-01"),
              row(2, "1000012160145", "南海商事株式会社", process="13", update="2016-02-01"),  # renamed
              row(3, "1000013050378", "海物産サービス株式会社", hihyoji="1"),
              row(4, "1000020022080", "海物産株式会社", process="99"),
              row(5, "1420001011738", "海物産ホールディングス株式会社", close_date="2016-01-10"),
              row(6, with_check_digit("000000000777"), "Ｍ＆Ｍスチール株式会社", furigana="エムアンドエムスチール")]
    await import_files(engine, [write_csv(tmp_path / "synthetic.csv", lines)])
    names = [search_key(line.split(",")[column].strip('"')) for line in lines[:3000:97] for column in (6, 28)]
    keys = [name[start:start + length] for name in names for start, length in ((0, 3), (1, 3), (2, 4))
            if len(name) >= start + length]
    keys += ["海物産", "ABC", "サービス"]
    return [key for key in dict.fromkeys(keys) if len(search_key(key)) >= 3]  # the index needs a trigram


async def search_with_statements(engine: AsyncEngine, search: NameSearch, limit: int) -> tuple[
        tuple[int | None, list[tuple[SortKey, CorporateState]]], list[str]]:
    """``search_names``'s answer and the SQL statements it ran."""
    statements: list[str] = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731 (before_cursor_execute's statement)
    event.listen(engine.sync_engine, "before_cursor_execute", listener)
    try:
        async with create_session_factory(engine)() as session:
            return await search_names(session, search, limit=limit), statements
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", listener)


NUMBER = "1000012160145"


async def states_of(engine: AsyncEngine, number: str) -> list[tuple[str, str, bool]]:
    async with engine.connect() as connection:
        rows = (await connection.execute(
            select(Corporation.name, Corporation.update_date, Corporation.latest)
            .where(Corporation.corporate_number == number).order_by(Corporation.update_date))).all()
    return [(name, day.isoformat(), latest) for name, day, latest in rows]


async def count_corporations(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return await connection.scalar(select(func.count()).select_from(Corporation))


_COLUMNS = [column for column in Corporation.__table__.columns if column.name not in ("id", "imported_at")]


async def stored_rows(engine: AsyncEngine) -> list[tuple[object, ...]]:
    async with engine.connect() as connection:
        return sorted((await connection.execute(select(*_COLUMNS))).all(), key=repr)


async def assert_search_index_is_sound(engine: AsyncEngine, word: str = "システム") -> None:
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
            await connection.exec_driver_sql(
                "INSERT INTO corporation_pairs(corporation_pairs, rank) VALUES ('integrity-check', 1)")
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


def awkward_file(tmp_path: Path) -> Path:
    """Synthetic rows plus what a bulk load must get right: history, repeats, same-day order, bad lines."""
    lines = list(generate.rows(300, seed=3))
    lines += [row(1, NUMBER, "古い名前株式会社", update="2016-01-05"),
              row(2, NUMBER, "新しい名前株式会社", process="11", update="2016-02-10"),
              row(3, NUMBER, "古い名前株式会社", update="2016-01-05"),  # the same state again: stored once
              row(9, "1000013050378", "後の状態", process="12"), row(4, "1000013050378", "先の状態", process="11"),
              ",".join(row(5, "1000020022080", "二十三列株式会社").split(",")[:23]),
              row(6, "2000012160145", "検査数字違い"), "", lines[10]]  # two bad lines, a repeated row
    return write_csv(tmp_path / "awkward.csv", lines)


async def empty_corporations(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(delete(Corporation))
