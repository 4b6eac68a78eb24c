from __future__ import annotations

import json
from datetime import date

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from api.agencies.models import AgencyKind
from api.agencies.service import assign_code
from api.exchange.copies import CopyEntry, register_copies
from api.exchange.models import ExchangeCopy, ExchangeRecord
from api.notices.models import Notice
from api.people.individual_number import IndividualNumberCipher
from api.platform.db import create_session_factory
from api.platform.errors import PortalError
from api.platform.pagination import PageRequest, decode_cursor
from api.records.models import LogLeaf
from api.selfinfo import corrections
from api.selfinfo.models import CorrectionStatus
from tests.factories import individual_number, make_agency, make_municipality, make_person

TODAY = date(2026, 12, 5)


async def test_the_queue_pages_per_agency_and_an_answer_is_given_once(engine: AsyncEngine,
                                                                      cipher: IndividualNumberCipher) -> None:
    factory = create_session_factory(engine)
    async with factory() as session, session.begin():
        await make_municipality(session)
        person = (await make_person(session, cipher, number=individual_number("40000000001"))).id
        city = await make_agency(session, "chiyoda-city", AgencyKind.MUNICIPALITY)
        other = await make_agency(session, "yokohama-city", AgencyKind.MUNICIPALITY)
        code = await assign_code(session, city.id, person)
    await register_copies(factory, city.id, [CopyEntry(code, "local_tax", {
        "tax_year": year, "taxable_income": 1, "municipal_tax": 1, "dependants": 0}) for year in (2023, 2024, 2025)])
    async with factory() as session:
        copies = list(await session.scalars(select(ExchangeCopy.id).order_by(ExchangeCopy.item_key)))
    asked = [await corrections.request_correction(factory, person, person, copy, f"誤り {n}", today=TODAY)
             for n, copy in enumerate(copies)]
    with pytest.raises(PortalError) as refused:
        await corrections.request_correction(factory, person, person, copies[0], " ", today=TODAY)
    assert refused.value.code == "BAD_USER_INPUT"

    first = await corrections.agency_queue(factory, city.id, CorrectionStatus.OPEN, PageRequest(2, None))
    assert [(q.request.id, q.person_code) for _, q in first.items] == [(asked[0].id, code), (asked[1].id, code)]
    rest = await corrections.agency_queue(factory, city.id, CorrectionStatus.OPEN,
                                          PageRequest(2, decode_cursor(first.items[-1][0])))
    assert [q.request.id for _, q in rest.items] == [asked[2].id] and not rest.has_next_page
    assert (await corrections.agency_queue(factory, other.id, CorrectionStatus.OPEN, PageRequest(5, None))).items == []

    with pytest.raises(PortalError) as elsewhere:
        await corrections.answer(factory, other.id, asked[0].id, CorrectionStatus.REJECTED, "no", today=TODAY)
    assert elsewhere.value.code == "NOT_FOUND"
    done = await corrections.answer(factory, city.id, asked[0].id, CorrectionStatus.REJECTED, "根拠資料のとおりです",
                                    today=TODAY)
    assert (done.request.status, done.request.answer) == (CorrectionStatus.REJECTED, "根拠資料のとおりです")
    with pytest.raises(PortalError) as again:
        await corrections.answer(factory, city.id, asked[0].id, CorrectionStatus.CORRECTED, "x", today=TODAY)
    assert again.value.code == "CORRECTION_ALREADY_ANSWERED"
    async with factory() as session:
        assert await session.scalar(select(func.count()).select_from(Notice)) == 1  # the second answer wrote none
        duties = sorted(await session.scalars(select(ExchangeRecord.duty)))
        leaves = list(await session.scalars(select(LogLeaf.leaf_data).order_by(LogLeaf.id)))
    assert duties == ["訂正請求", "訂正請求", "訂正請求", "訂正請求への回答"]
    # Each record's leaf is in the transparency log (pending until the sequencer integrates it).
    assert [json.loads(leaf)["duty"] for leaf in leaves] == ["訂正請求", "訂正請求", "訂正請求", "訂正請求への回答"]
