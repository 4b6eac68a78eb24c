"""公金受取口座: one bank account per person for public benefits (register, change, withdraw).

The holder's name (口座名義, in kana) must be the person's own name as the resident record holds it: compared
after folding width, hiragana/katakana, small kana (bank records write ｯ as ﾂ) and spaces. The 児童手当
decision refers to it (api.applications.notify). Agencies read it only through the information-exchange network,
for a benefit duty the 公金受取口座登録法's rows allow (api/exchange/data/koukin.toml): the registry (the portal's own
agency, デジタル庁) keeps its copy for the hub in step with every change, in the same transaction, and each read is
on the person's やりとり履歴.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from dataclasses import dataclass

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.applications.models import PublicBenefitAccount
from api.exchange.copies import hold_registry_copy
from api.people.models import Person
from api.platform.db import utcnow
from api.platform.errors import PortalError
from api.selfinfo.held import portal_agency

KINDS = ("ordinary", "current", "savings")  # 普通, 当座, 貯蓄
ITEM_KIND = "public_benefit_account"  # the network's item (登録口座情報)
_SMALL = str.maketrans("ァィゥェォッャュョヮヵヶ", "アイウエオツヤユヨワカケ")
_HIRAGANA = {code: code + 0x60 for code in range(0x3041, 0x3097)}
_KANA = re.compile(r"^[\u30A0-\u30FF\s()（）.・ー\-]+$")


def fold_kana(text: str) -> str:
    folded = unicodedata.normalize("NFKC", text).translate(_HIRAGANA).translate(_SMALL)
    return "".join(folded.split())


@dataclass(frozen=True)
class NewAccount:
    bank_code: str
    branch_code: str
    kind: str
    number: str
    holder_kana: str


def _check(new: NewAccount, person: Person) -> NewAccount:
    checks = (("bankCode", new.bank_code, 4), ("branchCode", new.branch_code, 3))
    for field, value, length in checks:
        if not (len(value) == length and value.isascii() and value.isdigit()):
            raise PortalError("BANK_ACCOUNT_INVALID", f"{field} is {length} digits.", extensions={"field": field})
    if new.kind not in KINDS:
        raise PortalError("BANK_ACCOUNT_INVALID", "kind is ordinary, current or savings.",
                          extensions={"field": "kind"})
    if not (1 <= len(new.number) <= 7 and new.number.isascii() and new.number.isdigit()):
        raise PortalError("BANK_ACCOUNT_INVALID", "number is up to 7 digits.", extensions={"field": "number"})
    holder = unicodedata.normalize("NFKC", new.holder_kana).translate(_HIRAGANA).strip()
    if not 0 < len(holder) <= 100 or not _KANA.match(holder):
        raise PortalError("BANK_ACCOUNT_INVALID", "The holder's name is in kana.", extensions={"field": "holderKana"})
    if fold_kana(holder) != fold_kana(person.name_kana):
        raise PortalError("BANK_ACCOUNT_HOLDER_MISMATCH", "The account holder must be you, by the name on your "
                          "resident record.", extensions={"field": "holderKana"})
    return NewAccount(new.bank_code, new.branch_code, new.kind, new.number.zfill(7), holder)


async def register_account(session_factory: async_sessionmaker[AsyncSession], person_id: uuid.UUID,
                           new: NewAccount) -> PublicBenefitAccount:
    """Register, or change the registered account (one per person)."""
    async with session_factory() as session, session.begin():
        person = await session.get_one(Person, person_id)
        checked = _check(new, person)
        account = await session.get(PublicBenefitAccount, person_id)
        now = utcnow()
        if account is None:
            account = PublicBenefitAccount(person_id=person_id, registered_at=now)
            session.add(account)
        account.bank_code, account.branch_code, account.account_kind = checked.bank_code, checked.branch_code, \
            checked.kind
        account.account_number, account.holder_kana, account.updated_at = checked.number, checked.holder_kana, now
        await session.flush()
        await hold_registry_copy(session, (await portal_agency(session)).id, person_id, ITEM_KIND, {
            "bank_code": checked.bank_code, "branch_code": checked.branch_code, "kind": checked.kind,
            "number": checked.number, "holder_kana": checked.holder_kana})
        return account


async def withdraw_account(session_factory: async_sessionmaker[AsyncSession], person_id: uuid.UUID) -> None:
    async with session_factory() as session, session.begin():
        deleted = await session.execute(delete(PublicBenefitAccount).where(PublicBenefitAccount.person_id == person_id)
                                        .returning(PublicBenefitAccount.person_id))
        if deleted.first() is None:
            raise PortalError("BANK_ACCOUNT_NOT_REGISTERED", "You have no 公金受取口座 registered.")
        await hold_registry_copy(session, (await portal_agency(session)).id, person_id, ITEM_KIND, None)


async def account_of(session_factory: async_sessionmaker[AsyncSession],
                     person_id: uuid.UUID) -> PublicBenefitAccount | None:
    async with session_factory() as session:
        return await session.get(PublicBenefitAccount, person_id)
