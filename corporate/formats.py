"""Output types of the Web-API: 01 CSV Shift-JIS, 02 CSV Unicode, 12 XML, and ours, 21 JSON.

CSV and XML follow the NTA Ver.4 byte for byte in shape: a `lastUpdateDate,count,divideNumber,
divideSize` header line, then 30 fields per record, text fields in double quotes, empty fields
empty, CRLF; XML under <corporations> with self-closing empty elements, indented by two spaces, LF.
JSON (the invoice API's type number, 21) keeps every value a string, so codes keep their leading zeros.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from xml.sax.saxutils import escape

from corporate import records
from corporate.service import CorporateState

CSV_SHIFT_JIS, CSV_UNICODE, XML, JSON = "01", "02", "12", "21"
TYPES = (CSV_SHIFT_JIS, CSV_UNICODE, XML, JSON)
MEDIA_TYPES = {
    CSV_SHIFT_JIS: "text/csv;charset=Shift_JIS",
    CSV_UNICODE: "text/csv;charset=UTF-8",
    XML: "application/xml;charset=UTF-8",
    JSON: "application/json",
}
GETA = "〓"  # the customary mark for a character the Shift-JIS repertoire lacks


def _geta(error: UnicodeError) -> tuple[str, int]:
    assert isinstance(error, UnicodeEncodeError)
    return GETA * (error.end - error.start), error.end


codecs.register_error("corporate-geta", _geta)


@dataclass(frozen=True)
class Answer:
    last_update_date: date | None
    count: int
    divide_number: int
    divide_size: int
    states: Sequence[CorporateState]
    first_sequence: int = 1  # the running number of the first record of this page


def _values(answer: Answer) -> list[tuple[str | None, ...]]:
    # sequenceNumber is a running number within the response, as in the NTA's answers.
    return [(str(answer.first_sequence + offset), *state.values[1:]) for offset, state in enumerate(answer.states)]


def _header(answer: Answer) -> list[str]:
    updated = answer.last_update_date.isoformat() if answer.last_update_date else ""
    return [updated, str(answer.count), str(answer.divide_number), str(answer.divide_size)]


def _csv_field(position: int, value: str | None) -> str:
    if value is None:
        return ""
    if position in records.TEXT_FIELDS:
        return '"' + value.replace('"', '""') + '"'
    return value


def render_csv(answer: Answer) -> str:
    lines = [",".join(_header(answer))]
    lines.extend(",".join(_csv_field(position, value) for position, value in enumerate(row))
                 for row in _values(answer))
    return "\r\n".join(lines) + "\r\n"


def render_xml(answer: Answer) -> str:
    """The NTA's XML byte for byte: the declaration, then one element per line indented by two spaces per
    level, LF line ends (the API's CSV uses CRLF, its XML does not) and a final LF."""
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', "<corporations>"]
    lines.extend(f"  <{name}>{value}</{name}>" for name, value in
                 zip(("lastUpdateDate", "count", "divideNumber", "divideSize"), _header(answer), strict=True))
    for row in _values(answer):
        lines.append("  <corporation>")
        lines.extend(f"    <{name} />" if value is None else f"    <{name}>{escape(value)}</{name}>"
                     for name, value in zip(records.FIELDS, row, strict=True))
        lines.append("  </corporation>")
    lines.append("</corporations>")
    return "\n".join(lines) + "\n"


def render_json(answer: Answer) -> str:
    header = _header(answer)
    body = {
        "lastUpdateDate": header[0] or None,
        "count": answer.count,
        "divideNumber": answer.divide_number,
        "divideSize": answer.divide_size,
        "corporations": [dict(zip(records.FIELDS, row, strict=True)) for row in _values(answer)],
    }
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def render(answer: Answer, output_type: str) -> bytes:
    if output_type == CSV_SHIFT_JIS:
        return render_csv(answer).encode("cp932", errors="corporate-geta")
    if output_type == CSV_UNICODE:
        return render_csv(answer).encode()
    if output_type == XML:
        return render_xml(answer).encode()
    return render_json(answer).encode()
