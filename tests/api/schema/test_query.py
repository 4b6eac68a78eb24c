from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from api.demo import PEOPLE
from api.identity.models import SessionToken
from api.identity.tokens import issue_token
from api.people.individual_number import IndividualNumberCipher
from api.people.key_rotation import BatchProgress, reencrypt
from api.people.models import Person
from api.platform.access_records import AccessRecord
from api.platform.auth import hash_token
from api.platform.db import create_session_factory
from tests.api.conftest import Portal, operation, running_portal
from tests.conftest import TEST_DATA_KEY, TEST_LOOKUP_KEY, make_settings


def global_id(type_name: str, ident: object) -> str:
    return base64.b64encode(f"{type_name}:{ident}".encode()).decode()


async def test_viewer_sees_their_basic_four_facts(portal: Portal) -> None:
    result = await portal.query(operation("Viewer"), token=portal.father_token)
    assert result == {"data": {"viewer": {
        "id": global_id("Person", portal.father),
        "name": "山田 太郎",
        "nameKana": "ヤマダ タロウ",
        "birthDate": "1985-04-01",
        "sex": "MALE",
        "address": "東京都千代田区霞が関二丁目1番2号",
        "email": "taro@example.jp",
        "phone": "090-0000-0001",
        "maskedIndividualNumber": "********" + PEOPLE[0].individual_number[-4:],
        "municipality": {"code": "131016", "prefecture": "東京都", "name": "千代田区"},
    }}}


async def test_viewer_without_a_token_is_unauthenticated(portal: Portal) -> None:
    result = await portal.query(operation("Viewer"))
    assert result["data"] is None
    assert [(e["message"], e["extensions"]["code"], e["path"]) for e in result["errors"]] == [
        ("Sign in to see this.", "UNAUTHENTICATED", ["viewer"])]


async def test_viewer_with_an_expired_token_is_unauthenticated(portal: Portal, engine: AsyncEngine) -> None:
    async with create_session_factory(engine)() as session, session.begin():
        await session.execute(update(SessionToken).where(SessionToken.token_hash == hash_token(portal.father_token))
                              .values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    result = await portal.query(operation("Viewer"), token=portal.father_token)
    assert result["data"] is None
    assert [(e["message"], e["extensions"]["code"]) for e in result["errors"]] == [
        ("The access token has expired.", "UNAUTHENTICATED")]


async def test_viewer_with_an_unknown_token_is_unauthenticated(portal: Portal) -> None:
    result = await portal.query(operation("Viewer"), token="mpt_" + "A" * 43)
    assert [(e["message"], e["extensions"]["code"]) for e in result["errors"]] == [
        ("The access token is not valid.", "UNAUTHENTICATED")]


async def test_children_are_listed_and_each_read_recorded(portal: Portal, session: AsyncSession) -> None:
    result = await portal.query(operation("ViewerChildren"), {"first": 10}, token=portal.father_token)
    connection = result["data"]["viewer"]["children"]
    assert [edge["node"] for edge in connection["edges"]] == [{
        "id": global_id("Person", portal.child), "name": "山田 一郎", "nameKana": "ヤマダ イチロウ",
        "birthDate": "2019-06-10", "sex": "MALE"}]
    assert connection["pageInfo"] == {"hasNextPage": False, "endCursor": connection["edges"][0]["cursor"]}
    records = (await session.scalars(select(AccessRecord))).all()
    assert [(r.actor_person_id, r.subject_person_id, r.purpose) for r in records] == [
        (portal.father, portal.child, "family:children")]


async def test_a_parent_reads_a_child_by_node_id(portal: Portal, session: AsyncSession) -> None:
    result = await portal.query(operation("PersonNode"), {"id": global_id("Person", portal.child)},
                                token=portal.father_token)
    assert result["data"]["node"]["name"] == "山田 一郎"
    assert result["data"]["node"]["maskedIndividualNumber"] == "********" + PEOPLE[2].individual_number[-4:]
    records = (await session.scalars(select(AccessRecord))).all()
    assert [(r.actor_person_id, r.subject_person_id, r.purpose) for r in records] == [
        (portal.father, portal.child, "node")]


async def test_another_adult_is_not_found_and_nothing_is_recorded(portal: Portal, session: AsyncSession) -> None:
    result = await portal.query(operation("PersonNode"), {"id": global_id("Person", portal.mother)},
                                token=portal.father_token)
    assert result["data"] == {"node": None}
    assert [(e["message"], e["extensions"]["code"]) for e in result["errors"]] == [
        ("Nothing has this id.", "NOT_FOUND")]
    assert (await session.scalars(select(AccessRecord))).all() == []


async def test_a_malformed_global_id_is_bad_input(portal: Portal) -> None:
    result = await portal.query(operation("PersonNode"), {"id": "not base64!"}, token=portal.father_token)
    assert [e["extensions"]["code"] for e in result["errors"]] == ["BAD_USER_INPUT"]


async def test_agencies_page_through_with_cursors(portal: Portal) -> None:
    first = (await portal.query(operation("Agencies"), {"first": 2}))["data"]["agencies"]
    assert [e["node"]["slug"] for e in first["edges"]] == ["chiyoda-city", "digital-agency"]
    assert first["pageInfo"]["hasNextPage"] is True
    rest = (await portal.query(operation("Agencies"), {"first": 10, "after": first["pageInfo"]["endCursor"]}))
    slugs = [e["node"]["slug"] for e in rest["data"]["agencies"]["edges"]]
    assert slugs == ["japan-pension-service", "kojimachi-tax-office", "kyokai-kenpo", "yokohama-city"]
    assert rest["data"]["agencies"]["pageInfo"]["hasNextPage"] is False


async def test_page_size_and_cursor_are_validated(portal: Portal) -> None:
    too_many = await portal.query(operation("Agencies"), {"first": 101})
    assert [(e["message"], e["extensions"]["code"]) for e in too_many["errors"]] == [
        ("first must be between 1 and 100", "BAD_USER_INPUT")]
    bad_cursor = await portal.query(operation("Agencies"), {"after": "!!"})
    assert [(e["message"], e["extensions"]["code"]) for e in bad_cursor["errors"]] == [
        ("the cursor is not valid", "BAD_USER_INPUT")]


async def test_children_of_someone_else_are_forbidden(portal: Portal, engine: AsyncEngine) -> None:
    async with create_session_factory(engine)() as session, session.begin():
        child_token = await issue_token(session, portal.child, ttl=timedelta(minutes=5))
    query = "query($id: ID!) { node(id: $id) { ... on Person { children { edges { cursor } } } } }"
    # The child may read themself, but not list someone else's children through their own node.
    own = await portal.query(query, {"id": global_id("Person", portal.child)}, token=child_token)
    assert own == {"data": {"node": {"children": {"edges": []}}}}
    parent = await portal.query(query, {"id": global_id("Person", portal.father)}, token=child_token)
    assert [e["extensions"]["code"] for e in parent["errors"]] == ["NOT_FOUND"]


async def test_an_agency_key_cannot_act_as_a_person(portal: Portal, engine: AsyncEngine) -> None:
    from api.agencies.credentials import agency_by_slug, issue_agency_key

    async with create_session_factory(engine)() as session, session.begin():
        agency = await agency_by_slug(session, "chiyoda-city")
        key = await issue_agency_key(session, agency.id, label="test")
    result = await portal.query(operation("Viewer"), token=key)
    assert [(e["message"], e["extensions"]["code"]) for e in result["errors"]] == [
        ("An agency key cannot act as a person.", "FORBIDDEN")]


async def test_the_masked_number_reads_rows_of_every_key_generation_during_a_rotation(
    engine: AsyncEngine, cipher: IndividualNumberCipher, database_url: str
) -> None:
    # The demo family was written under generation 1; the app is configured with generation 2 first.
    settings = make_settings(database_url, data_keys=((2, bytes([5]) * 32), (1, TEST_DATA_KEY)),
                             lookup_keys=((2, bytes([6]) * 32), (1, TEST_LOOKUP_KEY)))
    query = "{ viewer { maskedIndividualNumber children { edges { node { maskedIndividualNumber } } } } }"
    expected = {"data": {"viewer": {"maskedIndividualNumber": "********" + PEOPLE[0].individual_number[-4:],
                                    "children": {"edges": [{"node": {
                                        "maskedIndividualNumber": "********" + PEOPLE[2].individual_number[-4:]}}]}}}}
    async with running_portal(engine, cipher, settings) as portal:
        factory = create_session_factory(engine)

        def stop(_: BatchProgress) -> None:
            raise KeyboardInterrupt

        answers = [await portal.query(query, token=portal.father_token)]
        with pytest.raises(KeyboardInterrupt):  # one row moved, two not yet
            await reencrypt(factory, portal.app.state.cipher, batch=1, on_batch=stop)
        answers.append(await portal.query(query, token=portal.father_token))
        assert await reencrypt(factory, portal.app.state.cipher) == 2
        answers.append(await portal.query(query, token=portal.father_token))
    assert answers == [expected] * 3
    async with factory() as session:
        assert set(await session.scalars(select(Person.number_key_generation))) == {2}
