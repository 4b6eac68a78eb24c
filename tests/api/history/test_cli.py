"""`mynaportal records purge`, run as an operator would, on a fresh SQLite file."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, insert, select

from api.people.models import Person
from api.platform.access_records import AccessRecord
from api.platform.db import create_engine
from tests.api.test_cli import env, run  # noqa: F401  (the env fixture)


async def _add_reads(url: str) -> None:
    engine = create_engine(url)
    async with engine.begin() as connection:
        people = list(await connection.scalars(select(Person.id)))
        for when in (datetime(2015, 1, 1, tzinfo=UTC), datetime.now(UTC)):
            await connection.execute(insert(AccessRecord).values(
                id=uuid.uuid4(), actor_person_id=people[0], subject_person_id=people[1], purpose="proxy:profile",
                accessed_at=when))
    await engine.dispose()


async def _count(url: str) -> int:
    engine = create_engine(url)
    async with engine.connect() as connection:
        found = await connection.scalar(select(func.count()).select_from(AccessRecord))
    await engine.dispose()
    return int(found or 0)


def test_purge_deletes_what_is_older_than_seven_years(env: dict[str, str], tmp_path: Path) -> None:  # noqa: F811
    assert run(env, "migrate").returncode == 0
    assert run(env, "demo-seed").returncode == 0
    url = env["MYNAPORTAL_DATABASE_URL"].replace("sqlite://", "sqlite+aiosqlite://", 1)
    asyncio.run(_add_reads(url))
    result = run(env, "records", "purge", "--batch", "10")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ("records purge: dropped 0 month partitions, made 0, deleted 0 exchange and 1 "
                                     "access entries older than 7 years")
    assert asyncio.run(_count(url)) == 1
    assert run(env, "records", "--help").stdout.startswith("usage: mynaportal records")
