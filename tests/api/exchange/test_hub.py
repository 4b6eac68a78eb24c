"""The hub: code mapping, the legal check, answers from copies, and one record per exchange (refusals too)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from api.exchange.copies import CopyEntry, register_copies
from api.exchange.hub import ExchangeRefused, ExchangeRequest, Hub
from api.exchange.legal_table import legal_table
from api.exchange.models import ExchangeRecord
from api.exchange.record import exchange_record_leaf
from api.platform.db import utcnow
from api.records.models import LogLeaf
from tests.api.exchange.conftest import World

TAX_2025 = {"tax_year": 2025, "taxable_income": 4_200_000, "municipal_tax": 238_000, "dependants": 2}


async def _records(world: World) -> list[ExchangeRecord]:
    async with world.factory() as session:
        return list(await session.scalars(select(ExchangeRecord).order_by(ExchangeRecord.requested_at)))


async def _register_tax(world: World) -> None:
    await register_copies(world.factory, world.agencies["yokohama-city"], [
        CopyEntry(world.codes["yokohama-city"], "local_tax", TAX_2025)])


async def test_a_lawful_request_is_answered_from_the_providers_copy_and_recorded(world: World) -> None:
    await _register_tax(world)
    answer = await Hub(world.factory).request(world.agencies["chiyoda-city"], ExchangeRequest(
        person_code=world.codes["chiyoda-city"], duty="child_allowance", provider="yokohama-city",
        items=("local_tax",)))
    assert [(item.kind, item.key, item.value) for item in answer.items] == [("local_tax", "2025", TAX_2025)]
    assert answer.not_held == []
    assert answer.row.id == "beppyo2:74:1"
    [record] = await _records(world)
    assert (record.requester_agency_id, record.provider_agency_id, record.person_id) == (
        world.agencies["chiyoda-city"], world.agencies["yokohama-city"], world.person_id)
    assert (record.duty, record.item_names, record.legal_row_id, record.outcome, record.processing_type,
            record.refusal_code) == ("child_allowance", ["local_tax"], "beppyo2:74:1", "provided", "copy", None)
    assert record.legal_table_version == legal_table().version
    assert record.query_id == answer.record.query_id
    assert record.requested_at <= record.provided_at
    # Names only: no value of the copy is in the record or its leaf.
    leaf = exchange_record_leaf(record)
    assert b"4200000" not in leaf and b"238000" not in leaf and b"local_tax" in leaf
    # The leaf went to the transparency log in the record's transaction.
    async with world.factory() as session:
        [(leaf_id, leaf_data)] = (await session.execute(select(LogLeaf.id, LogLeaf.leaf_data))).all()
    assert (leaf_data, record.log_leaf_id) == (leaf, leaf_id)  # the record keeps its leaf: its proof is found by it


async def test_an_item_the_provider_holds_no_copy_of_is_listed_as_not_held(world: World) -> None:
    answer = await Hub(world.factory).request(world.agencies["chiyoda-city"], ExchangeRequest(
        person_code=world.codes["chiyoda-city"], duty="child_allowance", provider="yokohama-city",
        items=("local_tax",)))
    assert (answer.items, answer.not_held) == ([], ["local_tax"])
    [record] = await _records(world)
    assert record.outcome == "provided"


@pytest.mark.parametrize(("duty", "provider", "items"), [
    # 児童手当 allows 地方税関係情報 from a municipality (項 74) and 年金給付関係情報 (項 75), not insurance data.
    ("child_allowance", "kyokai-kenpo", ("medical_insurance_benefit",)),
    # 住民票関係情報 for 児童手当 is not in the 2015 table (a later change, unconfirmed here).
    ("child_allowance", "yokohama-city", ("resident_record",)),
    # One item allowed, one not: the whole request is refused.
    ("child_allowance", "yokohama-city", ("local_tax", "pension_benefit")),
    ("no_such_duty", "yokohama-city", ("local_tax",)),
])
async def test_a_request_outside_the_table_is_refused_and_recorded_without_an_answer(
        world: World, duty: str, provider: str, items: tuple[str, ...]) -> None:
    await _register_tax(world)
    with pytest.raises(ExchangeRefused) as refused:
        await Hub(world.factory).request(world.agencies["chiyoda-city"], ExchangeRequest(
            person_code=world.codes["chiyoda-city"], duty=duty, provider=provider, items=items))
    assert refused.value.code == "EXCHANGE_NOT_PERMITTED"
    [record] = await _records(world)
    assert (record.outcome, record.refusal_code, record.legal_row_id, record.provided_at, record.processing_type) == (
        "refused", "EXCHANGE_NOT_PERMITTED", None, None, "refused")
    assert record.person_id == world.person_id
    assert refused.value.extensions == {"queryId": str(record.query_id)}
    async with world.factory() as session:  # a refusal is logged too
        assert list(await session.scalars(select(LogLeaf.leaf_data))) == [exchange_record_leaf(record)]


async def test_the_requester_kind_counts_a_pension_service_may_not_ask_for_child_allowance(world: World) -> None:
    await _register_tax(world)
    with pytest.raises(ExchangeRefused) as refused:
        await Hub(world.factory).request(world.agencies["japan-pension-service"], ExchangeRequest(
            person_code=world.codes["japan-pension-service"], duty="child_allowance", provider="yokohama-city",
            items=("local_tax",)))
    assert refused.value.code == "EXCHANGE_NOT_PERMITTED"


async def test_another_agencys_code_names_nobody_and_is_refused_on_the_record(world: World) -> None:
    # Chiyoda presenting Yokohama's code: codes are per agency, so it matches no one at Chiyoda.
    with pytest.raises(ExchangeRefused) as refused:
        await Hub(world.factory).request(world.agencies["chiyoda-city"], ExchangeRequest(
            person_code=world.codes["yokohama-city"], duty="child_allowance", provider="yokohama-city",
            items=("local_tax",)))
    assert refused.value.code == "EXCHANGE_PERSON_UNKNOWN"
    [record] = await _records(world)
    assert (record.person_id, record.refusal_code) == (None, "EXCHANGE_PERSON_UNKNOWN")


async def test_an_unknown_provider_and_asking_oneself_are_refused_on_the_record(world: World) -> None:
    hub = Hub(world.factory)
    with pytest.raises(ExchangeRefused) as unknown:
        await hub.request(world.agencies["chiyoda-city"], ExchangeRequest(
            person_code=world.codes["chiyoda-city"], duty="child_allowance", provider="nowhere-city",
            items=("local_tax",)))
    with pytest.raises(ExchangeRefused) as itself:
        await hub.request(world.agencies["chiyoda-city"], ExchangeRequest(
            person_code=world.codes["chiyoda-city"], duty="child_allowance", provider="chiyoda-city",
            items=("local_tax",)))
    assert (unknown.value.code, itself.value.code) == ("EXCHANGE_PROVIDER_UNKNOWN", "EXCHANGE_NOT_PERMITTED")
    records = await _records(world)
    assert [(r.provider_agency_id, r.refusal_code) for r in records] == [
        (None, "EXCHANGE_PROVIDER_UNKNOWN"), (world.agencies["chiyoda-city"], "EXCHANGE_NOT_PERMITTED")]


async def test_a_withheld_entry_carries_its_date_and_reason(world: World) -> None:
    until = utcnow() + timedelta(days=90)
    await Hub(world.factory).request(world.agencies["chiyoda-city"], ExchangeRequest(
        person_code=world.codes["chiyoda-city"], duty="child_allowance", provider="yokohama-city",
        items=("local_tax",), hidden_until=until, hidden_reason="調査中のため (番号法第23条)"))
    [record] = await _records(world)
    assert (record.hidden_until, record.hidden_reason) == (until, "調査中のため (番号法第23条)")


@pytest.mark.parametrize("hidden", [
    {"hidden_until": None, "hidden_reason": "reason without date"},
    {"hidden_until": "past", "hidden_reason": "r"},
    {"hidden_until": "far", "hidden_reason": "r"},
])
async def test_a_malformed_withholding_is_refused_before_anything_is_recorded(world: World, hidden: dict) -> None:
    until = {"past": utcnow() - timedelta(days=1), "far": utcnow() + timedelta(days=9 * 366), None: None}[
        hidden["hidden_until"]]
    with pytest.raises(Exception) as refused:
        await Hub(world.factory).request(world.agencies["chiyoda-city"], ExchangeRequest(
            person_code=world.codes["chiyoda-city"], duty="child_allowance", provider="yokohama-city",
            items=("local_tax",), hidden_until=until, hidden_reason=hidden["hidden_reason"]))
    assert getattr(refused.value, "code", None) == "BAD_USER_INPUT"
    async with world.factory() as session:
        assert await session.scalar(select(func.count()).select_from(ExchangeRecord)) == 0


async def test_the_leaf_is_canonical_and_stable(world: World) -> None:
    answer = await Hub(world.factory).request(world.agencies["chiyoda-city"], ExchangeRequest(
        person_code=world.codes["chiyoda-city"], duty="child_allowance", provider="yokohama-city",
        items=("local_tax",)))
    [record] = await _records(world)
    # Read back from the database (another driver's datetime) it gives the very same bytes.
    assert exchange_record_leaf(record) == exchange_record_leaf(answer.record)
    leaf = exchange_record_leaf(record).decode()
    assert leaf.startswith('{"duty":"child_allowance","hiddenReason":null,"hiddenUntil":null,"id":"')
    assert " " not in leaf


async def test_a_row_narrower_than_its_kind_answers_only_what_it_names(world: World) -> None:
    # 項 116 (子ども・子育て支援法) lets a municipality ask the pension service for 障害基礎年金 only.
    await register_copies(world.factory, world.agencies["japan-pension-service"], [
        CopyEntry(world.codes["japan-pension-service"], "pension_benefit", {"kind": kind, "annual_amount": 800_000})
        for kind in ("老齢基礎年金", "障害基礎年金")])
    hub = Hub(world.factory)
    narrow = await hub.request(world.agencies["chiyoda-city"], ExchangeRequest(
        person_code=world.codes["chiyoda-city"], duty="child_care_benefit", provider="japan-pension-service",
        items=("pension_benefit",)))
    wide = await hub.request(world.agencies["chiyoda-city"], ExchangeRequest(
        person_code=world.codes["chiyoda-city"], duty="child_allowance", provider="japan-pension-service",
        items=("pension_benefit",)))
    assert [item.key for item in narrow.items] == ["障害基礎年金"]
    assert sorted(item.key for item in wide.items) == sorted(["老齢基礎年金", "障害基礎年金"])
