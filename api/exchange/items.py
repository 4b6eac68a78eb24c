"""What a copy (副本) of each data kind holds: one schema per item kind, checked when a provider registers it.

The three kinds the portal's services need first have a full schema; the other kinds of the table are kept as
small flat objects (the ordinance's item lists were not read here, so no shape is invented for them).
Values never leave the hub except in the answer to a lawful request: records and logs carry only kind names.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError

from api.platform.errors import ErrorCode, PortalError

Yen = Annotated[StrictInt, Field(ge=0, le=10**12)]
Text = Annotated[StrictStr, Field(min_length=1, max_length=100)]

# 公的年金 kinds a pension provider registers (the 基礎年金 and 厚生年金 benefits).
PENSION_KINDS = ("老齢基礎年金", "障害基礎年金", "遺族基礎年金", "老齢厚生年金", "障害厚生年金", "遺族厚生年金")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LocalTax(_Strict):
    """地方税関係情報: one tax year's 住民税 assessment (what 児童手当 and 保育料 are computed from)."""

    tax_year: Annotated[StrictInt, Field(ge=2000, le=2100)]
    taxable_income: Yen  # 総所得金額等
    municipal_tax: Yen  # 市町村民税 (所得割 + 均等割)
    dependants: Annotated[StrictInt, Field(ge=0, le=99)]  # 扶養親族の数
    prefectural_tax: Yen | None = None


class HouseholdMember(_Strict):
    name: Text
    relationship: Annotated[StrictStr, Field(min_length=1, max_length=20)]  # 続柄 as on the 住民票: 世帯主, 妻, 子
    birth_date: date


class ResidentRecord(_Strict):
    """住民票関係情報 (住民基本台帳法 §7(4)): the household head, the person's 続柄, and the household."""

    household_head_name: Text
    relationship_to_head: Annotated[StrictStr, Field(min_length=1, max_length=20)]
    members: Annotated[list[HouseholdMember], Field(max_length=30)]


class PensionBenefit(_Strict):
    """年金給付関係情報: one pension the person receives."""

    kind: Literal[PENSION_KINDS]  # type: ignore[valid-type]
    annual_amount: Yen
    since: date | None = None


class PublicBenefitAccount(_Strict):
    """登録口座情報: the person's 公金受取口座, as the registry holds it (what a benefit is paid into)."""

    bank_code: Annotated[StrictStr, Field(pattern=r"^[0-9]{4}$")]
    branch_code: Annotated[StrictStr, Field(pattern=r"^[0-9]{3}$")]
    kind: Literal["ordinary", "current", "savings"]  # 普通, 当座, 貯蓄
    number: Annotated[StrictStr, Field(pattern=r"^[0-9]{7}$")]
    holder_kana: Annotated[StrictStr, Field(min_length=1, max_length=100)]


SCHEMAS: dict[str, type[_Strict]] = {
    "local_tax": LocalTax, "resident_record": ResidentRecord, "pension_benefit": PensionBenefit,
    "public_benefit_account": PublicBenefitAccount,
}
_FLAT_VALUE = (str, int, bool, type(None))


def _flat(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict) or not 0 < len(value) <= 30:
        raise ValueError("must be an object of 1 to 30 fields")
    for name, field in value.items():
        if not isinstance(name, str) or not 0 < len(name) <= 40:
            raise ValueError("field names are 1 to 40 characters")
        if not isinstance(field, _FLAT_VALUE) or (isinstance(field, str) and len(field) > 200):
            raise ValueError(f"{name}: a text (up to 200 characters), an integer, true/false or null")
        if isinstance(field, int) and not isinstance(field, bool) and abs(field) > 10**12:
            raise ValueError(f"{name}: integer out of range")
    return dict(value)


def check_item(kind: str, value: Any, key: Any = None) -> tuple[str, dict[str, Any]]:
    """The copy's key and its canonical value; BAD_USER_INPUT naming the kind otherwise.

    The key tells several copies of a kind apart: the tax year, the pension kind; "" for one-per-person kinds.
    """
    schema = SCHEMAS.get(kind)
    try:
        if schema is None:
            if key is not None and (not isinstance(key, str) or len(key) > 64):
                raise ValueError("key must be a text of up to 64 characters")
            return (key or ""), _flat(value)
        if not isinstance(value, dict):
            raise ValueError("must be an object")
        model = schema.model_validate(value)
    except (ValidationError, ValueError) as error:
        raise PortalError(ErrorCode.BAD_USER_INPUT, f"A {kind} copy is not valid: {_first_error(error)}",
                          extensions={"field": "value", "itemKind": kind}) from error
    derived = {LocalTax: lambda m: str(m.tax_year), PensionBenefit: lambda m: m.kind}.get(schema)
    derived_key = derived(model) if derived else ""
    if key is not None and key != derived_key:
        raise PortalError(ErrorCode.BAD_USER_INPUT, f"A {kind} copy's key is {derived_key!r}, taken from its value.",
                          extensions={"field": "key", "itemKind": kind})
    return derived_key, model.model_dump(mode="json", exclude_none=True)


def _first_error(error: Exception) -> str:
    if isinstance(error, ValidationError):
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "value"
        return f"{where}: {first['msg']}"
    return str(error)
