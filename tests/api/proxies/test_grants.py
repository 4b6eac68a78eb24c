"""The grant units of work: each opens its own transaction and answers with both people's names."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from api.people.individual_number import IndividualNumberCipher
from api.platform.db import create_session_factory
from api.platform.errors import PortalError
from api.platform.scopes import NOTICES_READ
from api.proxies import grants
from tests.factories import individual_number, make_municipality, make_person

TODAY = date(2026, 11, 27)


async def test_grant_list_and_revoke(engine: AsyncEngine, cipher: IndividualNumberCipher) -> None:
    factory = create_session_factory(engine)
    async with factory() as session, session.begin():
        await make_municipality(session)
        grandma = await make_person(session, cipher, number=individual_number("20000000001"), name="佐藤 ハル",
                                    birth_date=date(1940, 1, 1), email="haru@example.jp")
        helper = await make_person(session, cipher, number=individual_number("20000000002"), name="佐藤 健",
                                   email="ken@example.jp")
    made = await grants.grant(factory, grandma.id, proxy_email="ken@example.jp", scopes=[NOTICES_READ],
                              valid_until=date(2026, 12, 31), today=TODAY)
    assert (made.principal_name, made.proxy_name, made.active) == ("佐藤 ハル", "佐藤 健", True)
    assert [view.grant.id for view in await grants.received(factory, helper.id, TODAY)] == [made.grant.id]
    revoked = await grants.revoke(factory, grandma.id, made.grant.id, TODAY)
    again = await grants.revoke(factory, grandma.id, made.grant.id, TODAY)
    assert (revoked.active, again.active, again.grant.revoked_at) == (False, False, revoked.grant.revoked_at)
    [given] = await grants.given(factory, grandma.id, TODAY)
    assert (given.grant.id, given.active) == (made.grant.id, False)
    with pytest.raises(PortalError) as refused:
        await grants.profile_as_proxy(factory, helper.id, grandma.id, TODAY)
    assert refused.value.code == "NOT_AUTHORIZED_FOR_PERSON"


async def test_an_unknown_email_grants_nothing(engine: AsyncEngine, cipher: IndividualNumberCipher) -> None:
    factory = create_session_factory(engine)
    async with factory() as session, session.begin():
        await make_municipality(session)
        grandma = await make_person(session, cipher, number=individual_number("20000000001"), email="haru@example.jp")
    with pytest.raises(PortalError) as refused:
        await grants.grant(factory, grandma.id, proxy_email="nobody@example.jp", scopes=[NOTICES_READ],
                           valid_until=date(2026, 12, 31), today=TODAY)
    assert (refused.value.code, refused.value.message) == ("NOT_FOUND", "No such person.")
    assert await grants.given(factory, grandma.id, TODAY) == []
