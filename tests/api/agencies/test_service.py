from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from api.agencies.service import agencies_page, assign_code, person_for_code
from api.people.individual_number import IndividualNumberCipher
from api.platform.pagination import PageRequest
from tests.factories import individual_number, make_agency, make_municipality, make_person


async def test_each_agency_knows_a_person_by_its_own_code(
    session: AsyncSession, cipher: IndividualNumberCipher
) -> None:
    await make_municipality(session)
    person = await make_person(session, cipher, number=individual_number("10000000001"))
    tax, pension = await make_agency(session, "tax-office"), await make_agency(session, "pension-service")

    tax_code = await assign_code(session, tax.id, person.id)
    pension_code = await assign_code(session, pension.id, person.id)

    assert len(tax_code) == len(pension_code) == 32
    assert tax_code != pension_code
    assert await assign_code(session, tax.id, person.id) == tax_code  # stable once assigned
    assert await person_for_code(session, tax.id, tax_code) == person.id
    # One agency's code means nothing at another agency.
    assert await person_for_code(session, pension.id, tax_code) is None


async def test_agencies_page_by_slug(session: AsyncSession) -> None:
    for slug in ("c-agency", "a-agency", "b-agency"):
        await make_agency(session, slug)
    first = await agencies_page(session, PageRequest.parse(2, None))
    assert [a.slug for _, a in first.items] == ["a-agency", "b-agency"]
    assert (first.has_next_page, first.has_previous_page) == (True, False)
    rest = await agencies_page(session, PageRequest.parse(2, first.items[-1][0]))
    assert [a.slug for _, a in rest.items] == ["c-agency"]
    assert (rest.has_next_page, rest.has_previous_page) == (False, True)
