"""The legal table (番号法 別表第二) as data, loaded from the versioned file api/exchange/data/beppyo2.toml, and the
rows of other laws that let agencies ask through the network (api/exchange/data/koukin.toml: the 公金受取口座 for a
public benefit), each from its own versioned file under its own instrument.

A request is lawful when one row names the requester's kind, the duty, the provider's kind and every item
asked for. The table is read once per process; records store the row relied on and its instrument's version.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any

from api.agencies.models import AgencyKind

TABLE_FILE = Path(__file__).parent / "data" / "beppyo2.toml"
OTHER_LAW_FILES = (Path(__file__).parent / "data" / "koukin.toml",)


class LegalTableError(ValueError):
    """The table file contradicts itself (a test loads it, so this never reaches a request)."""


@dataclass(frozen=True)
class LegalRow:
    id: str  # "beppyo2:74:1": 項 74, provider line 1
    row: int
    duty: str
    requester: str
    requester_kinds: frozenset[AgencyKind]
    provider: str
    provider_kinds: frozenset[AgencyKind]
    items: frozenset[str]
    text: str
    pension_kinds: frozenset[str] | None  # a row narrower than its kind (116: 障害基礎年金 only)
    instrument: str = ""  # the law the row is from, and that file's version ("" until the table fills them in)
    version: str = ""
    as_of: str = ""
    provider_slug: str | None = None  # a row narrower than its kind: this one agency (the 公金受取口座 registry)


@dataclass(frozen=True)
class Duty:
    code: str
    text: str
    service: str
    rows: tuple[int, ...]


@dataclass(frozen=True)
class LegalTable:
    version: str
    instrument: str
    as_of: str
    source: dict[str, Any]
    items: dict[str, str]  # item kind code -> the law's name (地方税関係情報 …)
    duties: dict[str, Duty]
    rows: tuple[LegalRow, ...]
    by_duty: dict[str, tuple[LegalRow, ...]] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        by_duty: dict[str, list[LegalRow]] = {}
        for row in self.rows:
            by_duty.setdefault(row.duty, []).append(row)
        self.by_duty.update({duty: tuple(rows) for duty, rows in by_duty.items()})

    def row_for(self, duty: str, requester: AgencyKind, provider: AgencyKind, items: frozenset[str],
                provider_slug: str | None = None) -> LegalRow | None:
        """The first row that allows all of it, or None (the request is outside the table)."""
        for row in self.by_duty.get(duty, ()):
            if requester in row.requester_kinds and provider in row.provider_kinds and items <= row.items \
                    and (row.provider_slug is None or row.provider_slug == provider_slug):
                return row
        return None

    def row(self, row_id: str) -> LegalRow | None:
        return next((row for row in self.rows if row.id == row_id), None)


def _kinds(roles: dict[str, list[str]], role: str) -> frozenset[AgencyKind]:
    if role not in roles:
        raise LegalTableError(f"role {role!r} has no agency kinds in [roles]")
    try:
        return frozenset(AgencyKind(kind) for kind in roles[role])
    except ValueError as error:
        raise LegalTableError(f"role {role!r}: {error}") from error


def parse_table(data: dict[str, Any]) -> LegalTable:
    roles = data["roles"]
    items = {code: entry["name"] for code, entry in data["items"].items()}
    duties = {code: Duty(code=code, text=entry["text"], service=entry["service"], rows=tuple(entry["rows"]))
              for code, entry in data["duties"].items()}
    rows: list[LegalRow] = []
    seen: set[str] = set()
    for entry in data["rows"]:
        row_id = entry["id"]
        if row_id in seen or not row_id.startswith(f"beppyo2:{entry['row']}:"):
            raise LegalTableError(f"row id {row_id!r} is repeated or does not name its 項")
        seen.add(row_id)
        duty = duties.get(entry["duty"])
        if duty is None or entry["row"] not in duty.rows:
            raise LegalTableError(f"{row_id}: duty {entry['duty']!r} unknown or does not list 項 {entry['row']}")
        unknown = set(entry["items"]) - items.keys()
        if unknown or not entry["items"]:
            raise LegalTableError(f"{row_id}: unknown items {sorted(unknown)}")
        pension_kinds = entry.get("pension_kinds")
        rows.append(LegalRow(
            id=row_id, row=entry["row"], duty=entry["duty"], requester=entry["requester"],
            requester_kinds=_kinds(roles, entry["requester_role"]), provider=entry["provider"],
            provider_kinds=_kinds(roles, entry["provider"]), items=frozenset(entry["items"]), text=entry["text"],
            pension_kinds=frozenset(pension_kinds) if pension_kinds else None,
        ))
    source = data["source"]
    rows = [replace(row, instrument=source["instrument"], version=data["version"], as_of=source["as_of"])
            for row in rows]
    return LegalTable(version=data["version"], instrument=source["instrument"], as_of=source["as_of"],
                      source=source, items=items, duties=duties, rows=tuple(rows))


def with_other_law(table: LegalTable, data: dict[str, Any]) -> LegalTable:
    """The table with another law's rows: its own instrument, version and row ids, the table's duties."""
    prefix, source = data["id_prefix"], data["source"]
    items = {code: entry["name"] for code, entry in data["items"].items()}
    if prefix == "beppyo2" or items.keys() & table.items.keys():
        raise LegalTableError(f"{prefix}: its id prefix or an item kind is the table's own")
    known = {row.id for row in table.rows}
    rows = []
    for entry in data["rows"]:
        row_id = entry["id"]
        if row_id in known or not row_id.startswith(f"{prefix}:{entry['article']}:"):
            raise LegalTableError(f"row id {row_id!r} is repeated or does not name its article")
        known.add(row_id)
        if entry["duty"] not in table.duties:
            raise LegalTableError(f"{row_id}: duty {entry['duty']!r} unknown")
        if not entry["items"] or set(entry["items"]) - items.keys():
            raise LegalTableError(f"{row_id}: unknown items")
        rows.append(LegalRow(
            id=row_id, row=entry["article"], duty=entry["duty"], requester=entry["requester"],
            requester_kinds=_kinds(data["roles"], entry["requester_role"]), provider=entry["provider"],
            provider_kinds=_kinds(data["roles"], entry["provider"]), items=frozenset(entry["items"]),
            text=entry["text"], pension_kinds=None, instrument=source["instrument"], version=data["version"],
            as_of=source["as_of"], provider_slug=entry.get("provider_slug")))
    return LegalTable(version=table.version, instrument=table.instrument, as_of=table.as_of, source=table.source,
                      items={**table.items, **items}, duties=table.duties, rows=table.rows + tuple(rows))


@cache
def legal_table() -> LegalTable:
    with TABLE_FILE.open("rb") as file:
        table = parse_table(tomllib.load(file))
    for path in OTHER_LAW_FILES:
        with path.open("rb") as file:
            table = with_other_law(table, tomllib.load(file))
    return table
