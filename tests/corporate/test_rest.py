from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import sys
import time
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette

from api.app import create_app
from api.platform.db import create_session_factory, dispose_engine
from corporate import application_ids, records
from corporate.importer import import_files
from tests.conftest import make_settings
from tests.corporate.conftest import REAL_FILES, row, write_csv
from tests.schema_cache import shared_schema


@dataclass
class Api:
    app: Starlette
    client: httpx.AsyncClient
    key: str

    async def get(self, path: str, **params: str) -> httpx.Response:
        return await self.client.get(f"/corporate/4/{path}", params={"id": self.key, **params})


@pytest.fixture
async def api(engine: AsyncEngine, database_url: str) -> AsyncIterator[Api]:
    async with create_session_factory(engine)() as session, session.begin():
        issued = await application_ids.issue(session, "株式会社テスト")
    # Generous limits: this fixture reads thousands of rows; the rate limit has its own test below.
    settings = make_settings(database_url, corporate_rate=1_000_000, corporate_burst=1_000_000)
    app = create_app(settings, owns_process=False, schema=shared_schema(settings))
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://portal.test")
    yield Api(app, client, issued.application_id)
    await client.aclose()
    await dispose_engine(app.state.engine)


def _file_rows() -> list[list[str]]:
    rows: list[list[str]] = []
    for path in REAL_FILES:
        with zipfile.ZipFile(path) as archive:
            [name] = [n for n in archive.namelist() if n.endswith(".csv")]
            rows.extend(csv.reader(io.TextIOWrapper(archive.open(name), encoding="utf-8")))
    return rows


def _expected(file_row: list[str]) -> list[str]:
    """What /4/num returns for a 23-column row: the same values, latest=1, the newer columns empty but
    hihyoji, which the NTA always answers 0 or 1."""
    return [*file_row[1:23], "1", "", "", "", "", "", "0"]


def _needs_every_type(file_row: list[str]) -> bool:
    """A row the other three renderings could get wrong where the Unicode CSV is right: characters Shift_JIS
    (cp932) lacks, or characters CSV or XML escape."""
    text = "".join(file_row)
    return text.encode("cp932", errors="replace") != text.encode("cp932", errors="ignore") \
        or any(character in text for character in "&<>\"'\n\r")


# Every row is read back as Unicode CSV; the Shift_JIS, XML and JSON renderings of the same lookups are checked on
# every chunk holding a row that needs them (151 rows of 37,160 in the NTA files) and on every 8th chunk besides.
# The renderings are per field, so this keeps what the test proves with 37 % of the requests (5,471 of 14,864).
SAMPLE_EVERY = 8


@pytest.mark.slow
async def test_every_row_of_the_real_files_reads_back_in_all_four_types(api: Api, engine: AsyncEngine) -> None:
    await import_files(engine, REAL_FILES)
    file_rows = _file_rows()
    by_number = {file_row[1]: _expected(file_row) for file_row in file_rows}
    special = {file_row[1] for file_row in file_rows if _needs_every_type(file_row)}
    assert len(special) >= 100  # the files do hold such rows: the sample below is not empty of them
    numbers = list(by_number)
    checked_all_types = 0
    for start in range(0, len(numbers), 10):
        chunk = numbers[start:start + 10]
        joined = ",".join(chunk)
        unicode_csv = await api.get("num", number=joined, type="02")
        assert unicode_csv.status_code == 200
        lines = unicode_csv.content.decode().split("\r\n")
        assert lines[0] == f"2016-02-29,{len(chunk)},1,1" and lines[-1] == ""
        got = {fields[1]: fields[1:] for fields in csv.reader(lines[1:-1])}
        assert got == {number: by_number[number] for number in chunk}
        if (start // 10) % SAMPLE_EVERY and not special.intersection(chunk):
            continue
        checked_all_types += len(chunk)
        shift_jis = await api.get("num", number=joined, type="01")
        assert shift_jis.headers["content-type"] == "text/csv;charset=Shift_JIS"
        # Characters beyond JIS levels 1-2 (e.g. 麵) become 〓, as the NTA's type 01 cannot carry them; those
        # rows have a name image id in the data.
        assert shift_jis.content == unicode_csv.content.decode().encode("cp932", errors="corporate-geta")
        xml = ElementTree.fromstring((await api.get("num", number=joined, type="12")).content)  # noqa: S314 (ours)
        assert [element.tag for element in xml][:4] == ["lastUpdateDate", "count", "divideNumber", "divideSize"]
        assert len(list(xml.iter("corporation"))) == len(chunk)
        for corporation in xml.iter("corporation"):
            values = [element.text or "" for element in corporation]
            assert [element.tag for element in corporation] == list(records.FIELDS)
            assert values[1:] == by_number[values[1]]
        answer = json.loads((await api.get("num", number=joined, type="21")).content)
        assert len(answer["corporations"]) == len(chunk)
        for record in answer["corporations"]:
            assert [record[field] or "" for field in records.FIELDS][1:] == by_number[record["corporateNumber"]]
    assert len(numbers) // 8 < checked_all_types < len(numbers) // 3


async def test_lookup_answers_csv_with_history_and_caching_headers(api: Api, engine: AsyncEngine,
                                                                  tmp_path: Path) -> None:
    number = "1000012160145"
    await import_files(engine, [write_csv(tmp_path / "a.csv", [row(1, number, "旧名株式会社"),
                                                               row(2, number, "新名株式会社", process="11",
                                                                   update="2016-02-01")])])
    answer = await api.get("num", number=number, type="02", history="1")
    assert answer.status_code == 200
    lines = answer.text.split("\r\n")
    assert lines[0] == "2016-02-01,2,1,1"
    assert lines[1].startswith(f'1,{number},01,0,2016-01-05,2016-01-05,"旧名株式会社",,301,"青森県"')
    assert lines[2].startswith(f'2,{number},11,0,2016-02-01,2016-02-01,"新名株式会社",,301,')
    assert [fields[23] for fields in csv.reader(lines[1:3])] == ["0", "1"]
    etag = answer.headers["etag"]
    assert answer.headers["last-modified"].endswith("GMT")
    again = await api.client.get("/corporate/4/num", params={"id": api.key, "number": number, "type": "02",
                                                             "history": "1"}, headers={"if-none-match": etag})
    assert (again.status_code, again.content, again.headers["etag"]) == (304, b"", etag)


@pytest.mark.parametrize(("_case", "path", "params", "code"), [
    ("wrong check digit", "num", {"number": "2000012160145"}, "043"),
    ("eleven numbers", "num", {"number": ",".join(["1000012160145"] * 11)}, "042"),
    ("not 13 digits", "num", {"number": "100001216014"}, "041"),
    ("51-day window", "diff", {"from": "2016-01-01", "to": "2016-02-21"}, "015"),
    ("malformed date", "diff", {"from": "2016-1-01", "to": "2016-02-01"}, "011"),
    ("before the diff epoch", "diff", {"from": "2015-11-30", "to": "2015-12-10"}, "013"),
    ("city code alone", "diff", {"from": "2016-01-01", "to": "2016-01-10", "address": "202"}, "051"),
    ("five kinds", "name", {"name": "青森", "kind": "01,02,03,04,01"}, "060"),
    ("bad mode", "name", {"name": "青森", "mode": "3"}, "102"),
    ("nothing to search", "name", {"name": "株式会社"}, "101"),
    ("assignment before 2015-10-05", "name", {"name": "青森", "from": "2015-10-04"}, "152"),
])
async def test_bad_input_gets_the_documented_error_in_each_format(
    api: Api, _case: str, path: str, params: dict[str, str], code: str
) -> None:
    text = await api.get(path, type="02", **params)
    assert text.status_code == 400
    assert text.headers["content-type"].startswith("text/plain")
    assert text.text.split(",", 1)[0] == code
    problem = await api.get(path, type="21", **params)
    assert problem.status_code == 400
    assert problem.headers["content-type"] == "application/problem+json"
    body = problem.json()
    assert (body["code"], body["status"], body["type"]) == (code, 400, f"https://mynaportal.example/corporate/problems/{code}")


async def test_an_unknown_type_is_refused_in_nta_text(api: Api) -> None:
    answer = await api.get("num", number="1000012160145", type="13")
    assert (answer.status_code, answer.text.split(",")[0]) == (400, "071")
    missing = await api.get("num", number="1000012160145")
    assert (missing.status_code, missing.text.split(",")[0]) == (400, "070")


@pytest.mark.slow
async def test_unknown_ids_get_404_and_a_flood_gets_429_with_retry_after(
    engine: AsyncEngine, database_url: str, api: Api
) -> None:
    unknown = await api.client.get("/corporate/4/num", params={"id": "Aaaaaaaaaaaaa", "number": "1000012160145",
                                                               "type": "02"})
    assert (unknown.status_code, unknown.text.split(",")[0]) == (404, "001")
    app = create_app(make_settings(database_url, corporate_rate=1, corporate_burst=2), owns_process=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://portal.test") as client:
        statuses = []
        for _ in range(3):
            answer = await client.get("/corporate/4/num", params={"id": api.key, "number": "1000012160145",
                                                                  "type": "21"})
            statuses.append(answer.status_code)
        assert statuses == [200, 200, 429]
        # A rate of 1/s with a burst of 2 is 2 hits in any 2 seconds: the first frees its place 2 s after it.
        assert answer.headers["retry-after"] == "2"
        assert answer.json()["code"] == "002"
    await dispose_engine(app.state.engine)


async def test_diff_pages_and_name_search_ranks_exact_then_prefix_then_partial(
    api: Api, engine: AsyncEngine, tmp_path: Path
) -> None:
    await import_files(engine, [write_csv(tmp_path / "d.csv", [
        row(1, "1000012160145", "青森物産株式会社", update="2016-01-05"),
        row(2, "1000013050378", "株式会社青森", update="2016-01-06", furigana="アオモリ"),
        row(3, "1000020022080", "東青森開発有限会社", update="2016-01-07", close_date="2016-01-07"),
        row(4, "1420001011738", "隠れ青森株式会社", update="2016-01-07", hihyoji="1"),
    ])])
    diff = await api.get("diff", type="02", **{"from": "2016-01-06", "to": "2016-01-07"})
    assert diff.text.split("\r\n")[0] == "2016-01-07,3,1,1"
    assert [line.split(",")[1] for line in diff.text.split("\r\n")[1:-1]] == [
        "1000013050378", "1000020022080", "1420001011738"]
    partial = await api.get("name", type="21", name="あおもり", mode="2")
    assert partial.json()["count"] == 1  # furigana only on one; kana folded
    found = await api.get("name", type="21", name="青森", mode="2")
    assert [record["corporateNumber"] for record in found.json()["corporations"]] == [
        "1000013050378", "1000012160145", "1000020022080"]
    open_only = await api.get("name", type="21", name="青森", mode="2", close="0")
    assert [record["corporateNumber"] for record in open_only.json()["corporations"]] == [
        "1000013050378", "1000012160145"]
    prefix = await api.get("name", type="21", name="(株)青森")
    assert [record["corporateNumber"] for record in prefix.json()["corporations"]] == [
        "1000013050378", "1000012160145"]


async def test_openapi_document_lists_the_three_endpoints(api: Api) -> None:
    document = (await api.client.get("/corporate/openapi.json")).json()
    assert sorted(document["paths"]) == ["/corporate/4/diff", "/corporate/4/name", "/corporate/4/num"]
    docs = await api.client.get("/corporate/docs")
    assert docs.status_code == 200 and "/corporate/openapi.json" in docs.text


async def test_a_revoked_id_ends_at_once_in_this_process_and_within_a_second_in_another(
    engine: AsyncEngine, database_url: str, api: Api, tmp_path: Path
) -> None:
    """Two workers' apps on one database, each keeping the ids it looked up."""
    async with create_session_factory(engine)() as session, session.begin():
        elsewhere = (await application_ids.issue(session, "株式会社ほか")).application_id
    second = create_app(make_settings(database_url, corporate_rate=1_000_000, corporate_burst=1_000_000),
                        owns_process=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=second), base_url="http://portal.test") as other:
        async def statuses(key: str) -> list[int]:
            return [(await client.get("/corporate/4/num", params={"id": key, "number": "1000012160145",
                                                                   "type": "21"})).status_code
                    for client in (api.client, other)]

        assert (await statuses(api.key), await statuses(elsewhere)) == ([200, 200], [200, 200])
        # Revoked in this process (as by a worker serving an operator): refused on the very next request.
        async with create_session_factory(engine)() as session, session.begin():
            assert await application_ids.revoke(session, api.key)
        assert await statuses(api.key) == [404, 404]
        # Revoked by another process (the operator's command): refused within a second. Both workers keep
        # looking the id up while the command runs, so each keeps a lookup from just before it commits.
        env = {**os.environ, "MYNAPORTAL_DATABASE_URL": database_url,
               "MYNAPORTAL_DEMO_KEYS_FILE": str(tmp_path / "demo-keys.json")}
        command = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "api.cli", "corporate", "app-id", "revoke", elsewhere, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        while command.returncode is None:
            await statuses(elsewhere)
            await asyncio.sleep(0.05)
        assert (await command.wait(), (await command.stdout.read()).decode()) == (0, "revoked\n")
        revoked_at = time.monotonic()
        while (answer := await statuses(elsewhere)) != [404, 404]:
            assert 200 in answer and time.monotonic() - revoked_at < 1.5
            await asyncio.sleep(0.05)
    await dispose_engine(second.state.engine)
