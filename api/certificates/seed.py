"""Register entries for people the sandbox already knows (the demo family, test households).

The seal image is drawn here (a red ring with the surname), as a resident's registered impression would be
scanned in at the counter.
"""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass
from datetime import date

from PIL import Image, ImageDraw, ImageFont
from sqlalchemy.ext.asyncio import AsyncSession

from api.certificates.models import CertificateKind
from api.certificates.registers import (
    AddressHistory,
    CertificateOffice,
    FamilyRegister,
    FamilyRegisterMember,
    ResidentRecord,
    SealRegistration,
    TaxAssessment,
)
from api.certificates.rendering import FONT_FILES
from api.people.models import Person

# Fees in yen (one-stop.md §3.2: each municipality decides; the counter's 300 yen here, kiosks the same).
DEFAULT_FEES = {CertificateKind.RESIDENT_RECORD.value: 300, CertificateKind.RESIDENT_RECORD_ITEMS.value: 300,
                CertificateKind.SEAL.value: 300, CertificateKind.FAMILY_REGISTER_ALL.value: 450,
                CertificateKind.FAMILY_REGISTER_PERSON.value: 450, CertificateKind.TAX.value: 300}


def seal_impression(surname: str, size: int = 240) -> bytes:
    """A round seal (丸印) with the surname, red on white, as PNG without transparency (PDF/A-friendly)."""
    image = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(image)
    red = (200, 30, 30)
    draw.ellipse((8, 8, size - 8, size - 8), outline=red, width=10)
    font = ImageFont.truetype(str(FONT_FILES["IPAexMincho"]), int(size * 0.6 / max(1, len(surname))))
    box = draw.multiline_textbbox((0, 0), "\n".join(surname), font=font, spacing=0)
    draw.multiline_text(((size - box[2]) / 2, (size - box[3]) / 2 - box[1] / 2), "\n".join(surname), font=font,
                        fill=red, spacing=0, align="center")
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


async def add_office(session: AsyncSession, municipality_code: str, agency_id: uuid.UUID, mayor_name: str) -> None:
    session.add(CertificateOffice(municipality_code=municipality_code, mayor_name=mayor_name, agency_id=agency_id,
                                  fees=dict(DEFAULT_FEES)))
    await session.flush()


@dataclass(frozen=True)
class Member:
    person: Person
    relationship: str  # 続柄 on the 住民票: 世帯主, 妻, 子 ...
    register_relationship: str  # 続柄 in the 戸籍: 夫, 妻, 長男 ...


async def add_household(session: AsyncSession, members: list[Member], *, municipality_code: str, moved_in: date,
                        previous_address: str | None, honseki: str, honseki_code: str, register_formed: date,
                        father_of_children: str | None = None, mother_of_children: str | None = None) -> uuid.UUID:
    """A household in the resident register (the first member is its head) and its 戸籍 at the 本籍."""
    household = uuid.uuid4()
    head = members[0].person
    for order, member in enumerate(members, start=1):
        person = member.person
        session.add(ResidentRecord(
            person_id=person.id, municipality_code=municipality_code, household_id=household, is_head=order == 1,
            relationship=member.relationship, order_in_household=order,
            became_resident_on=max(moved_in, person.birth_date), address_set_on=max(moved_in, person.birth_date),
            notified_on=max(moved_in, person.birth_date),
            previous_address=previous_address if person.birth_date < moved_in else None,
            honseki=honseki, hittosha=head.name, honseki_municipality_code=honseki_code))
        session.add(AddressHistory(person_id=person.id, municipality_code=municipality_code, address=person.address,
                                   moved_in_on=max(moved_in, person.birth_date)))
    register = FamilyRegister(municipality_code=honseki_code, honseki=honseki, hittosha=head.name,
                              formed_on=register_formed)
    session.add(register)
    await session.flush()
    for position, member in enumerate(members, start=1):
        person = member.person
        child = member.relationship == "子"
        events = [{"kind": "出生", "text": f"【出生日】{person.birth_date.isoformat()}"}]
        if not child:
            events.append({"kind": "婚姻", "text": f"【婚姻日】{register_formed.isoformat()}"})
        session.add(FamilyRegisterMember(
            register_id=register.id, person_id=person.id, position=position, name=person.name.split()[-1],
            birth_date=person.birth_date, father=father_of_children if child else None,
            mother=mother_of_children if child else None, relationship=member.register_relationship,
            events=events))
    await session.flush()
    return household


async def add_seal(session: AsyncSession, person: Person, municipality_code: str, number: str,
                   registered_on: date) -> None:
    session.add(SealRegistration(person_id=person.id, municipality_code=municipality_code, registration_number=number,
                                 seal_png=seal_impression(person.name.split()[0]), registered_on=registered_on))
    await session.flush()


async def add_tax(session: AsyncSession, person: Person, municipality_code: str, *, tax_year: int, total_income: int,
                  dependants: int) -> None:
    taxable = max(0, total_income - 430_000 - 380_000 * dependants)
    session.add(TaxAssessment(municipality_code=municipality_code, person_id=person.id, tax_year=tax_year,
                              total_income=total_income, taxable_income=taxable,
                              municipal_tax=taxable * 6 // 100 + 3_500, prefectural_tax=taxable * 4 // 100 + 1_500,
                              dependants=dependants))
    await session.flush()
