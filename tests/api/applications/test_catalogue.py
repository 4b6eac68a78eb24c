"""The catalogue file, search and ぴったり (pure functions)."""

from __future__ import annotations

import copy
import json
from datetime import date

import pytest

from api.applications.catalogue import (
    CATALOGUE_FILE,
    MUNICIPAL_DIR,
    CatalogueError,
    HouseholdChild,
    Procedure,
    Query,
    catalogue,
    fitting,
    form_errors,
    parse_catalogue,
    search,
)
from api.platform.errors import PortalError

TODAY = date(2026, 12, 5)


def test_the_catalogue_holds_the_four_families() -> None:
    found = catalogue()
    assert {p.category for p in found.procedures.values()} == {"child_allowance", "day_care",
                                                              "maternal_child_health", "single_parent"}
    claim = found.procedures["child_allowance_claim"]
    assert (claim.signature_required, claim.fee_yen, claim.duty, claim.applies_for) == (True, 0, "child_allowance",
                                                                                         "child")
    assert [(n.item, n.fills) for n in claim.network_items] == [("local_tax", "income")]


def test_a_broken_catalogue_is_refused() -> None:
    data = json.loads(CATALOGUE_FILE.read_text(encoding="utf-8"))
    twice = copy.deepcopy(data)
    twice["procedures"].append(twice["procedures"][0])
    with pytest.raises(CatalogueError, match="listed twice"):
        parse_catalogue(twice)
    bad_schema = copy.deepcopy(data)
    bad_schema["procedures"][0]["form"]["type"] = "objekt"
    with pytest.raises(CatalogueError, match="not a JSON Schema"):
        parse_catalogue(bad_schema)
    no_duty = copy.deepcopy(data)
    no_duty["procedures"][0]["duty"] = None
    with pytest.raises(CatalogueError, match="duty"):
        parse_catalogue(no_duty)
    unchecked = copy.deepcopy(data)  # a format this server would not check, deep in a section
    unchecked["procedures"][0]["form"]["properties"]["claimant"]["properties"]["phone"]["format"] = "uri"
    with pytest.raises(CatalogueError, match=r"formats this server does not check: \['uri'\]"):
        parse_catalogue(unchecked)


def _with_field(spec: dict) -> Procedure:
    data = json.loads(CATALOGUE_FILE.read_text(encoding="utf-8"))
    entry = data["procedures"][0]
    entry["form"] = {"type": "object", "properties": {"at": spec}, "required": ["at"]}
    return parse_catalogue(data).procedures[entry["code"]]


@pytest.mark.parametrize(("fmt", "good", "bad"), [
    ("date", "2026-12-05", ["2026-13-01", "2026-02-30", "05/12/2026", "2026-12-05T10:00:00+09:00"]),
    ("date-time", "2026-12-05T10:00:00+09:00",
     ["2026-12-05", "2026-12-05T25:00:00Z", "2026-12-05 10:00", "2026-12-05T10:00:00", "yesterday"]),
    ("time", "10:00:00+09:00", ["25:00:00Z", "10:00", "10:00:00"]),
])
def test_dates_and_times_in_forms_are_checked_by_their_format(fmt: str, good: str, bad: list[str]) -> None:
    proc = _with_field({"type": "string", "format": fmt})
    assert form_errors(proc, {"at": good}) == []
    for value in bad:
        assert form_errors(proc, {"at": value}) == [
            {"path": "/at", "message": f"{value!r} is not a {fmt!r}"}], value


def test_a_municipality_s_own_procedures_come_from_its_own_versioned_file() -> None:
    found = catalogue()
    own = found.procedures["131016_parenting_consultation"]
    assert (own.municipality, own.signature_required, found.municipal_versions) == ("131016", False,
                                                                                    {"131016": "2026.12.1"})
    assert {p.municipality for code, p in found.procedures.items() if not code.startswith("131016_")} == {None}
    data = json.loads(CATALOGUE_FILE.read_text(encoding="utf-8"))
    chiyoda = json.loads((MUNICIPAL_DIR / "131016.json").read_text(encoding="utf-8"))
    unprefixed = copy.deepcopy(chiyoda)
    unprefixed["procedures"][0]["code"] = "parenting_consultation"
    with pytest.raises(CatalogueError, match="begins with 131016_"):
        parse_catalogue(data, [unprefixed])
    with pytest.raises(CatalogueError, match="6-digit municipality code, once"):
        parse_catalogue(data, [chiyoda, chiyoda])
    with pytest.raises(CatalogueError, match="6-digit"):
        parse_catalogue(data, [{**chiyoda, "municipality": "13101"}])
    national_code = copy.deepcopy(chiyoda)
    national_code["municipality"], national_code["procedures"][0]["code"] = "131016", "131016_x"
    assert parse_catalogue(data, [national_code]).procedures["131016_x"].municipality == "131016"


def test_search_folds_kana_and_width_and_needs_every_word() -> None:
    procedures = list(catalogue().procedures.values())

    def codes(**query: str) -> list[str]:
        return [p.code for p in search(procedures, Query(**query))]

    assert codes(keyword="にんしん") == ["pregnancy_notification"]
    assert codes(keyword="ﾎｲｸ") == ["day_care_application"]
    assert codes(keyword="ひとり親") == ["child_rearing_allowance_claim"]
    assert codes(keyword="児童手当　現況届") == ["child_allowance_status"]
    assert codes(keyword="保育 妊娠") == ["day_care_application"]  # 妊娠・出産 is one of its life events
    assert codes(keyword="保育 離婚") == []
    assert codes(life_event="single_parent") == ["child_rearing_allowance_claim"]
    with pytest.raises(PortalError) as caught:
        codes(life_event="wedding")
    assert caught.value.extensions == {"field": "lifeEvent"}


def test_pittari_says_why_each_procedure_fits() -> None:
    procedures = list(catalogue().procedures.values())
    baby = HouseholdChild("山田 花", date(2025, 1, 2), parents=2)
    fits = fitting(procedures, [baby], TODAY)
    assert [(f.procedure.code, f.reasons) for f in fits] == [
        ("child_allowance_claim", ("山田 花さん（1歳）は18歳未満です",)),
        ("day_care_application", ("山田 花さん（1歳）は6歳未満です",))]
    alone = HouseholdChild("山田 一郎", date(2019, 6, 10), parents=1)
    fits = fitting(procedures, [alone], TODAY)
    assert [(f.procedure.code, f.reasons) for f in fits] == [
        ("child_allowance_claim", ("山田 一郎さん（7歳）は18歳未満です",)),
        ("child_rearing_allowance_claim", ("山田 一郎さん（7歳）は18歳未満です。ひとり親の世帯です",))]
    grown = HouseholdChild("山田 大人", date(2000, 1, 1), parents=1)
    assert fitting(procedures, [grown], TODAY) == []
    assert fitting(procedures, [], TODAY) == []
