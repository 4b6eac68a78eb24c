"""acting_for: self, parent of a minor, an active grant with the scope; refusals write nothing."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from api.people.individual_number import IndividualNumberCipher
from api.people.service import link_parent
from api.platform.access_records import access_records_for
from api.platform.errors import PortalError
from api.platform.scopes import NOTICES_READ, PAYMENTS_WRITE, PROFILE_READ
from api.proxies.service import (
    Basis,
    acting_for,
    committed_grant_revocations,
    ended_grants,
    grant_proxy,
    revoke_grant,
)
from tests.factories import individual_number, make_municipality, make_person

TODAY = date(2026, 11, 27)


async def _people(session: AsyncSession, cipher: IndividualNumberCipher) -> tuple:
    await make_municipality(session)
    grandma = await make_person(session, cipher, number=individual_number("20000000001"), name="佐藤 ハル",
                                birth_date=date(1940, 1, 1), email="haru@example.jp")
    helper = await make_person(session, cipher, number=individual_number("20000000002"), name="佐藤 健",
                               email="ken@example.jp")
    child = await make_person(session, cipher, number=individual_number("20000000003"), name="佐藤 翼",
                              birth_date=date(2015, 5, 5))
    await link_parent(session, helper.id, child.id)
    return grandma, helper, child


async def test_self_needs_no_record(session: AsyncSession, cipher: IndividualNumberCipher) -> None:
    grandma, _, _ = await _people(session, cipher)
    acting = await acting_for(session, grandma.id, grandma.id, PAYMENTS_WRITE, today=TODAY)
    assert acting is not None and acting.basis is Basis.SELF
    assert await access_records_for(session, grandma.id) == []


async def test_parent_acts_for_a_minor_child_and_it_is_recorded(session: AsyncSession,
                                                               cipher: IndividualNumberCipher) -> None:
    _, helper, child = await _people(session, cipher)
    acting = await acting_for(session, helper.id, child.id, NOTICES_READ, today=TODAY)
    assert (acting.basis, acting.grant_id) == (Basis.PARENT, None)
    [record] = await access_records_for(session, child.id)
    assert (record.actor_person_id, record.subject_person_id, record.purpose) == (helper.id, child.id,
                                                                                  "parent:notices:read")
    # The same child as an adult (18 in 2033) is no longer under the parent's authority.
    assert await acting_for(session, helper.id, child.id, NOTICES_READ, today=date(2033, 5, 5)) is None


async def test_a_grant_allows_its_scopes_until_its_date_and_until_revoked(
    session: AsyncSession, cipher: IndividualNumberCipher
) -> None:
    grandma, helper, _ = await _people(session, cipher)
    grant = await grant_proxy(session, principal_id=grandma.id, proxy_id=helper.id, scopes=[NOTICES_READ],
                              valid_until=date(2026, 12, 31), today=TODAY)
    acting = await acting_for(session, helper.id, grandma.id, NOTICES_READ, today=TODAY, purpose="read notices")
    assert (acting.basis, acting.grant_id) == (Basis.GRANT, grant.id)
    assert await acting_for(session, helper.id, grandma.id, PAYMENTS_WRITE, today=TODAY) is None
    assert await acting_for(session, helper.id, grandma.id, NOTICES_READ, today=date(2027, 1, 1)) is None
    assert await acting_for(session, grandma.id, helper.id, NOTICES_READ, today=TODAY) is None  # not symmetric
    revoked = await revoke_grant(session, principal_id=grandma.id, grant_id=grant.id)
    assert revoked.revoked_at is not None
    assert await acting_for(session, helper.id, grandma.id, NOTICES_READ, today=TODAY) is None
    assert [r.purpose for r in await access_records_for(session, grandma.id)] == ["read notices"]


@pytest.mark.parametrize(
    ("_case", "scopes", "valid_until", "code"),
    [
        ("no scope", [], date(2026, 12, 31), "PROXY_SCOPE_INVALID"),
        ("family is not delegable", ["family:read"], date(2026, 12, 31), "PROXY_SCOPE_INVALID"),
        ("in the past", [PROFILE_READ], date(2026, 11, 26), "PROXY_VALIDITY_INVALID"),
        ("too long", [PROFILE_READ], date(2030, 11, 27), "PROXY_VALIDITY_INVALID"),
    ],
)
async def test_bad_grants_are_refused(session: AsyncSession, cipher: IndividualNumberCipher, _case: str,
                                      scopes: list[str], valid_until: date, code: str) -> None:
    grandma, helper, _ = await _people(session, cipher)
    with pytest.raises(PortalError) as refused:
        await grant_proxy(session, principal_id=grandma.id, proxy_id=helper.id, scopes=scopes,
                          valid_until=valid_until, today=TODAY)
    assert refused.value.code == code


async def test_ended_grants_names_revoked_expired_and_unknown_grants_and_revocations_are_counted(
    engine: AsyncEngine, session: AsyncSession, cipher: IndividualNumberCipher
) -> None:
    grandma, helper, child = await _people(session, cipher)
    live = await grant_proxy(session, principal_id=grandma.id, proxy_id=helper.id, scopes=[NOTICES_READ],
                             valid_until=date(2026, 12, 31), today=TODAY)
    short = await grant_proxy(session, principal_id=grandma.id, proxy_id=child.id, scopes=[NOTICES_READ],
                              valid_until=TODAY, today=TODAY)
    revoked = await grant_proxy(session, principal_id=helper.id, proxy_id=grandma.id, scopes=[NOTICES_READ],
                                valid_until=date(2026, 12, 31), today=TODAY)
    await session.commit()
    before = committed_grant_revocations()
    await revoke_grant(session, principal_id=helper.id, grant_id=revoked.id)
    assert committed_grant_revocations() == before  # counted when it commits, not before
    await session.commit()
    assert committed_grant_revocations() == before + 1
    unknown = uuid.uuid4()
    ids = [live.id, short.id, revoked.id, unknown]
    assert await ended_grants(engine, ids, today=TODAY) == {revoked.id: "revoked"}
    assert await ended_grants(engine, ids, today=TODAY + timedelta(days=1)) == {
        short.id: "expired", revoked.id: "revoked"}
