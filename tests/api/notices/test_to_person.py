"""The lean notice to a known person: the same notice publish_notice writes, its one recipient, a job per device and
delivery service of that person only, the announcement; a reference replays; four statements."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import event, func, select

from api.notices.models import (
    Audience,
    Category,
    DeliveryService,
    DeliveryServiceLink,
    Notice,
    NoticeDelivery,
    NoticeRecipient,
    Priority,
)
from api.notices.service import NewNotice, publish_notice
from api.notices.to_person import publish_to_person
from api.platform.errors import PortalError
from push.models import PushSubscription, VapidKey
from tests.api.notices.conftest import Demo

NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
TODAY = date(2026, 6, 1)
FIELDS = ("agency_id", "audience", "segment", "category", "priority", "title", "body", "action_url", "publish_at",
          "expires_at", "procedure_id", "recipient_count")


def receipt(reference: str, **overrides: object) -> NewNotice:
    values: dict[str, object] = {"audience": Audience.PERSON, "category": Category.CHILD_REARING,
                                 "title": "申請を受け付けました", "body": "受付番号 1", "priority": Priority.HIGH,
                                 "reference": reference}
    values.update(overrides)
    return NewNotice(**values)  # type: ignore[arg-type]


async def devices(demo: Demo) -> None:
    async with demo.factory() as session, session.begin():
        session.add(VapidKey(generation=1, public_key="k", private_key_ciphertext=b"x"))
        await session.flush()
        for index, person in enumerate((demo.father, demo.father, demo.mother)):
            session.add(PushSubscription(person_id=person, endpoint=f"https://push.example/{index}", p256dh="p",
                                         auth="a", vapid_generation=1, device_label=f"d{index}"))
        service = DeliveryService(slug="post", name="郵便", webhook_url="https://post.example/hook",
                                  secret_ciphertext=b"x" * 16)
        session.add(service)
        await session.flush()
        session.add_all(DeliveryServiceLink(person_id=person, service_id=service.id, account_reference=f"acct-{n}")
                        for n, person in enumerate((demo.father, demo.mother)))


async def test_it_writes_what_publish_notice_writes_for_one_person(demo: Demo) -> None:
    await devices(demo)
    code = await demo.code(demo.city, demo.father)
    async with demo.factory() as session, session.begin():
        lean_id = await publish_to_person(session, demo.city.id, demo.father, receipt("lean"), now=NOW)
        full = await publish_notice(session, demo.city.id, receipt("full", recipient_code=code), now=NOW,
                                    today=TODAY)
    async with demo.factory() as session:
        lean, written = await session.get_one(Notice, lean_id), await session.get_one(Notice, full.notice.id)
        assert [getattr(lean, name) for name in FIELDS] == [getattr(written, name) for name in FIELDS]
        assert lean.recipient_count == 1
        for notice_id in (lean_id, full.notice.id):
            assert list(await session.scalars(select(NoticeRecipient.person_id).where(
                NoticeRecipient.notice_id == notice_id))) == [demo.father]
            jobs = (await session.execute(select(NoticeDelivery.channel, NoticeDelivery.person_id).where(
                NoticeDelivery.notice_id == notice_id))).all()
            assert sorted((channel.value, person) for channel, person in jobs) == [
                ("webhook", demo.father), ("webpush", demo.father), ("webpush", demo.father)]


async def test_four_statements_and_a_reference_replays(demo: Demo) -> None:
    statements: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        words = statement.split()
        statements.append(" ".join(words[:3]) if words[0] == "INSERT" else words[0] + " " + words[1][:9])

    async with demo.factory() as session, session.begin():
        engine = session.get_bind()
        postgres = engine.dialect.name == "postgresql"
        event.listen(engine, "before_cursor_execute", seen)
        try:
            first = await publish_to_person(session, demo.city.id, demo.father, receipt("r-1"), now=NOW)
        finally:
            event.remove(engine, "before_cursor_execute", seen)
    assert [s for s in statements if not s.startswith("BEGIN")] == [
        "INSERT INTO notices", "INSERT INTO notice_recipients", "INSERT INTO notice_deliveries",
        *(["SELECT pg_notify"] if postgres else [])]
    async with demo.factory() as session, session.begin():
        again = await publish_to_person(session, demo.city.id, demo.father, receipt("r-1"), now=NOW)
    assert again == first
    with pytest.raises(PortalError) as caught:
        async with demo.factory() as session, session.begin():
            await publish_to_person(session, demo.city.id, demo.father, receipt("r-1", body="other"), now=NOW)
    assert caught.value.code == "NOTICE_REFERENCE_REUSED"
    async with demo.factory() as session:
        assert await session.scalar(select(func.count()).select_from(NoticeRecipient).where(
            NoticeRecipient.notice_id == first)) == 1


async def test_only_one_person_without_attachments(demo: Demo) -> None:
    async with demo.factory() as session:
        with pytest.raises(ValueError, match="one person"):
            await publish_to_person(session, demo.city.id, demo.father, receipt("x", audience=Audience.EVERYONE),
                                    now=NOW)
        with pytest.raises(PortalError) as caught:
            await publish_to_person(session, demo.city.id, demo.father, receipt("x", title=" "), now=NOW)
        assert caught.value.code == "BAD_USER_INPUT"
