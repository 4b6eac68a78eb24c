"""Scopes and claims: ``openid``, the 基本4情報 (name, address, birthdate, gender), ``sign`` (a signing
transaction, as デジタル認証アプリ offers), and one ``selfinfo:<group>`` scope per group of 自己情報 (自己情報取得API).
"""

from __future__ import annotations

from api.selfinfo.groups import GROUP_TITLES, InfoGroup

BASIC_SCOPES = ("name", "address", "birthdate", "gender")
SELFINFO_PREFIX = "selfinfo:"
SELFINFO_SCOPES = {f"{SELFINFO_PREFIX}{group.value}": group for group in InfoGroup}
SUPPORTED_SCOPES = frozenset({"openid", *BASIC_SCOPES, "sign", *SELFINFO_SCOPES})

SCOPE_TITLES = {
    "openid": "あなたを識別する番号 (このサービス専用)",
    "name": "氏名",
    "address": "住所",
    "birthdate": "生年月日",
    "gender": "性別",
    "sign": "電子署名",
    **{scope: f"わたしの情報: {GROUP_TITLES[group]}" for scope, group in SELFINFO_SCOPES.items()},
}


def scope_list(scope: str | None) -> list[str]:
    return [part for part in (scope or "").split() if part]
