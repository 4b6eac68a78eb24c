"""The NTA record: 30 fields in Ver.4 (23 in Ver.1, 28 in Ver.2, 29 in Ver.3), and their code tables.

A row is parsed into a tuple in FIELDS order, always 30 long (missing newer columns are None), with
empty strings as None. Values stay strings exactly as published (codes keep their leading zeros).
"""

from __future__ import annotations

import hashlib
from datetime import date

from corporate.checkdigit import is_valid

# XML element names, in CSV column order (the resource definition's 項番 7-36).
FIELDS: tuple[str, ...] = (
    "sequenceNumber", "corporateNumber", "process", "correct", "updateDate", "changeDate", "name",
    "nameImageId", "kind", "prefectureName", "cityName", "streetNumber", "addressImageId", "prefectureCode",
    "cityCode", "postCode", "addressOutside", "addressOutsideImageId", "closeDate", "closeCause",
    "successorCorporateNumber", "changeCause", "assignmentDate", "latest", "enName", "enPrefectureName",
    "enCityName", "enAddressOutside", "furigana", "hihyoji",
)
# The database column of each field, same order.
COLUMNS: tuple[str, ...] = (
    "sequence_number", "corporate_number", "process", "correct", "update_date", "change_date", "name",
    "name_image_id", "kind", "prefecture_name", "city_name", "street_number", "address_image_id",
    "prefecture_code", "city_code", "post_code", "address_outside", "address_outside_image_id", "close_date",
    "close_cause", "successor_corporate_number", "change_cause", "assignment_date", "latest", "en_name",
    "en_prefecture_name", "en_city_name", "en_address_outside", "furigana", "hihyoji",
)
COLUMN_COUNTS = (23, 28, 29, 30)  # Ver.1, Ver.2, Ver.3, Ver.4
INDEX = {name: position for position, name in enumerate(FIELDS)}
SEQUENCE, NUMBER, PROCESS, CORRECT, UPDATE_DATE, CHANGE_DATE, NAME = range(7)
KIND, PREFECTURE_CODE, CITY_CODE = INDEX["kind"], INDEX["prefectureCode"], INDEX["cityCode"]
CLOSE_DATE, SUCCESSOR, ASSIGNMENT_DATE, LATEST = (INDEX["closeDate"], INDEX["successorCorporateNumber"],
                                                 INDEX["assignmentDate"], INDEX["latest"])
EN_NAME, FURIGANA, HIHYOJI = INDEX["enName"], INDEX["furigana"], INDEX["hihyoji"]
DATE_FIELDS = (UPDATE_DATE, CHANGE_DATE, CLOSE_DATE, ASSIGNMENT_DATE)
TEXT_FIELDS = frozenset(INDEX[name] for name in (
    "name", "prefectureName", "cityName", "streetNumber", "addressOutside", "changeCause", "enName",
    "enPrefectureName", "enCityName", "enAddressOutside", "furigana"))

PROCESS_CODES = {
    "01": "新規", "11": "商号又は名称の変更", "12": "国内所在地の変更", "13": "国外所在地の変更",
    "21": "登記記録の閉鎖等", "22": "登記記録の復活等", "71": "吸収合併", "72": "吸収合併無効",
    "81": "商号の登記の抹消", "99": "削除",
}
KIND_CODES = {
    "101": "国の機関", "201": "地方公共団体", "301": "株式会社", "302": "有限会社", "303": "合名会社",
    "304": "合資会社", "305": "合同会社", "399": "その他の設立登記法人", "401": "外国会社等", "499": "その他",
}
# The API's 2-digit `kind` filter and the 3-digit kinds it stands for.
KIND_FILTERS = {
    "01": ("101",), "02": ("201",), "03": ("301", "302", "303", "304", "305", "399"), "04": ("401", "499"),
}
CLOSE_CAUSES = {"01": "清算の結了等", "11": "合併による解散等", "21": "登記官による閉鎖", "31": "その他の清算の結了等"}
DELETED = "99"


class RejectedRow(ValueError):
    """A row that cannot be imported; the message says why (never echoing personal data: there is none)."""


def _check_date(value: str | None, field: str) -> None:
    if value is None:
        return
    try:
        if len(value) != 10:
            raise ValueError
        date.fromisoformat(value)
    except ValueError:
        raise RejectedRow(f"{field} is not a YYYY-MM-DD date") from None


def parse_row(fields: list[str]) -> tuple[str | None, ...]:
    """Validate one CSV row and return it as a 30-tuple (None for empty or absent fields)."""
    count = len(fields)
    if count not in COLUMN_COUNTS:
        raise RejectedRow(f"expected 23, 28, 29 or 30 columns, got {count}")
    values: list[str | None] = [value if value != "" else None for value in fields]
    if count < 30:
        values.extend([None] * (30 - count))
    sequence, number, process = values[SEQUENCE], values[NUMBER], values[PROCESS]
    if sequence is None or not sequence.isascii() or not sequence.isdigit():
        raise RejectedRow("sequenceNumber is not a number")
    if number is None or not is_valid(number):
        raise RejectedRow("corporateNumber is not 13 digits with a valid check digit")
    if process not in PROCESS_CODES:
        raise RejectedRow("process is not a known code")
    if values[UPDATE_DATE] is None:
        raise RejectedRow("updateDate is missing")
    for position in DATE_FIELDS:
        _check_date(values[position], FIELDS[position])
    if process != DELETED:
        if values[KIND] not in KIND_CODES:
            raise RejectedRow("kind is not a known code")
        if values[NAME] is None:
            raise RejectedRow("name is missing")
        if values[CORRECT] not in ("0", "1"):
            raise RejectedRow("correct must be 0 or 1")
    successor = values[SUCCESSOR]
    if successor is not None and not is_valid(successor):
        raise RejectedRow("successorCorporateNumber is not a valid corporate number")
    if values[LATEST] not in (None, "0", "1") or values[HIHYOJI] not in (None, "0", "1"):
        raise RejectedRow("latest and hihyoji must be 0 or 1")
    return tuple(values)


def record_hash(values: tuple[str | None, ...]) -> bytes:
    """Identity of a published state: every field but the file's running number and the `latest` flag.

    The same state read from a full file and from a diff (or from a 23- and a 30-column file) hashes
    the same, so it is stored once.
    """
    parts = [value or "" for position, value in enumerate(values) if position not in (SEQUENCE, LATEST)]
    parts[-1] = parts[-1] or "0"  # hihyoji: absent before Ver.4 means searchable, as 0 does
    return hashlib.blake2b("\x1f".join(parts).encode(), digest_size=16).digest()
