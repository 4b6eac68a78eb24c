"""The Web-API's errors: NTA-style `NNN,message` text for types 01/02/12, RFC 9457 problems for JSON.

Codes 013, 042, 051, 101 and 152 are the NTA's own (reference §1.6); the others follow its ranges
(010-015 dates, 040-044 numbers, 050-051 address, 060 kind, 070-071 type, 090 divide, 100-105 name
search, 150-153 assignment dates) and are listed in the OpenAPI document.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from corporate import formats

PROBLEM_BASE = "https://mynaportal.example/corporate/problems/"


@dataclass(frozen=True)
class ErrorKind:
    status: int
    japanese: str
    english: str


CATALOGUE: dict[str, ErrorKind] = {
    "001": ErrorKind(404, "アプリケーションIDが登録されていないか、無効です。",
                     "The application id is unknown or revoked."),
    "002": ErrorKind(429, "一定時間内のアクセスが多すぎます。",
                     "Too many requests with this application id; retry later."),
    "010": ErrorKind(400, "取得期間開始日(from)が指定されていません。", "from is required."),
    "011": ErrorKind(400, "取得期間開始日(from)の形式が誤っています。", "from must be a date, YYYY-MM-DD."),
    "012": ErrorKind(400, "取得期間終了日(to)が未指定か、形式が誤っています。",
                     "to is required, as a date YYYY-MM-DD."),
    "013": ErrorKind(400, "取得期間開始日(from)には2015-12-01以降の日付を指定してください。",
                     "from must be 2015-12-01 or later."),
    "014": ErrorKind(400, "取得期間終了日(to)は開始日(from)以降の日付を指定してください。",
                     "to must not be before from."),
    "015": ErrorKind(400, "取得期間は50日以内で指定してください。", "The window from..to may span at most 50 days."),
    "040": ErrorKind(400, "法人番号(number)が指定されていません。", "number is required."),
    "041": ErrorKind(400, "法人番号(number)は13桁の数字で指定してください。", "Each number must be 13 digits."),
    "042": ErrorKind(400, "法人番号(number)は10件以内で指定してください。", "At most 10 numbers per request."),
    "043": ErrorKind(400, "法人番号(number)のチェックデジットが誤っています。",
                     "A number's check digit (the first digit) does not match."),
    "044": ErrorKind(400, "変更履歴要否(history)は0又は1を指定してください。", "history must be 0 or 1."),
    "050": ErrorKind(400, "所在地(address)の形式が誤っています。",
                     "address must be a 2-digit prefecture code or 5 digits (prefecture + city)."),
    "051": ErrorKind(400, "所在地(address)に市区町村コードのみを指定することはできません。",
                     "A city code needs its prefecture code in front (5 digits)."),
    "060": ErrorKind(400, "法人種別(kind)は01～04をカンマ区切りで4件以内で指定してください。",
                     "kind must be up to four of 01, 02, 03, 04, comma-separated."),
    "070": ErrorKind(400, "応答形式(type)が指定されていません。", "type is required."),
    "071": ErrorKind(400, "応答形式(type)は01、02、12又は21を指定してください。", "type must be 01, 02, 12 or 21."),
    "090": ErrorKind(400, "分割番号(divide)は1～99999の数字で指定してください。",
                     "divide must be a number from 1 to 99999."),
    "100": ErrorKind(400, "商号又は名称(name)が指定されていません。", "name is required."),
    "101": ErrorKind(400, "商号又は名称(name)に検索できる文字が含まれていません。",
                     "name has nothing to search once legal forms and symbols are removed."),
    "102": ErrorKind(400, "検索方式(mode)は1又は2を指定してください。", "mode must be 1 (prefix) or 2 (partial)."),
    "103": ErrorKind(400, "検索対象(target)は1、2又は3を指定してください。", "target must be 1, 2 or 3."),
    "104": ErrorKind(400, "変更履歴(change)は0又は1を指定してください。", "change must be 0 or 1."),
    "105": ErrorKind(400, "登記記録の閉鎖等(close)は0又は1を指定してください。", "close must be 0 or 1."),
    "150": ErrorKind(400, "法人番号指定年月日(from/to)の形式が誤っています。",
                     "from and to must be dates, YYYY-MM-DD."),
    "152": ErrorKind(400, "法人番号指定年月日(from)には2015-10-05以降の日付を指定してください。",
                     "from must be 2015-10-05 or later."),
    "153": ErrorKind(400, "法人番号指定年月日(to)は(from)以降の日付を指定してください。",
                     "to must not be before from."),
}


class ApiError(Exception):
    def __init__(self, code: str, *, retry_after: int | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.kind = CATALOGUE[code]
        self.retry_after = retry_after


def error_body(error: ApiError, output_type: str | None, instance: str) -> tuple[bytes, str]:
    """The body and media type for an error in the caller's output type."""
    kind = error.kind
    if output_type == formats.JSON:
        problem = {"type": PROBLEM_BASE + error.code, "title": kind.english, "status": kind.status,
                   "detail": kind.japanese, "instance": instance, "code": error.code}
        return json.dumps(problem, ensure_ascii=False).encode(), "application/problem+json"
    return f"{error.code},{kind.japanese}".encode(), "text/plain;charset=UTF-8"
