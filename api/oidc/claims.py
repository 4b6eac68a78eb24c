"""The 基本4情報 as OpenID Connect claims (OIDC Core §5.1), by the scopes that ask for them."""

from __future__ import annotations

from typing import Any

from api.people.models import Sex

ID_TOKEN_DUTY = "ログイン (IDトークン)"  # noqa: S105 (the name of a duty)
USERINFO_DUTY = "ログイン (UserInfo)"
_GENDER = {Sex.MALE: "male", Sex.FEMALE: "female"}


def basic_claims(person: Any, scopes: list[str]) -> dict[str, Any]:
    """Claims of ``person`` (a Person or its record) for the 基本4情報 scopes among ``scopes``."""
    claims: dict[str, Any] = {}
    if "name" in scopes:
        claims["name"] = person.name
        claims["name_kana"] = person.name_kana  # フリガナ, as the card application carries it
    if "address" in scopes:
        claims["address"] = {"formatted": person.address, "country": "JP"}
    if "birthdate" in scopes:
        claims["birthdate"] = person.birth_date.isoformat()
    if "gender" in scopes:
        claims["gender"] = _GENDER[Sex(person.sex)]
    return claims

