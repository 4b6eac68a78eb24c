"""公金受取口座: register, change, withdraw; the holder's kana must be the person's name; the 児童手当 decision
names it (masked)."""

from __future__ import annotations

import pytest

from api.applications.bank_account import NewAccount, account_of, fold_kana, register_account, withdraw_account
from api.applications.notify import masked_account
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
