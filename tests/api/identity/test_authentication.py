from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, inspect
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from api.db import reader_for
from api.identity.authentication import authenticate_person, authenticate_person_with
from api.identity.tokens import TokenRejected, issue_token, revoke_token
from api.people.individual_number import IndividualNumberCipher
from api.people.models import Municipality
from tests.api.conftest import Portal, operation
from tests.factories import individual_number, make_municipality, make_person

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


async def test_token_person_and_municipality_in_one_lookup(
    session: AsyncSession, cipher: IndividualNumberCipher
) -> None:
    municipality = await make_municipality(session)
    person = await make_person(session, cipher, number=individual_number("10000000001"))
    token = await issue_token(session, person.id, ttl=timedelta(minutes=15), now=NOW)
    found = await authenticate_person(session, token, now=NOW + timedelta(minutes=14))
    assert (found.principal.person_id, found.person.id, found.municipality.code) == (person.id, person.id,
                                                                                     municipality.code)
    with pytest.raises(TokenRejected) as expired:
        await authenticate_person(session, token, now=NOW + timedelta(minutes=15))
    assert expired.value.reason == "expired"
    await revoke_token(session, token)
    with pytest.raises(TokenRejected) as revoked:
        await authenticate_person(session, token, now=NOW)
    assert revoked.value.reason == "invalid"


async def test_the_readers_lookup_returns_what_the_orm_loads(
    engine: AsyncEngine, session: AsyncSession, cipher: IndividualNumberCipher
) -> None:
    await make_municipality(session)
    person = await make_person(session, cipher, number=individual_number("10000000001"))
    token = await issue_token(session, person.id, ttl=timedelta(minutes=15))
    await session.commit()
    found = await authenticate_person_with(reader_for(engine), token)
    for loaded, stored in ((found.person, person), (found.municipality, await session.get(Municipality,
                                                                                          person.municipality_code))):
        columns = [attribute.key for attribute in inspect(type(stored)).column_attrs]
        # The records hold every column, by the same names, and nothing else.
        assert [field.name for field in fields(loaded)] == columns
        assert {key: getattr(loaded, key) for key in columns} == {key: getattr(stored, key) for key in columns}
    assert found.principal.person_id == person.id
    with pytest.raises(TokenRejected) as unknown:
        await authenticate_person_with(reader_for(engine), token[:-2] + "xx")
    assert unknown.value.reason == "invalid"


async def test_a_viewer_query_costs_one_select(portal: Portal) -> None:
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    # Sessions run on the engine; hot reads through the Reader (on PostgreSQL straight on psycopg).
    engine = portal.app.state.engine.sync_engine
    reader = reader_for(portal.app.state.engine)
    event.listen(engine, "before_cursor_execute", count)
    reader.statement_listeners.append(lambda statement: count(None, None, statement))
    try:
        result = await portal.query(operation("Viewer"), token=portal.father_token)
    finally:
        event.remove(engine, "before_cursor_execute", count)
        reader.statement_listeners.clear()
    assert result["data"]["viewer"]["municipality"]["name"] == "千代田区"
    assert len(statements) == 1
