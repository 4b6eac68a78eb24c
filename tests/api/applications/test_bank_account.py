"""公金受取口座: register, change, withdraw; the holder's kana must be the person's name; the 児童手当 decision
names it (masked); agencies read it only through the network, for a benefit duty, each read on the person's record."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from api.agencies.credentials import agency_by_slug
from api.agencies.models import AgencyPersonCode
from api.applications.bank_account import NewAccount, account_of, fold_kana, register_account, withdraw_account
from api.applications.notify import masked_account
from api.exchange.hub import ExchangeRequest, ProvidedItem
from api.exchange.models import ExchangeRecord
from api.platform.errors import PortalError
from tests.api.applications.conftest import OneStop


def test_kana_folding() -> None:
    assert fold_kana("ﾔﾏﾀﾞ ﾀﾛｳ") == fold_kana("やまだ　たろう") == fold_kana("ヤマダ タロウ") == "ヤマダタロウ"
    assert fold_kana("ｻｯﾄｳ") == "サツトウ"  # bank records write small kana large


async def test_register_change_and_withdraw(one_stop: OneStop) -> None:
    account = await register_account(one_stop.factory, one_stop.father,
                                     NewAccount("0001", "001", "ordinary", "1234567", "ﾔﾏﾀﾞ ﾀﾛｳ"))
    assert (account.bank_code, account.account_number, account.holder_kana) == ("0001", "1234567", "ヤマダ タロウ")
    assert masked_account(account) == "金融機関コード0001 支店001 口座番号****567"
    changed = await register_account(one_stop.factory, one_stop.father,
                                     NewAccount("0005", "123", "savings", "42", "やまだ たろう"))
    assert (changed.bank_code, changed.account_kind, changed.account_number) == ("0005", "savings", "0000042")
    assert changed.registered_at == account.registered_at and changed.updated_at > account.updated_at
    await withdraw_account(one_stop.factory, one_stop.father)
    assert await account_of(one_stop.factory, one_stop.father) is None
    with pytest.raises(PortalError) as caught:
        await withdraw_account(one_stop.factory, one_stop.father)
    assert caught.value.code == "BANK_ACCOUNT_NOT_REGISTERED"


@pytest.mark.parametrize(("account", "code", "field"), [
    (NewAccount("0001", "001", "ordinary", "1234567", "ヤマダ ハナコ"), "BANK_ACCOUNT_HOLDER_MISMATCH", "holderKana"),
    (NewAccount("0001", "001", "ordinary", "1234567", "山田太郎"), "BANK_ACCOUNT_INVALID", "holderKana"),
    (NewAccount("01", "001", "ordinary", "1234567", "ヤマダ タロウ"), "BANK_ACCOUNT_INVALID", "bankCode"),
    (NewAccount("0001", "0a1", "ordinary", "1234567", "ヤマダ タロウ"), "BANK_ACCOUNT_INVALID", "branchCode"),
    (NewAccount("0001", "001", "cheque", "1234567", "ヤマダ タロウ"), "BANK_ACCOUNT_INVALID", "kind"),
    (NewAccount("0001", "001", "ordinary", "12345678", "ヤマダ タロウ"), "BANK_ACCOUNT_INVALID", "number"),
])
async def test_refused_accounts(one_stop: OneStop, account: NewAccount, code: str, field: str) -> None:
    with pytest.raises(PortalError) as caught:
        await register_account(one_stop.factory, one_stop.father, account)
    assert (caught.value.code, caught.value.extensions) == (code, {"field": field})
    assert await account_of(one_stop.factory, one_stop.father) is None


async def _asker(one_stop: OneStop, slug: str) -> tuple[uuid.UUID, str]:
    """The agency's id and its own code for the father."""
    async with one_stop.factory() as session:
        agency = await agency_by_slug(session, slug)
        assert agency is not None
        code = await session.scalar(select(AgencyPersonCode.code).where(
            AgencyPersonCode.agency_id == agency.id, AgencyPersonCode.person_id == one_stop.father))
        assert code is not None
        return agency.id, code


async def test_a_municipality_reads_the_account_through_the_network_for_a_benefit_duty(one_stop: OneStop) -> None:
    chiyoda, code = await _asker(one_stop, "chiyoda-city")

    def ask(duty: str = "child_allowance", provider: str = "digital-agency") -> ExchangeRequest:
        return ExchangeRequest(person_code=code, duty=duty, provider=provider, items=("public_benefit_account",))

    nothing = await one_stop.hub.request(chiyoda, ask())
    assert (nothing.items, nothing.not_held, nothing.row.id) == ([], ["public_benefit_account"], "koukin:10:1")
    await register_account(one_stop.factory, one_stop.father,
                           NewAccount("0001", "001", "ordinary", "1234567", "ﾔﾏﾀﾞ ﾀﾛｳ"))
    answer = await one_stop.hub.request(chiyoda, ask())
    assert answer.items == [ProvidedItem("public_benefit_account", "", {
        "bank_code": "0001", "branch_code": "001", "kind": "ordinary", "number": "1234567",
        "holder_kana": "ヤマダ タロウ"})]
    law = "公的給付の支給等の迅速かつ確実な実施のための預貯金口座の登録等に関する法律"
    assert (answer.row.instrument.startswith(law), answer.record.legal_table_version) == (True, "2021-05-19.1")
    await register_account(one_stop.factory, one_stop.father,
                           NewAccount("0005", "123", "savings", "42", "やまだ たろう"))
    rearing = await one_stop.hub.request(chiyoda, ask("child_rearing_allowance"))
    assert (rearing.items[0].value["number"], rearing.row.id) == ("0000042", "koukin:10:2")

    # Not for another duty, not from another agency, not for a tax office.
    for refused_ask, asker in ((ask("nursery_placement"), chiyoda), (ask(provider="japan-pension-service"), chiyoda),
                               (ExchangeRequest(person_code=(await _asker(one_stop, "kojimachi-tax-office"))[1],
                                                duty="child_allowance", provider="digital-agency",
                                                items=("public_benefit_account",)),
                                (await _asker(one_stop, "kojimachi-tax-office"))[0])):
        with pytest.raises(PortalError) as caught:
            await one_stop.hub.request(asker, refused_ask)
        assert caught.value.code == "EXCHANGE_NOT_PERMITTED"

    await withdraw_account(one_stop.factory, one_stop.father)
    withdrawn = await one_stop.hub.request(chiyoda, ask())
    assert (withdrawn.items, withdrawn.not_held) == ([], ["public_benefit_account"])
    async with one_stop.factory() as session:  # every read and refusal is on his record
        rows = (await session.execute(select(ExchangeRecord.legal_row_id, ExchangeRecord.outcome).where(
            ExchangeRecord.person_id == one_stop.father, ExchangeRecord.item_names.is_not(None))
            .order_by(ExchangeRecord.requested_at))).all()
    mine = [tuple(row) for row in rows if row[0] in (None, "koukin:10:1", "koukin:10:2")]
    assert mine[-7:] == [("koukin:10:1", "provided"), ("koukin:10:1", "provided"), ("koukin:10:2", "provided"),
                         (None, "refused"), (None, "refused"), (None, "refused"), ("koukin:10:1", "provided")]
