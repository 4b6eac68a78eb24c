from __future__ import annotations

import secrets
import uuid
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, select
from sqlalchemy.ext.asyncio import AsyncEngine

import api.models  # noqa: F401
from api.identity.login_models import DeviceAuthorization, RefreshToken
from api.identity.models import SessionToken
from api.migrate import MIGRATIONS, alembic_config, downgrade_on, upgrade_on
from api.models import comparison_options
from api.people.individual_number import IndividualNumberCipher
from api.platform.db import Base, create_session_factory, utcnow
from tests.factories import individual_number, make_municipality, make_person


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names()) - {"alembic_version"}


def _diff(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts=comparison_options(connection.dialect.name))
    return compare_metadata(context, Base.metadata)


async def test_downgrade_to_empty_and_upgrade_again(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        assert await connection.run_sync(_tables) >= set(Base.metadata.tables)
        await connection.run_sync(downgrade_on, "base")
        assert await connection.run_sync(_tables) == set()
        await connection.run_sync(upgrade_on, "head")
        assert await connection.run_sync(_tables) >= set(Base.metadata.tables)


async def test_models_match_migrations(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        assert await connection.run_sync(_diff) == []


def test_head_file_names_the_single_head() -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert script.get_heads() == [(MIGRATIONS / ".current-alembic-head").read_text().strip()]


def test_migration_files_are_numbered() -> None:
    names = sorted(p.name for p in Path(MIGRATIONS, "versions").glob("*.py"))
    assert names and all(name[:4].isdigit() and name[4] == "_" for name in names)



async def test_tv_sessions_made_before_0013_can_show_the_name(engine: AsyncEngine,
                                                              cipher: IndividualNumberCipher) -> None:
    # Before 0013 a TV's session, refresh token and sign-in carried notices:read alone; a phone's far more.
    async with engine.connect() as connection:
        await connection.run_sync(downgrade_on, "0012")
        await connection.commit()
    factory = create_session_factory(engine)
    now = utcnow()
    async with factory() as session, session.begin():
        await make_municipality(session)
        person = (await make_person(session, cipher, number=individual_number("30000000001"))).id
    async with engine.begin() as connection:  # only the columns 0012 has
        for scopes in ("notices:read", "notices:read notices:write profile:read"):
            common = {"id": uuid.uuid4(), "scopes": scopes, "created_at": now, "expires_at": now}
            await connection.execute(SessionToken.__table__.insert().values(
                token_hash=secrets.token_bytes(32), person_id=person, client="tv", **common))
            await connection.execute(RefreshToken.__table__.insert().values(
                token_hash=secrets.token_bytes(32), family_id=uuid.uuid4(), person_id=person, client="tv", **common))
            await connection.execute(DeviceAuthorization.__table__.insert().values(
                device_code_hash=secrets.token_bytes(32), user_code=secrets.token_hex(4)[:9], client_id="tv",
                status="pending", interval_seconds=5, **common))
    async with engine.connect() as connection:
        await connection.run_sync(upgrade_on, "head")
        await connection.commit()
    async with factory() as session:
        for model in (SessionToken, RefreshToken, DeviceAuthorization):
            assert sorted(await session.scalars(select(model.scopes))) == [
                "notices:read notices:write profile:read", "notices:read profile:name"], model


async def test_0025_answers_hihyoji_0_for_states_stored_empty_and_indexes_their_pairs(engine: AsyncEngine) -> None:
    from corporate.models import Corporation
    from corporate.name_search import NameSearch
    from corporate.service import lookup, search_names

    async with engine.connect() as connection:
        await connection.run_sync(downgrade_on, "0017")
        await connection.commit()
    async with engine.begin() as connection:  # a state from a 23-column file, as the import stored it before
        await connection.execute(Corporation.__table__.insert().values(
            corporate_number="1000012160145", sequence_number=1, process="01", correct="0",
            update_date=utcnow().date(), name="株式会社サービス青森", kind="301", latest=True, hihyoji=None,
            record_hash=secrets.token_bytes(16), search_name="サビス青森", search_kana="", search_en="",
            search_text="サビス青森\x1f\x1f", imported_at=utcnow()))
    async with engine.connect() as connection:
        await connection.run_sync(upgrade_on, "head")
        await connection.commit()
    async with create_session_factory(engine)() as session:
        [state] = await lookup(session, ["1000012160145"])
        assert state["hihyoji"] == "0"
        for term in ("サービ", "青森"):  # two-character keys, found through the pair index the migration filled
            count, found = await search_names(session, NameSearch(text=term, mode="partial"))
            assert (count, [state.corporate_number for _, state in found]) == (1, ["1000012160145"]), term


async def test_0034_drops_the_unused_rate_limit_counters_adds_the_outcome_statistics_and_staff_sessions(
        engine: AsyncEngine) -> None:
    def statistics(connection: Connection) -> list[str]:
        if connection.dialect.name != "postgresql":
            return []
        return list(connection.exec_driver_sql("SELECT stxname FROM pg_statistic_ext ORDER BY stxname").scalars())

    on_postgresql = engine.dialect.name == "postgresql"
    async with engine.begin() as connection:
        assert ("rate_limit_counters" in await connection.run_sync(_tables),
                await connection.run_sync(statistics)) == (False, ["notice_deliveries_outcomes"] * on_postgresql)
        await connection.run_sync(downgrade_on, "0028")
        tables = await connection.run_sync(_tables)
        assert ("rate_limit_counters" in tables, "staff_web_sessions" in tables,
                await connection.run_sync(statistics)) == (True, False, [])
        await connection.run_sync(upgrade_on, "head")
        tables = await connection.run_sync(_tables)
        assert ("rate_limit_counters" in tables, "staff_web_sessions" in tables) == (False, True)
    assert "rate_limit_counters" not in Base.metadata.tables  # no model maps it any more


async def test_0036_adds_the_person_web_sessions_and_its_downgrade_drops_them(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        assert "person_web_sessions" in await connection.run_sync(_tables)
        await connection.run_sync(downgrade_on, "0035")
        assert "person_web_sessions" not in await connection.run_sync(_tables)
        await connection.run_sync(upgrade_on, "head")
        assert "person_web_sessions" in await connection.run_sync(_tables)


async def test_0037_keeps_the_trigram_postings_by_statement_and_its_downgrade_by_row(engine: AsyncEngine) -> None:
    def triggers(connection: Connection) -> list[str]:
        if connection.dialect.name != "postgresql":
            return []
        return list(connection.exec_driver_sql(
            "SELECT tgname || ' ' || CASE WHEN tgtype & 1 = 1 THEN 'row' ELSE 'statement' END FROM pg_trigger "
            "WHERE tgrelid = 'corporations'::regclass AND NOT tgisinternal ORDER BY tgname").scalars())

    by_statement = ["corporations_trigrams_delete statement", "corporations_trigrams_empty statement",
                    "corporations_trigrams_insert statement", "corporations_trigrams_update statement"]
    on_postgresql = engine.dialect.name == "postgresql"
    async with engine.begin() as connection:
        assert await connection.run_sync(triggers) == by_statement * on_postgresql
        await connection.run_sync(downgrade_on, "0036")
        assert await connection.run_sync(triggers) == ["corporations_trigrams_empty statement",
                                                       "corporations_trigrams_follow row"] * on_postgresql
        await connection.run_sync(upgrade_on, "head")
        assert await connection.run_sync(triggers) == by_statement * on_postgresql
