"""The grant units of work: each opens its own transaction and answers with both people's names."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from api.people.individual_number import IndividualNumberCipher
from api.platform.db import create_session_factory
from api.platform.errors import PortalError
from api.platform.scopes import NOTICES_READ, PROFILE_READ
from api.proxies import grants
from tests.factories import individual_number, make_municipality, make_person

TODAY = date(2026, 11, 27)


async def test_grant_accept_list_and_revoke(engine: AsyncEngine, cipher: IndividualNumberCipher) -> None:
    factory = create_session_factory(engine)
    async with factory() as session, session.begin():
        await make_municipality(session)
        grandma = await make_person(session, cipher, number=individual_number("20000000001"), name="佐藤 ハル",
                                    birth_date=date(1940, 1, 1), email="haru@example.jp")
        helper = await make_person(session, cipher, number=individual_number("20000000002"), name="佐藤 健",
                                   email="Ken@Example.jp")
    made = await grants.grant(factory, grandma.id, proxy_email=" ken@example.JP ", scopes=[NOTICES_READ, PROFILE_READ],
                              valid_until=date(2026, 12, 31), today=TODAY)
    assert (made.principal_name, made.proxy_name, made.active, made.pending) == ("佐藤 ハル", None, False, True)
    assert made.grant.proxy_email == "ken@example.jp"
    # Pending: it does not act yet, and the invited person sees it among the grants they received.
    with pytest.raises(PortalError) as refused:
        await grants.profile_as_proxy(factory, helper.id, grandma.id, TODAY)
    assert refused.value.code == "NOT_AUTHORIZED_FOR_PERSON"
    assert [(v.grant.id, v.pending) for v in await grants.received(factory, helper.id, TODAY)] == \
        [(made.grant.id, True)]
    # Only the holder of the address accepts.
    with pytest.raises(PortalError) as refused:
        await grants.accept(factory, grandma.id, made.grant.id, TODAY)
    assert refused.value.code == "NOT_FOUND"
    accepted = await grants.accept(factory, helper.id, made.grant.id, TODAY)
    assert (accepted.proxy_name, accepted.active, accepted.pending) == ("佐藤 健", True, False)
    assert (await grants.accept(factory, helper.id, made.grant.id, TODAY)).active  # idempotent
    assert (await grants.profile_as_proxy(factory, helper.id, grandma.id, TODAY)).name == "佐藤 ハル"

    revoked = await grants.revoke(factory, grandma.id, made.grant.id, TODAY)
    again = await grants.revoke(factory, grandma.id, made.grant.id, TODAY)
    assert (revoked.active, again.active, again.grant.revoked_at) == (False, False, revoked.grant.revoked_at)
    [given] = await grants.given(factory, grandma.id, TODAY)
    assert (given.grant.id, given.active) == (made.grant.id, False)
    with pytest.raises(PortalError) as refused:
        await grants.profile_as_proxy(factory, helper.id, grandma.id, TODAY)
    assert refused.value.code == "NOT_AUTHORIZED_FOR_PERSON"


def _seen_by_granter(view: grants.GrantView) -> tuple:
    """Everything of the answer but the row's own id and time and the address typed."""
    g = view.grant
    return (view.principal_name, view.proxy_name, view.active, view.pending, g.scopes, g.valid_until, g.revoked_at,
            g.principal_person_id, g.proxy_person_id)


async def test_a_registered_and_an_unknown_address_get_the_same_answer(engine: AsyncEngine,
                                                                       cipher: IndividualNumberCipher) -> None:
    factory = create_session_factory(engine)
    async with factory() as session, session.begin():
        await make_municipality(session)
        grandma = await make_person(session, cipher, number=individual_number("20000000001"), email="haru@example.jp")
        await make_person(session, cipher, number=individual_number("20000000002"), email="ken@example.jp")
    known = await grants.grant(factory, grandma.id, proxy_email="ken@example.jp", scopes=[NOTICES_READ],
                               valid_until=date(2026, 12, 31), today=TODAY)
    unknown = await grants.grant(factory, grandma.id, proxy_email="nobody@example.jp", scopes=[NOTICES_READ],
                                 valid_until=date(2026, 12, 31), today=TODAY)
    assert _seen_by_granter(known) == _seen_by_granter(unknown)
    assert [_seen_by_granter(v) for v in await grants.given(factory, grandma.id, TODAY)] == \
        [_seen_by_granter(known)] * 2
    # Whoever registers that address later finds the invitation and may accept it.
    async with factory() as session, session.begin():
        late = await make_person(session, cipher, number=individual_number("20000000003"), email="nobody@example.jp")
    assert (await grants.accept(factory, late.id, unknown.grant.id, TODAY)).active


async def test_an_invitation_is_refused_only_for_reasons_the_granter_knows(engine: AsyncEngine,
                                                                          cipher: IndividualNumberCipher) -> None:
    factory = create_session_factory(engine)
    async with factory() as session, session.begin():
        await make_municipality(session)
        grandma = await make_person(session, cipher, number=individual_number("20000000001"), email="haru@example.jp")
    for email, scopes, code in (("HARU@example.jp", [NOTICES_READ], "PROXY_SELF"),
                                ("not-an-address", [NOTICES_READ], "BAD_USER_INPUT"),
                                ("ken@example.jp", ["family:read"], "PROXY_SCOPE_INVALID")):
        with pytest.raises(PortalError) as refused:
            await grants.grant(factory, grandma.id, proxy_email=email, scopes=scopes,
                               valid_until=date(2026, 12, 31), today=TODAY)
        assert refused.value.code == code, email
    assert await grants.given(factory, grandma.id, TODAY) == []
