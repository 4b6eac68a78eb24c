"""What each certificate certifies, read from the issuing municipality's registers (one-stop.md §4).

The options are those of the real forms: 世帯全員 or the person alone, with or without 本籍・筆頭者, with or
without 世帯主・続柄, with the individual number only when asked (and then only for the app, rendered on demand).
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.certificates.documents import Block, CertificateText, Entry, era
from api.certificates.models import CertificateKind
from api.certificates.registers import (
    CertificateOffice,
    FamilyRegister,
    FamilyRegisterMember,
    ResidentRecord,
    SealRegistration,
    TaxAssessment,
)
from api.people.individual_number import IndividualNumberCipher
from api.people.models import Municipality, Person, Sex
from api.platform.errors import PortalError

TITLES = {
    CertificateKind.RESIDENT_RECORD: "住民票の写し",
    CertificateKind.RESIDENT_RECORD_ITEMS: "住民票記載事項証明書",
    CertificateKind.SEAL: "印鑑登録証明書",
    CertificateKind.FAMILY_REGISTER_ALL: "戸籍全部事項証明書",
    CertificateKind.FAMILY_REGISTER_PERSON: "戸籍個人事項証明書",
    CertificateKind.TAX: "課税（所得）証明書",
}
_SEX = {Sex.MALE: "男", Sex.FEMALE: "女"}


@dataclass(frozen=True)
class Options:
    household: bool = False  # 世帯全員 (住民票)
    honseki: bool = False  # 本籍・筆頭者
    relationship: bool = True  # 世帯主・続柄
    individual_number: bool = False  # 個人番号: the app only, never stored
    tax_year: int | None = None  # 課税証明書: the year (default: the latest assessed)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def check(self, kind: CertificateKind) -> Options:
        resident = kind in (CertificateKind.RESIDENT_RECORD, CertificateKind.RESIDENT_RECORD_ITEMS)
        if (self.household or self.honseki or self.individual_number) and not resident:
            raise PortalError("BAD_USER_INPUT", "世帯全員, 本籍 and the individual number are options of a 住民票.",
                              extensions={"field": "options"})
        if self.tax_year is not None and (kind != CertificateKind.TAX or not 2000 <= self.tax_year <= 2100):
            raise PortalError("BAD_USER_INPUT", "A tax year (2000-2100) is an option of a tax certificate only.",
                              extensions={"field": "taxYear"})
        return self


@dataclass(frozen=True)
class Source:
    """Where the certificate comes from: the issuing municipality and the people it shows."""

    municipality_code: str
    people: tuple[uuid.UUID, ...]
    # The subject's 住民票 as read (resident kinds): the text reuses it (the session's identity map is weak).
    record: ResidentRecord | None = field(default=None, compare=False, repr=False)


def _unavailable(what: str) -> PortalError:
    return PortalError("CERTIFICATE_NOT_AVAILABLE", f"No {what} is registered for this person here.")


async def source_of(session: AsyncSession, kind: CertificateKind, subject_id: uuid.UUID, options: Options) -> Source:
    """The municipality that holds the register (the residence; for 戸籍 the 本籍; for tax the assessing one)."""
    if kind in (CertificateKind.RESIDENT_RECORD, CertificateKind.RESIDENT_RECORD_ITEMS):
        record = await session.get(ResidentRecord, subject_id)
        if record is None:
            raise _unavailable("resident record")
        people: tuple[uuid.UUID, ...] = (subject_id,)
        if options.household:
            people = tuple(await session.scalars(
                select(ResidentRecord.person_id).where(ResidentRecord.municipality_code == record.municipality_code,
                                                       ResidentRecord.household_id == record.household_id)
                .order_by(ResidentRecord.order_in_household)))
        return Source(record.municipality_code, people, record)
    if kind == CertificateKind.SEAL:
        seal = await session.get(SealRegistration, subject_id)
        if seal is None:
            raise _unavailable("seal")
        return Source(seal.municipality_code, (subject_id,))
    if kind in (CertificateKind.FAMILY_REGISTER_ALL, CertificateKind.FAMILY_REGISTER_PERSON):
        register = await session.scalar(select(FamilyRegister).join(
            FamilyRegisterMember, FamilyRegisterMember.register_id == FamilyRegister.id)
            .where(FamilyRegisterMember.person_id == subject_id))
        if register is None:
            raise _unavailable("family register (戸籍)")
        return Source(register.municipality_code, (subject_id,))
    tax = await _tax(session, subject_id, options.tax_year)
    return Source(tax.municipality_code, (subject_id,))


async def _tax(session: AsyncSession, subject_id: uuid.UUID, year: int | None) -> TaxAssessment:
    query = select(TaxAssessment).where(TaxAssessment.person_id == subject_id)
    if year is not None:
        query = query.where(TaxAssessment.tax_year == year)
    found = await session.scalar(query.order_by(TaxAssessment.tax_year.desc()).limit(1))
    if found is None:
        raise _unavailable("tax assessment")
    return found


@dataclass(frozen=True)
class Issue:
    serial: str
    issued_on: date
    verification_url: str


async def build(session: AsyncSession, kind: CertificateKind, subject_id: uuid.UUID, options: Options,
                source: Source, issue: Issue, *, cipher: IndividualNumberCipher | None = None) -> CertificateText:
    office = await session.get(CertificateOffice, source.municipality_code)
    municipality = await session.get(Municipality, source.municipality_code)
    if office is None or municipality is None:
        raise PortalError("CERTIFICATE_NOT_AVAILABLE", "This municipality does not issue certificates here.")
    seal_png = None
    if kind in (CertificateKind.RESIDENT_RECORD, CertificateKind.RESIDENT_RECORD_ITEMS):
        blocks = await _resident_blocks(session, kind, source, options, cipher)
        whole = options.household and len(source.people) > 1
        attestation = ("この写しは、世帯全員の住民票の原本と相違ないことを証明する。" if whole else
                       "この写しは、住民票の原本と相違ないことを証明する。")
        if kind == CertificateKind.RESIDENT_RECORD_ITEMS:
            attestation = "上記の事項は、住民票に記載されていることを証明する。"
    elif kind == CertificateKind.SEAL:
        blocks, seal_png = await _seal_blocks(session, subject_id)
        attestation = "この写しは、登録されている印影と相違ないことを証明する。"
    elif kind == CertificateKind.TAX:
        blocks = await _tax_blocks(session, subject_id, options)
        attestation = "上記のとおり相違ないことを証明する。"
    else:
        whole = kind == CertificateKind.FAMILY_REGISTER_ALL
        blocks = await _register_blocks(session, subject_id, whole=whole)
        attestation = (f"これは、戸籍に記録されている事項の{'全部' if whole else '一部'}を証明した書面である。")
    return CertificateText(
        title=TITLES[kind], municipality=municipality.name, blocks=tuple(blocks), attestation=attestation,
        mayor=f"{municipality.name}長　{office.mayor_name}", issued_on=issue.issued_on, serial=issue.serial,
        verification_url=issue.verification_url, seal_png=seal_png)


async def _people(session: AsyncSession, ids: tuple[uuid.UUID, ...]) -> dict[uuid.UUID, Person]:
    if len(ids) == 1:
        return {ids[0]: await session.get_one(Person, ids[0])}
    return {p.id: p for p in await session.scalars(select(Person).where(Person.id.in_(ids)))}


async def _resident_blocks(session: AsyncSession, kind: CertificateKind, source: Source, options: Options,
                           cipher: IndividualNumberCipher | None) -> list[Block]:
    people = await _people(session, source.people)
    # source_of loaded the subject's record (one person: found in the session, no second read).
    records = {r.person_id: r for r in ([source.record] if len(source.people) == 1 and source.record else
                                        await session.scalars(select(ResidentRecord).where(
                                            ResidentRecord.person_id.in_(source.people))))}
    head = next((r.person_id for r in records.values() if r.is_head), None)
    if head is None:  # the head is not on this certificate: found in the household
        head = await session.scalar(select(ResidentRecord.person_id).where(
            ResidentRecord.household_id == records[source.people[0]].household_id, ResidentRecord.is_head.is_(True)))
    head_name = ""
    if head is not None:
        head_name = people[head].name if head in people else (await session.get_one(Person, head)).name
    blocks = []
    for number, person_id in enumerate(source.people, start=1):
        person, record = people[person_id], records[person_id]
        entries = [Entry("氏名", person.name), Entry("フリガナ", person.name_kana),
                   Entry("生年月日", era(person.birth_date)), Entry("性別", _SEX[person.sex]),
                   Entry("住所", person.address)]
        if options.relationship:
            entries += [Entry("世帯主", head_name), Entry("続柄", record.relationship)]
        if kind == CertificateKind.RESIDENT_RECORD:
            entries += [Entry("住民となった年月日", era(record.became_resident_on)),
                        Entry("住所を定めた年月日", era(record.address_set_on)),
                        Entry("届出日", era(record.notified_on)),
                        Entry("従前の住所", record.previous_address or "")]
        if options.honseki:
            entries += [Entry("本籍", record.honseki or ""), Entry("筆頭者", record.hittosha or "")]
        if options.individual_number:
            if cipher is None:
                raise RuntimeError("the individual number is rendered on demand only, with the cipher")
            number_text = cipher.decrypt(person.individual_number_ciphertext, person.number_key_generation)
            entries.append(Entry("個人番号", f"{number_text[:4]} {number_text[4:8]} {number_text[8:]}"))
        blocks.append(Block(f"{number}．{person.name}", tuple(entries)))
    return blocks


async def _seal_blocks(session: AsyncSession, subject_id: uuid.UUID) -> tuple[list[Block], bytes]:
    seal = await session.get(SealRegistration, subject_id)
    person = await session.get(Person, subject_id)
    assert seal is not None and person is not None
    return [Block("登録者", (Entry("氏名", person.name), Entry("生年月日", era(person.birth_date)),
                             Entry("性別", _SEX[person.sex]), Entry("住所", person.address),
                             Entry("印鑑登録番号", seal.registration_number),
                             Entry("登録年月日", era(seal.registered_on))))], seal.seal_png


async def _tax_blocks(session: AsyncSession, subject_id: uuid.UUID, options: Options) -> list[Block]:
    tax = await _tax(session, subject_id, options.tax_year)
    person = await session.get(Person, subject_id)
    assert person is not None
    return [Block(f"{tax.tax_year}年度（{tax.tax_year - 1}年中の所得）",
                  (Entry("氏名", person.name), Entry("住所", person.address),
                   Entry("合計所得金額", f"{tax.total_income:,}円"), Entry("課税標準額", f"{tax.taxable_income:,}円"),
                   Entry("市区町村民税", f"{tax.municipal_tax:,}円"), Entry("道府県民税", f"{tax.prefectural_tax:,}円"),
                   Entry("扶養人数", f"{tax.dependants}人")))]


async def _register_blocks(session: AsyncSession, subject_id: uuid.UUID, *, whole: bool) -> list[Block]:
    register = await session.scalar(select(FamilyRegister).join(
        FamilyRegisterMember, FamilyRegisterMember.register_id == FamilyRegister.id)
        .where(FamilyRegisterMember.person_id == subject_id))
    assert register is not None
    query = select(FamilyRegisterMember).where(FamilyRegisterMember.register_id == register.id)
    if not whole:
        query = query.where(FamilyRegisterMember.person_id == subject_id)
    blocks = [Block("戸籍", (Entry("本籍", register.honseki), Entry("氏名", register.hittosha),
                            Entry("戸籍事項", f"編製　{era(register.formed_on)}")))]
    for member in await session.scalars(query.order_by(FamilyRegisterMember.position)):
        entries = [Entry("名", member.name), Entry("生年月日", era(member.birth_date)),
                   Entry("父", member.father or ""), Entry("母", member.mother or ""),
                   Entry("続柄", member.relationship)]
        entries += [Entry(event["kind"], event["text"]) for event in member.events]
        blocks.append(Block(f"戸籍に記録されている者　{member.name}", tuple(entries)))
    return blocks
