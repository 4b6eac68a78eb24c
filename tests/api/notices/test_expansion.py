"""A notice to a segment or everyone expands chunk by chunk: the first chunk with the publish, the rest by
``expand_next`` (workers, ``mynaportal notices-expand``), and a process killed in the middle resumes without a
duplicate or a gap."""

from __future__ import annotations

import base64
import secrets
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, date, datetime

from sqlalchemy import distinct, func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from api.agencies.models import Agency, AgencyKind
from api.notices import expansion
from api.notices.expansion import expand_next
from api.notices.models import Audience, Category, NoticeDelivery, NoticeExpansion, NoticeRecipient, Priority
from api.notices.segments import Segment
from api.notices.service import NewNotice, publish_notice
from api.people.models import Municipality, Person, Sex
from api.platform.db import create_session_factory
from api.platform.settings import PROJECT_ROOT
from push.models import PushSubscription
from push.vapid import current_key, vapid_box
from tests.conftest import TEST_DATA_KEY, TEST_LOOKUP_KEY

NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
TODAY = date(2026, 6, 1)
CHIYODA, SAPPORO = "131016", "011002"


async def seed(session: AsyncSession, people: int, *, elsewhere: int = 0) -> uuid.UUID:
    """``people`` in Chiyoda (each with one device), ``elsewhere`` in Sapporo; the agency's id."""
    session.add_all([Municipality(code=CHIYODA, prefecture="東京都", name="千代田区"),
                     Municipality(code=SAPPORO, prefecture="北海道", name="札幌市中央区")])
    await session.flush()
    agency = Agency(slug="chiyoda-city", name="千代田区", kind=AgencyKind.MUNICIPALITY, municipality_code=CHIYODA)
    session.add(agency)
    await session.flush()
    rows = [{"id": uuid.uuid4(), "name": "山田 太郎", "name_kana": "ヤマダ タロウ", "birth_date": date(1985, 4, 1),
             "sex": Sex.MALE, "address": "東京都", "municipality_code": CHIYODA if n < people else SAPPORO,
             "individual_number_ciphertext": secrets.token_bytes(40), "individual_number_hash": secrets.token_bytes(32),
             "created_at": NOW} for n in range(people + elsewhere)]
    await session.execute(insert(Person), rows)
    generation = (await current_key(session, vapid_box(TEST_DATA_KEY))).generation
    await session.execute(insert(PushSubscription), [
        {"id": uuid.uuid4(), "person_id": row["id"], "endpoint": f"https://push.example/{n}", "p256dh": "p",
         "auth": "a", "vapid_generation": generation, "device_label": "phone", "created_at": NOW}
        for n, row in enumerate(rows)])
    return agency.id


def notice(audience: Audience, segment: Segment | None = None, reference: str = "r-1") -> NewNotice:
    return NewNotice(audience, Category.DISASTER, "避難指示", "避難してください。", Priority.HIGH, segment=segment,
                     reference=reference)


async def counts(session: AsyncSession) -> tuple[int, int, int, int | None]:
    recipients = await session.scalar(select(func.count()).select_from(NoticeRecipient))
    distinct_people = await session.scalar(select(func.count(distinct(NoticeRecipient.person_id))))
    jobs = await session.scalar(select(func.count()).select_from(NoticeDelivery))
    finished = await session.scalar(select(NoticeExpansion.expanded).where(NoticeExpansion.finished_at.is_not(None)))
    return recipients or 0, distinct_people or 0, jobs or 0, finished


async def test_a_segment_expands_in_chunks_from_the_publish_on(engine: AsyncEngine, monkeypatch) -> None:
    monkeypatch.setattr(expansion, "CHUNK", 4)
    factory = create_session_factory(engine)
    async with factory() as session, session.begin():
        agency_id = await seed(session, 10, elsewhere=3)
        published = await publish_notice(session, agency_id, NewNotice(
            Audience.SEGMENT, Category.DISASTER, "避難指示", "本文", Priority.HIGH,
            segment=Segment(municipality_code=CHIYODA)), now=NOW, today=TODAY)
    monkeypatch.setattr(expansion, "CHUNK", 5000)
    assert published.notice.recipient_count == 4  # the first chunk left with the publish
    async with factory() as session:
        assert await counts(session) == (4, 4, 4, None)
    chunks = [await expand_next(factory, chunk=4, now=lambda: NOW) for _ in range(3)]
    assert [(c.written, c.expanded, c.finished) for c in chunks if c] == [(4, 8, False), (2, 10, True)]
    assert chunks[2] is None  # nothing left
    async with factory() as session:
        assert await counts(session) == (10, 10, 10, 10)
        in_sapporo = await session.scalar(select(func.count()).select_from(NoticeRecipient).join(
            Person, Person.id == NoticeRecipient.person_id).where(Person.municipality_code == SAPPORO))
        assert in_sapporo == 0


async def test_a_small_segment_is_done_with_the_publish(session: AsyncSession) -> None:
    agency_id = await seed(session, 3, elsewhere=2)
    published = await publish_notice(session, agency_id, notice(Audience.EVERYONE), now=NOW, today=TODAY)
    assert published.notice.recipient_count == 5
    assert await counts(session) == (5, 5, 5, 5)


async def test_a_killed_expansion_resumes_without_duplicates_or_gaps(engine: AsyncEngine, database_url: str,
                                                                     monkeypatch) -> None:
    people = 1200
    factory = create_session_factory(engine)
    monkeypatch.setattr(expansion, "CHUNK", 50)  # the publish's first chunk; the processes below do the rest
    async with factory() as session, session.begin():
        agency_id = await seed(session, people)
        await publish_notice(session, agency_id, notice(Audience.EVERYONE), now=NOW, today=TODAY)
    env = {"MYNAPORTAL_DATABASE_URL": database_url, "MYNAPORTAL_DATA_KEY": base64.b64encode(TEST_DATA_KEY).decode(),
           "MYNAPORTAL_LOOKUP_KEY": base64.b64encode(TEST_LOOKUP_KEY).decode(), "PATH": "/usr/bin:/bin"}
    command = [sys.executable, "-c", "from api.cli import main; main()", "notices-expand", "--quiet"]
    process = subprocess.Popen([*command, "--chunk", "50", "--pause", "0.05"], env=env,  # noqa: ASYNC220
                               cwd=PROJECT_ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    expanded = 0
    while expanded < 300 and time.monotonic() < deadline and process.poll() is None:
        async with factory() as session:
            expanded = await session.scalar(select(NoticeExpansion.expanded)) or 0
    process.send_signal(signal.SIGKILL)  # mid-run: maybe mid-transaction, which then rolls back whole
    process.wait(timeout=10)
    assert process.returncode == -signal.SIGKILL  # killed, not finished
    async with factory() as session:
        partial = await counts(session)
    assert 300 <= partial[0] < people and partial[0] == partial[1] == partial[2] and partial[3] is None
    resumed = subprocess.run([*command, "--chunk", "500"], env=env, cwd=PROJECT_ROOT,  # noqa: ASYNC221
                             capture_output=True,
                             timeout=120, check=True)
    assert resumed.stdout.decode().strip() == f"{people - partial[0]} recipients written; nothing left to expand"
    async with factory() as session:
        assert await counts(session) == (people, people, people, people)
