"""The catalogue of procedures (versioned data): the national one, and each municipality's own procedures
(api/applications/data/municipal/<code>.json, versioned by that municipality), search and ぴったり.

Each procedure carries its form as a JSON Schema (draft 2020-12, with ``x-ui`` hints for the apps), required
attachments, the data the municipality obtains through the information-exchange network instead of a paper
certificate, whether a card signature is required, and the fee. Keyword search folds text with the corporate
name normaliser (hiragana/katakana, width, old kanji forms, spaces and dots), so ほいく finds 保育 by its kana.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import SchemaError

from api.platform.errors import PortalError
from api.platform.normalise import search_key

CATALOGUE_FILE = Path(__file__).parent / "data" / "procedures.json"
# A municipality's own procedures (独自の手続), one file per municipality named by its 6-digit code: only that
# municipality may publish them. Their codes begin with the municipality's code, so they never meet a national one.
MUNICIPAL_DIR = Path(__file__).parent / "data" / "municipal"
# The formats a form may use, each checked (date-time and time by rfc3339-validator, which jsonschema uses when it is
# installed): a form naming another format would have it silently unchecked, so the catalogue refuses it.
FORMATS = ("date", "date-time", "time", "email")
_FORMATS = FormatChecker(formats=())
# Draft 2020-12's own checkers (FormatChecker's shared table holds draft 3's "time", without an offset).
_FORMATS.checkers = {name: Draft202012Validator.FORMAT_CHECKER.checkers[name] for name in FORMATS}


class CatalogueError(ValueError):
    """The catalogue file contradicts itself (a test loads it)."""


@dataclass(frozen=True)
class Attachment:
    code: str
    name: str
    condition: str | None
    media_types: tuple[str, ...]
    max_bytes: int
    required_unless: str | None = None  # a boolean form field that makes it unnecessary ("payTo.use…")


@dataclass(frozen=True)
class NetworkItem:
    item: str  # the exchange item kind (local_tax …)
    replaces: str  # the paper certificate it replaces
    fills: str  # the form field it fills


@dataclass(frozen=True)
class Procedure:
    code: str
    form_version: int
    name: str
    kana: str
    keywords: tuple[str, ...]
    category: str
    life_events: tuple[str, ...]
    who_applies: str
    applies_for: str  # "self" or "child"
    signature_required: bool
    fee_yen: int
    deadline: str
    duty: str | None  # the legal table's duty the municipality asks the network under
    network_items: tuple[NetworkItem, ...]
    attachments: tuple[Attachment, ...]
    fits: dict[str, Any]
    form: dict[str, Any]
    search_text: str = field(repr=False, compare=False, default="")
    validator: Draft202012Validator | None = field(repr=False, compare=False, default=None)
    municipality: str | None = None  # the municipality that owns it, or None for a national procedure

    def attachment(self, code: str) -> Attachment | None:
        return next((a for a in self.attachments if a.code == code), None)


@dataclass(frozen=True)
class Catalogue:
    version: str
    categories: dict[str, str]
    life_events: dict[str, str]
    procedures: dict[str, Procedure]
    municipal_versions: dict[str, str] = field(default_factory=dict)  # municipality code -> its file's version


def _procedure(entry: dict[str, Any], categories: dict[str, str], events: dict[str, str],
               municipality: str | None = None) -> Procedure:
    code = entry["code"]
    if municipality is not None and not code.startswith(f"{municipality}_"):
        raise CatalogueError(f"{code}: a municipality's own procedure's code begins with {municipality}_")
    if entry["category"] not in categories or not set(entry["life_events"]) <= events.keys():
        raise CatalogueError(f"{code}: unknown category or life event")
    if entry["applies_for"] not in ("self", "child"):
        raise CatalogueError(f"{code}: applies_for is self or child")
    try:
        Draft202012Validator.check_schema(entry["form"])
    except SchemaError as error:
        raise CatalogueError(f"{code}: the form is not a JSON Schema: {error.message}") from error
    unchecked = set(formats_of(entry["form"])) - set(_FORMATS.checkers)
    if unchecked:
        raise CatalogueError(f"{code}: the form uses formats this server does not check: {sorted(unchecked)}")
    attachments = tuple(Attachment(a["code"], a["name"], a.get("condition"), tuple(a["media_types"]),
                                   int(a["max_bytes"]), a.get("required_unless")) for a in entry["attachments"])
    network = tuple(NetworkItem(n["item"], n["replaces"], n["fills"]) for n in entry["network_items"])
    if network and not entry.get("duty"):
        raise CatalogueError(f"{code}: network items need the duty they are asked under")
    text = " ".join([entry["name"], entry["kana"], *entry["keywords"], categories[entry["category"]],
                     *(events[e] for e in entry["life_events"])])
    return Procedure(
        code=code, form_version=int(entry["form_version"]), name=entry["name"], kana=entry["kana"],
        keywords=tuple(entry["keywords"]), category=entry["category"], life_events=tuple(entry["life_events"]),
        who_applies=entry["who_applies"], applies_for=entry["applies_for"],
        signature_required=bool(entry["signature_required"]), fee_yen=int(entry["fee_yen"]),
        deadline=entry["deadline"], duty=entry.get("duty"), network_items=network, attachments=attachments,
        fits=dict(entry["fits"]), form=entry["form"], search_text=search_key(text),
        validator=Draft202012Validator(entry["form"], format_checker=_FORMATS), municipality=municipality)


def formats_of(schema: Any) -> list[str]:
    """Every "format" a schema names, at any depth."""
    if isinstance(schema, list):
        return [found for item in schema for found in formats_of(item)]
    if not isinstance(schema, dict):
        return []
    own = [schema["format"]] if isinstance(schema.get("format"), str) else []
    return own + [found for key, value in schema.items() if key not in ("const", "enum", "examples", "default")
                  for found in formats_of(value)]


def parse_catalogue(data: dict[str, Any], municipal: Sequence[dict[str, Any]] = ()) -> Catalogue:
    """The national catalogue and the municipalities' own files (each {municipality, version, procedures}), which
    use the national categories and life events."""
    categories, events = dict(data["categories"]), dict(data["life_events"])
    procedures: dict[str, Procedure] = {}
    versions: dict[str, str] = {}
    sources: list[tuple[str | None, list[dict[str, Any]]]] = [(None, data["procedures"])]
    for own in municipal:
        code = own["municipality"]
        if not (isinstance(code, str) and len(code) == 6 and code.isdigit()) or code in versions:
            raise CatalogueError(f"municipal file {code!r}: a 6-digit municipality code, once")
        versions[code] = str(own["version"])
        sources.append((code, own["procedures"]))
    for municipality, entries in sources:
        for entry in entries:
            if entry["code"] in procedures:
                raise CatalogueError(f"procedure {entry['code']} is listed twice")
            procedures[entry["code"]] = _procedure(entry, categories, events, municipality)
    return Catalogue(version=data["version"], categories=categories, life_events=events, procedures=procedures,
                     municipal_versions=versions)


@cache
def catalogue() -> Catalogue:
    municipal = [json.loads(path.read_text(encoding="utf-8")) for path in sorted(MUNICIPAL_DIR.glob("*.json"))]
    return parse_catalogue(json.loads(CATALOGUE_FILE.read_text(encoding="utf-8")), municipal)


def procedure(code: str) -> Procedure:
    found = catalogue().procedures.get(code)
    if found is None:
        raise PortalError("PROCEDURE_UNKNOWN", "No procedure has this code.", extensions={"field": "procedure"})
    return found


def form_errors(proc: Procedure, form: dict[str, Any]) -> list[dict[str, str]]:
    """Every way the form fails its schema (path and message), first by path; [] when it is valid."""
    assert proc.validator is not None
    errors = sorted(proc.validator.iter_errors(form), key=lambda e: list(map(str, e.absolute_path)))
    return [{"path": "/" + "/".join(map(str, e.absolute_path)), "message": e.message[:200]} for e in errors[:20]]


# -- search and ぴったり -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Query:
    keyword: str | None = None
    category: str | None = None
    life_event: str | None = None


def search(procedures: list[Procedure], query: Query) -> list[Procedure]:
    """The procedures that match every given condition, in catalogue order."""
    if query.category is not None and query.category not in catalogue().categories:
        raise PortalError("BAD_USER_INPUT", "Unknown category.", extensions={"field": "category"})
    if query.life_event is not None and query.life_event not in catalogue().life_events:
        raise PortalError("BAD_USER_INPUT", "Unknown life event.", extensions={"field": "lifeEvent"})
    words = [search_key(word) for word in (query.keyword or "").replace("　", " ").split()][:10]
    words = [word for word in words if word]
    return [p for p in procedures
            if (query.category is None or p.category == query.category)
            and (query.life_event is None or query.life_event in p.life_events)
            and all(word in p.search_text for word in words)]


@dataclass(frozen=True)
class HouseholdChild:
    name: str
    birth_date: date
    parents: int  # how many parents the child has linked here


@dataclass(frozen=True)
class Fit:
    procedure: Procedure
    reasons: tuple[str, ...]
    child_names: tuple[str, ...]  # the children it is for (empty: for the person)


def age_on(birth: date, today: date) -> int:
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


@dataclass(frozen=True)
class Rule:
    """One distinct ぴったり rule (procedures share a few: 児童手当's, 保育's, 児童扶養手当's)."""

    child_under_age: int | None
    single_parent: bool

    def reasons(self, children: list[HouseholdChild], today: date) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Why the household meets the rule (one reason per child it is for) and those children's names."""
        chosen, reasons = [], []
        limit = self.child_under_age
        for child in children:
            age = age_on(child.birth_date, today)
            if limit is not None and age >= limit:
                continue
            if self.single_parent and child.parents != 1:
                continue
            chosen.append(child.name)
            reason = f"{child.name}さん（{age}歳）は{limit}歳未満です" if limit is not None else f"{child.name}さん"
            if self.single_parent:
                reason += "。ひとり親の世帯です"
            reasons.append(reason)
        return tuple(reasons), tuple(chosen)


@dataclass(frozen=True)
class RuleSet:
    """Procedures compiled for ぴったり: the distinct rules, and each procedure (in order) with its rule's index.
    Evaluating it costs one pass per distinct rule over the household, whatever the catalogue's size."""

    rules: tuple[Rule, ...]
    entries: tuple[tuple[Procedure, int], ...]


def compile_rules(procedures: list[Procedure]) -> RuleSet:
    rules: dict[Rule, int] = {}
    entries = []
    for proc in procedures:
        if not proc.fits:
            continue
        rule = Rule(proc.fits.get("child_under_age"), bool(proc.fits.get("single_parent")))
        entries.append((proc, rules.setdefault(rule, len(rules))))
    return RuleSet(tuple(rules), tuple(entries))


def fit_rules(rule_set: RuleSet, children: list[HouseholdChild], today: date) -> list[Fit]:
    """ぴったり: the procedures whose rules the household meets, each with why (in words a person reads)."""
    if not children:
        return []
    met = [rule.reasons(children, today) for rule in rule_set.rules]
    return [Fit(proc, *met[index]) for proc, index in rule_set.entries if met[index][1]]


def fitting(procedures: list[Procedure], children: list[HouseholdChild], today: date) -> list[Fit]:
    return fit_rules(compile_rules(procedures), children, today)
