from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from api.notices.models import Audience, Category, Notice, NoticeAttachment, NoticeDelivery, NoticeRecipient
from api.notices.segments import Segment
from api.notices.service import (
    AttachmentSpec,
    InboxFilter,
    Mark,
    NewNotice,
    inbox_page,
    mark_notice,
    publish_notice,
)
from api.platform.access_records import AccessRecord
from api.platform.errors import PortalError
from api.platform.pagination import PageRequest
from api.proxies.service import grant_proxy
from tests.api.notices.conftest import Demo

NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
TODAY = date(2026, 6, 1)


def notice(**overrides: object) -> NewNotice:
    values: dict[str, object] = {"audience": Audience.SEGMENT, "category": Category.CHILD_REARING,
                                 "title": "児童手当のお知らせ", "body": "現況届を提出してください。",
                                 "segment": Segment(municipality_code="131016", has_child_under=18)}
    values.update(overrides)
    return NewNotice(**values)  # type: ignore[arg-type]


async def recipients(demo: Demo, notice_id: object) -> set[object]:
    async with demo.factory() as session:
        return set(await session.scalars(select(NoticeRecipient.person_id)
                                         .where(NoticeRecipient.notice_id == notice_id)))


async def test_a_segment_notice_reaches_exactly_the_matching_people(demo: Demo) -> None:
    async with demo.factory() as session, session.begin():
        published = await publish_notice(session, demo.city.id, notice(), now=NOW, today=TODAY)
    assert published.notice.recipient_count == 2
    assert await recipients(demo, published.notice.id) == {demo.father, demo.mother}


async def test_a_prefecture_segment_reaches_everyone_in_its_municipalities(demo: Demo) -> None:
    async with demo.factory() as session, session.begin():
        tokyo = await publish_notice(session, demo.city.id, notice(segment=Segment(prefecture_code="13")),
                                     now=NOW, today=TODAY)
        kanagawa = await publish_notice(session, demo.city.id, notice(segment=Segment(prefecture_code="14")),
                                        now=NOW, today=TODAY)
    assert await recipients(demo, tokyo.notice.id) == {demo.father, demo.mother, demo.child}
    assert await recipients(demo, kanagawa.notice.id) == set()
    for bad in ({"prefecture_code": "48"}, {"prefecture_code": "1"}, {"prefecture_code": "００"},
                {"prefecture_code": "14", "municipality_code": "131016"}):
        with pytest.raises(PortalError) as caught:
            Segment(**bad)  # type: ignore[arg-type]
        assert caught.value.code == "BAD_USER_INPUT", bad


async def test_age_segments_use_the_birthday(demo: Demo) -> None:
    # The child was born 2019-06-10: 6 on 2026-06-01, 7 from 2026-06-10.
    async with demo.factory() as session, session.begin():
        six = await publish_notice(session, demo.city.id, notice(segment=Segment(max_age=6)), now=NOW, today=TODAY)
        seven = await publish_notice(session, demo.city.id, notice(segment=Segment(min_age=7, max_age=17)),
                                     now=NOW, today=TODAY)
    assert await recipients(demo, six.notice.id) == {demo.child}
    assert await recipients(demo, seven.notice.id) == set()


async def test_a_notice_to_one_person_goes_by_the_agencys_own_code(demo: Demo) -> None:
    code = await demo.code(demo.pension, demo.mother)
    async with demo.factory() as session, session.begin():
        published = await publish_notice(session, demo.pension.id,
                                         notice(audience=Audience.PERSON, segment=None, recipient_code=code,
                                                category=Category.PENSION,
                                                attachments=(AttachmentSpec("document", "doc-1", "通知書"),)),
                                         now=NOW, today=TODAY)
    assert await recipients(demo, published.notice.id) == {demo.mother}
    async with demo.factory() as session:
        attachment = await session.scalar(select(NoticeAttachment))
    assert attachment is not None and (attachment.kind, attachment.reference) == ("document", "doc-1")


async def test_the_portals_own_domains_name_the_person_directly(demo: Demo) -> None:
    async with demo.factory() as session, session.begin():
        published = await publish_notice(session, demo.city.id, notice(audience=Audience.PERSON, segment=None),
                                         now=NOW, today=TODAY, recipient_id=demo.child)
        with pytest.raises(PortalError) as refused:  # neither a code nor a person
            await publish_notice(session, demo.city.id, notice(audience=Audience.PERSON, segment=None,
                                                               reference="other"), now=NOW, today=TODAY)
    assert refused.value.code == "BAD_USER_INPUT"
    assert (published.notice.recipient_count, await recipients(demo, published.notice.id)) == (1, {demo.child})


async def test_another_agencys_code_is_unknown_and_nothing_is_written(demo: Demo) -> None:
    city_code = await demo.code(demo.city, demo.mother)
    async with demo.factory() as session, session.begin():
        with pytest.raises(PortalError) as refused:
            await publish_notice(session, demo.pension.id, notice(audience=Audience.PERSON, segment=None,
                                                                  recipient_code=city_code), now=NOW, today=TODAY)
    assert refused.value.code == "NOT_FOUND"
    async with demo.factory() as session:
        assert await session.scalar(select(func.count()).select_from(Notice)) == 0


@pytest.mark.parametrize(("_case", "overrides"), [
    ("blank title", {"title": " "}),
    ("http link", {"action_url": "http://example.jp/"}),
    ("expiry before publish", {"expires_at": NOW - timedelta(minutes=1)}),
    ("empty segment", {"segment": Segment()}),
    ("everyone with a segment", {"audience": Audience.EVERYONE}),
    ("too far ahead", {"publish_at": NOW + timedelta(days=400)}),
    ("bad attachment kind", {"attachments": (AttachmentSpec("Payment Slip", "x", "y"),)}),
])
async def test_bad_input_is_refused(demo: Demo, _case: str, overrides: dict[str, object]) -> None:
    async with demo.factory() as session, session.begin():
        with pytest.raises(PortalError) as refused:
            await publish_notice(session, demo.city.id, notice(**overrides), now=NOW, today=TODAY)
    assert refused.value.code == "BAD_USER_INPUT"


async def test_a_retried_publish_with_the_same_reference_is_not_a_second_notice(demo: Demo) -> None:
    async with demo.factory() as session, session.begin():
        first = await publish_notice(session, demo.city.id, notice(reference="r-1"), now=NOW, today=TODAY)
    async with demo.factory() as session, session.begin():
        again = await publish_notice(session, demo.city.id, notice(reference="r-1"), now=NOW, today=TODAY)
        with pytest.raises(PortalError) as refused:
            await publish_notice(session, demo.city.id, notice(reference="r-1", title="別の内容"), now=NOW,
                                 today=TODAY)
    assert (again.replayed, again.notice.id) == (True, first.notice.id)
    assert refused.value.code == "NOTICE_REFERENCE_REUSED"
    async with demo.factory() as session:
        assert await session.scalar(select(func.count()).select_from(NoticeRecipient)) == 2


async def test_concurrent_publishes_with_one_reference_make_one_notice(demo: Demo) -> None:
    async def publish() -> object:
        async with demo.factory() as session, session.begin():
            return (await publish_notice(session, demo.city.id, notice(reference="same"), now=NOW,
                                         today=TODAY)).notice.id

    first, second = await asyncio.gather(publish(), publish())
    assert first == second
    async with demo.factory() as session:
        assert await session.scalar(select(func.count()).select_from(Notice)) == 1
        assert await session.scalar(select(func.count()).select_from(NoticeRecipient)) == 2


async def test_the_inbox_is_newest_first_filtered_and_paged(demo: Demo) -> None:
    async with demo.factory() as session, session.begin():
        ids = []
        for minutes, category in ((1, Category.TAX), (2, Category.CHILD_REARING), (3, Category.TAX)):
            published = await publish_notice(session, demo.city.id, notice(category=category),
                                             now=NOW + timedelta(minutes=minutes), today=TODAY)
            ids.append(published.notice.id)
        # Scheduled for later and already expired: not shown.
        await publish_notice(session, demo.city.id, notice(publish_at=NOW + timedelta(days=1)), now=NOW, today=TODAY)
        await publish_notice(session, demo.city.id, notice(expires_at=NOW + timedelta(minutes=5)), now=NOW,
                             today=TODAY)
    later = NOW + timedelta(hours=1)
    async with demo.factory() as session, session.begin():
        first = await inbox_page(session, demo.father, demo.father, PageRequest.parse(2, None), InboxFilter(),
                                 now=later, today=TODAY)
        cursor = first.items[-1][0]
        second = await inbox_page(session, demo.father, demo.father, PageRequest.parse(2, cursor), InboxFilter(),
                                  now=later, today=TODAY)
        taxes = await inbox_page(session, demo.father, demo.father, PageRequest.parse(10, None),
                                 InboxFilter(category=Category.TAX), now=later, today=TODAY)
        await mark_notice(session, demo.father, demo.father, ids[2], Mark.READ, now=later, today=TODAY)
        unread = await inbox_page(session, demo.father, demo.father, PageRequest.parse(10, None),
                                  InboxFilter(unread=True), now=later, today=TODAY)
    assert [item.notice.id for _, item in first.items] == [ids[2], ids[1]]
    assert (first.has_next_page, second.has_next_page) == (True, False)
    assert [item.notice.id for _, item in second.items] == [ids[0]]
    assert [item.notice.id for _, item in taxes.items] == [ids[2], ids[0]]
    assert [item.notice.id for _, item in unread.items] == [ids[1], ids[0]]


async def test_marking_twice_keeps_the_first_time_and_archive_hides(demo: Demo) -> None:
    async with demo.factory() as session, session.begin():
        published = await publish_notice(session, demo.city.id, notice(), now=NOW, today=TODAY)
        first = await mark_notice(session, demo.mother, demo.mother, published.notice.id, Mark.READ, now=NOW,
                                  today=TODAY)
        again = await mark_notice(session, demo.mother, demo.mother, published.notice.id, Mark.READ,
                                  now=NOW + timedelta(hours=1), today=TODAY)
        await mark_notice(session, demo.mother, demo.mother, published.notice.id, Mark.ARCHIVE, now=NOW, today=TODAY)
        active = await inbox_page(session, demo.mother, demo.mother, PageRequest.parse(10, None), InboxFilter(),
                                  now=NOW, today=TODAY)
        archived = await inbox_page(session, demo.mother, demo.mother, PageRequest.parse(10, None),
                                    InboxFilter(archived=True), now=NOW, today=TODAY)
        with pytest.raises(PortalError) as missing:
            await mark_notice(session, demo.child, demo.child, published.notice.id, Mark.READ, now=NOW, today=TODAY)
    assert first.read_at == again.read_at == NOW
    assert (len(active.items), len(archived.items)) == (0, 1)
    assert missing.value.code == "NOT_FOUND"


async def test_a_parent_reads_a_minors_notices_and_the_read_is_recorded(demo: Demo) -> None:
    async with demo.factory() as session, session.begin():
        published = await publish_notice(session, demo.city.id, notice(segment=Segment(max_age=17)), now=NOW,
                                         today=TODAY)
        page = await inbox_page(session, demo.father, demo.child, PageRequest.parse(10, None), InboxFilter(),
                                now=NOW, today=TODAY)
    assert [item.notice.id for _, item in page.items] == [published.notice.id]
    async with demo.factory() as session:
        records = list(await session.scalars(select(AccessRecord)))
    assert [(r.actor_person_id, r.subject_person_id, r.purpose) for r in records] == [
        (demo.father, demo.child, "notices:list")]


async def test_a_proxy_sees_only_what_the_grant_allows(demo: Demo) -> None:
    async with demo.factory() as session, session.begin():
        published = await publish_notice(session, demo.city.id, notice(), now=NOW, today=TODAY)
        with pytest.raises(PortalError) as before:
            await inbox_page(session, demo.mother, demo.father, PageRequest.parse(10, None), InboxFilter(), now=NOW,
                             today=TODAY)
        await grant_proxy(session, principal_id=demo.father, proxy_id=demo.mother, scopes=["notices:read"],
                          valid_until=TODAY + timedelta(days=30), today=TODAY)
        page = await inbox_page(session, demo.mother, demo.father, PageRequest.parse(10, None), InboxFilter(),
                                now=NOW, today=TODAY)
        with pytest.raises(PortalError) as cannot_write:
            await mark_notice(session, demo.mother, demo.father, published.notice.id, Mark.READ, now=NOW, today=TODAY)
    assert before.value.code == "FORBIDDEN"
    assert [item.notice.id for _, item in page.items] == [published.notice.id]
    assert cannot_write.value.code == "FORBIDDEN"


async def test_publishing_writes_one_delivery_job_per_device_in_the_same_transaction(demo: Demo) -> None:
    from push.models import PushSubscription, VapidKey

    async with demo.factory() as session, session.begin():
        session.add(VapidKey(generation=1, public_key="k", private_key_ciphertext=b"x"))
        await session.flush()
        for index, person in enumerate((demo.father, demo.father, demo.child)):
            session.add(PushSubscription(person_id=person, endpoint=f"https://push.example/{index}", p256dh="p",
                                         auth="a", vapid_generation=1, device_label=f"d{index}"))
        await session.flush()
        published = await publish_notice(session, demo.city.id, notice(), now=NOW, today=TODAY)
    async with demo.factory() as session:
        jobs = list(await session.scalars(select(NoticeDelivery).order_by(NoticeDelivery.id)))
    assert [(job.notice_id, job.person_id, job.state.value, job.attempts) for job in jobs] == [
        (published.notice.id, demo.father, "pending", 0)] * 2
