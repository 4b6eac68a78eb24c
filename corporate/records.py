"""The NTA record: 30 fields in Ver.4 (23 in Ver.1, 28 in Ver.2, 29 in Ver.3), and their code tables.

A row is parsed into a tuple in FIELDS order, always 30 long (missing newer columns are None, but for
`hihyoji`, which is "0" when absent or empty: the NTA answers 0 or 1), with empty strings as None.
Values stay strings exactly as published (codes keep their leading zeros).
"""

from __future__ import annotations

import hashlib
from datetime import date

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


# Dates seen valid, so that each distinct date is parsed once (a file holds few thousand distinct dates);
# capped so that a file of random strings cannot grow it without bound.
_VALID_DATES: set[str] = set()
_VALID_DATES_CAP = 100_000
_PROCESS_CODES = frozenset(PROCESS_CODES)
_KIND_CODES = frozenset(KIND_CODES)
_FLAGS = frozenset((None, "0", "1"))
_ZEROS = (6 + 2 * 6) * ord("0")  # the weighted sum of twelve ASCII "0": six weigh 1, six weigh 2


def _check_date(value: str | None, field: str) -> None:
    if value is None or value in _VALID_DATES:
        return
    try:
        if len(value) != 10:
            raise ValueError
        date.fromisoformat(value)
    except ValueError:
        raise RejectedRow(f"{field} is not a YYYY-MM-DD date") from None
    if len(_VALID_DATES) < _VALID_DATES_CAP:
        _VALID_DATES.add(value)


def is_corporate_number(number: str) -> bool:
    """checkdigit.is_valid, in about a tenth of its time (it runs twice per imported row)."""
    if len(number) != 13 or not number.isascii() or not number.isdigit():
        return False
    # From the right of the 12-digit base, weights 1, 2, 1, 2 ...: indices 2, 4 ... 12 weigh 1, 1, 3 ... 11 weigh 2.
    total = sum(number[2::2].encode()) + 2 * sum(number[1::2].encode()) - _ZEROS
    return ord(number[0]) - ord("0") == 9 - total % 9


def parse_row(fields: list[str]) -> tuple[str | None, ...]:
    """Validate one CSV row and return it as a 30-tuple (None for empty or absent fields)."""
    return tuple(_validated(fields))


def _validated(fields: list[str]) -> list[str | None]:
    count = len(fields)
    if count != 30 and count not in COLUMN_COUNTS:
        raise RejectedRow(f"expected 23, 28, 29 or 30 columns, got {count}")
    values: list[str | None] = [value or None for value in fields]
    if count < 30:
        values.extend([None] * (30 - count))
    sequence, number, process = values[SEQUENCE], values[NUMBER], values[PROCESS]
    if sequence is None or not sequence.isascii() or not sequence.isdigit():
        raise RejectedRow("sequenceNumber is not a number")
    if number is None or not is_corporate_number(number):
        raise RejectedRow("corporateNumber is not 13 digits with a valid check digit")
    if process not in _PROCESS_CODES:
        raise RejectedRow("process is not a known code")
    if values[UPDATE_DATE] is None:
        raise RejectedRow("updateDate is missing")
    for position in DATE_FIELDS:
        if values[position] not in _VALID_DATES:  # inline test: saves a call per date when it is known
            _check_date(values[position], FIELDS[position])
    if process != DELETED:
        if values[KIND] not in _KIND_CODES:
            raise RejectedRow("kind is not a known code")
        if values[NAME] is None:
            raise RejectedRow("name is missing")
        if values[CORRECT] not in ("0", "1"):
            raise RejectedRow("correct must be 0 or 1")
    successor = values[SUCCESSOR]
    if successor is not None and not is_corporate_number(successor):
        raise RejectedRow("successorCorporateNumber is not a valid corporate number")
    if values[LATEST] not in _FLAGS or values[HIHYOJI] not in _FLAGS:
        raise RejectedRow("latest and hihyoji must be 0 or 1")
    if values[HIHYOJI] is None:
        # Absent before Ver.4 (23, 28 and 29 columns): those states are searchable, and the NTA answers
        # 0 for them, never an empty field (record_hash treats the two alike).
        values[HIHYOJI] = "0"
    return values


def record_hash(values: tuple[str | None, ...]) -> bytes:
    """Identity of a published state: every field but the file's running number and the `latest` flag.

    The same state read from a full file and from a diff (or from a 23- and a 30-column file) hashes
    the same, so it is stored once.
    """
    return _hash_fields([value or "" for value in values])


def _hash_fields(fields: list[str]) -> bytes:
    """record_hash of the 30 fields as strings ("" when empty); `fields` is changed."""
    fields[HIHYOJI] = fields[HIHYOJI] or "0"  # hihyoji: absent before Ver.4 means searchable, as 0 does
    del fields[LATEST]  # LATEST > SEQUENCE: delete it first so that SEQUENCE keeps its index
    del fields[SEQUENCE]
    return hashlib.blake2b("\x1f".join(fields).encode(), digest_size=16).digest()


def parse_and_hash(fields: list[str]) -> tuple[list[str | None], bytes]:
    """parse_row (as a list, the caller's to change) and record_hash in one go: the import's hot path."""
    values = _validated(fields)
    count = len(fields)
    return values, _hash_fields(fields + [""] * (30 - count) if count < 30 else fields[:])
