"""Demo data: one municipality, a few agencies, three people (a child and the child's parents)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.agencies.models import Agency, AgencyKind
from api.agencies.service import assign_code
from api.applications.catalogue import catalogue
from api.applications.offerings import publish
from api.certificates import seed as certificate_seed
from api.exchange.copies import CopyEntry, upsert_copies
from api.notices.models import Audience, Category
from api.notices.service import NewNotice, publish_notice
from api.people.individual_number import IndividualNumberCipher, check_digit
from api.people.models import Municipality, Person, Sex
from api.people.service import NewPerson, link_parent, register_person
from api.platform.db import utcnow
from payments.orders import NewOrder, create_order

CHIYODA = Municipality(code="131016", prefecture="東京都", name="千代田区")
# The family moved from Yokohama: last year's 住民税 was assessed there, so Chiyoda asks Yokohama for it.
YOKOHAMA = Municipality(code="141003", prefecture="神奈川県", name="横浜市")
ADDRESS = "東京都千代田区霞が関二丁目1番2号"
DEMO_EMAIL = "taro@example.jp"


def _number(base11: str) -> str:
    return base11 + str(check_digit(base11))


AGENCIES = [
    ("digital-agency", "デジタル庁", AgencyKind.MINISTRY, None),
    ("chiyoda-city", "千代田区", AgencyKind.MUNICIPALITY, CHIYODA.code),
    ("japan-pension-service", "日本年金機構", AgencyKind.PENSION, None),
    ("kojimachi-tax-office", "麹町税務署", AgencyKind.TAX, None),
    ("kyokai-kenpo", "全国健康保険協会", AgencyKind.INSURER, None),
    ("yokohama-city", "横浜市", AgencyKind.MUNICIPALITY, YOKOHAMA.code),
]

PEOPLE = [
    NewPerson("山田 太郎", "ヤマダ タロウ", date(1985, 4, 1), Sex.MALE, ADDRESS, CHIYODA.code,
              _number("10000000001"), email=DEMO_EMAIL, phone="090-0000-0001"),
    NewPerson("山田 花子", "ヤマダ ハナコ", date(1987, 9, 15), Sex.FEMALE, ADDRESS, CHIYODA.code,
              _number("10000000002"), email="hanako@example.jp"),
    NewPerson("山田 一郎", "ヤマダ イチロウ", date(2019, 6, 10), Sex.MALE, ADDRESS, CHIYODA.code,
              _number("10000000003")),
]


@dataclass(frozen=True)
class DemoSeed:
    created: bool
    people: list[uuid.UUID]


async def seed_demo(session: AsyncSession, cipher: IndividualNumberCipher) -> DemoSeed:
    """Load the demo data if the database holds no person yet (safe to run at every start)."""
    if await session.scalar(select(func.count()).select_from(Person)):
        existing = await session.scalars(select(Person.id).order_by(Person.birth_date))
        return DemoSeed(created=False, people=list(existing))
    session.add_all([Municipality(code=m.code, prefecture=m.prefecture, name=m.name) for m in (CHIYODA, YOKOHAMA)])
    await session.flush()  # no ORM relationships: flush parents before the rows that refer to them
    agencies = [Agency(slug=slug, name=name, kind=kind, municipality_code=code)
                for slug, name, kind, code in AGENCIES]
    session.add_all(agencies)
    await session.flush()
    people = [await register_person(session, cipher, new) for new in PEOPLE]
    father, mother, child = people
    await link_parent(session, father.id, child.id)
    await link_parent(session, mother.id, child.id)
    codes = {agency.slug: [await assign_code(session, agency.id, person.id) for person in people]
             for agency in agencies}
    await _seed_copies(session, {agency.slug: agency.id for agency in agencies}, codes)
    # 子育てワンストップ: Chiyoda publishes the four families' procedures (児童手当 認定請求 and 現況届, 保育,
    # 妊娠の届出, 児童扶養手当) for online application.
    for code in catalogue().procedures:
        await publish(session, CHIYODA.code, code)
    await _seed_registers(session, {agency.slug: agency.id for agency in agencies}, people)
    return DemoSeed(created=True, people=[p.id for p in people])


# Copies (副本) the providers registered for the family: Yokohama's 住民税 of the year before the move, Chiyoda's
# 住民票 household. `make run` shows Chiyoda asking Yokohama for the father's 地方税関係情報 for 児童手当.
DEMO_TAX = [
    {"tax_year": 2025, "taxable_income": 4_200_000, "municipal_tax": 238_000, "dependants": 2},
    {"tax_year": 2025, "taxable_income": 1_030_000, "municipal_tax": 5_000, "dependants": 0},
]


async def _seed_copies(session: AsyncSession, agencies: dict[str, uuid.UUID], codes: dict[str, list[str]]) -> None:
    father, mother, child = PEOPLE
    members = [{"name": p.name, "relationship": rel, "birth_date": p.birth_date.isoformat()}
               for p, rel in ((father, "世帯主"), (mother, "妻"), (child, "子"))]
    await upsert_copies(session, agencies["yokohama-city"], [
        CopyEntry(code, "local_tax", tax) for code, tax in zip(codes["yokohama-city"][:2], DEMO_TAX, strict=True)])
    await upsert_copies(session, agencies["chiyoda-city"], [
        CopyEntry(code, "resident_record", {"household_head_name": father.name, "relationship_to_head": rel,
                                            "members": members})
        for code, rel in zip(codes["chiyoda-city"], ("世帯主", "妻", "子"), strict=True)])


async def seed_demo_inbox(session: AsyncSession, person_id: uuid.UUID, *, today: date) -> None:
    """What the demo person finds on the first screen (web portal, apps): two notices and a payment due,
    written through the notices' and payments' own functions (a replay writes nothing new)."""
    slugs = {slug: agency_id for slug, agency_id in (await session.execute(
        select(Agency.slug, Agency.id).where(Agency.slug.in_(["kojimachi-tax-office", "chiyoda-city"])))).all()}
    tax, city = slugs["kojimachi-tax-office"], slugs["chiyoda-city"]
    now = utcnow()
    tax_code = await assign_code(session, tax, person_id)
    published = await publish_notice(session, tax, NewNotice(
        audience=Audience.PERSON, category=Category.TAX, recipient_code=tax_code, reference="demo-estimated-tax-1",
        title="所得税の予定納税（第1期）のお知らせ",
        body="令和8年分所得税の予定納税額（第1期分）をお知らせします。\n"
             "マイナポータルの「公金決済」から、クレジットカードまたはネットバンキングで納付できます。"),
        now=now, today=today)
    await create_order(session, tax, NewOrder(
        person_code=tax_code, amount=52_300, purpose="所得税 予定納税（第1期）", due_date=today + timedelta(days=30),
        agency_reference="demo-estimated-tax-1", notice_id=published.notice.id),
        idempotency_key="demo-estimated-tax-1", today=today, now=now)
    await publish_notice(session, city, NewNotice(
        audience=Audience.PERSON, category=Category.CHILD_REARING, recipient_code=await assign_code(session, city,
                                                                                                    person_id),
        reference="demo-child-allowance-status", title="児童手当の現況について",
        body="児童手当を受給中の方へ。今年度の現況届は、原則として提出不要になりました。\n"
             "公金受取口座を登録すると、手当の振込先として使えます。"), now=now, today=today)
# The registers certificates come from (api.certificates): Chiyoda keeps the family's 住民票, the father's registered
# seal and this year's tax; the 戸籍 stays with Yokohama, the 本籍 (which need not be where one lives).
HONSEKI = "神奈川県横浜市中区日本大通1番地"
MAYORS = {CHIYODA.code: "花村 誠", YOKOHAMA.code: "港 太一"}


async def _seed_registers(session: AsyncSession, agencies: dict[str, uuid.UUID], people: list[Person]) -> None:
    father, mother, child = people
    await certificate_seed.add_office(session, CHIYODA.code, agencies["chiyoda-city"], MAYORS[CHIYODA.code])
    await certificate_seed.add_office(session, YOKOHAMA.code, agencies["yokohama-city"], MAYORS[YOKOHAMA.code])
    await certificate_seed.add_household(
        session, [certificate_seed.Member(father, "世帯主", "夫"), certificate_seed.Member(mother, "妻", "妻"),
                  certificate_seed.Member(child, "子", "長男")],
        municipality_code=CHIYODA.code, moved_in=date(2025, 4, 1), previous_address="神奈川県横浜市中区港町1丁目1番地",
        honseki=HONSEKI, honseki_code=YOKOHAMA.code, register_formed=date(2015, 10, 10),
        father_of_children=father.name, mother_of_children=mother.name)
    await certificate_seed.add_seal(session, father, CHIYODA.code, "13101-000123", date(2025, 4, 15))
    await certificate_seed.add_tax(session, father, CHIYODA.code, tax_year=2026, total_income=4_300_000,
                                   dependants=2)
