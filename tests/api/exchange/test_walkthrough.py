"""The walkthrough `make run` prints, on the demo data: one exchange answered, one refused, both recorded."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from api.demo import DEMO_EMAIL, DEMO_TAX, seed_demo
from api.exchange.models import ExchangeRecord
from api.exchange.walkthrough import walkthrough
from api.people.individual_number import IndividualNumberCipher
from api.platform.db import create_session_factory


async def test_the_walkthrough_on_the_demo_data(engine: AsyncEngine, cipher: IndividualNumberCipher) -> None:
    factory = create_session_factory(engine)
    async with factory() as session, session.begin():
        await seed_demo(session, cipher)
    done = await walkthrough(factory, email=DEMO_EMAIL, requester="chiyoda-city", provider="yokohama-city",
                             outside_provider="kyokai-kenpo")
    assert [item.value for item in done.answer.items] == [DEMO_TAX[0]]
    assert done.refused.code == "EXCHANGE_NOT_PERMITTED"
    async with factory() as session:
        records = list(await session.scalars(select(ExchangeRecord).order_by(ExchangeRecord.requested_at)))
    assert [(r.outcome, r.legal_row_id, r.refusal_code) for r in records] == [
        ("provided", "beppyo2:74:1", None), ("refused", None, "EXCHANGE_NOT_PERMITTED")]
