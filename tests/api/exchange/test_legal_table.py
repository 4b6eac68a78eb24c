"""The legal table file: it loads, cites its source, says what 別表第二 says for the rows the services need, and a
file that contradicts itself does not load."""

from __future__ import annotations

import copy
import tomllib

import pytest

from api.agencies.models import AgencyKind
from api.exchange.legal_table import (
    OTHER_LAW_FILES,
    TABLE_FILE,
    LegalTableError,
    legal_table,
    parse_table,
    with_other_law,
)

M, P, INS = AgencyKind.MUNICIPALITY, AgencyKind.PENSION, AgencyKind.INSURER


def test_the_table_cites_its_instrument_and_date_and_says_what_is_unconfirmed() -> None:
    table = legal_table()
    assert table.as_of == "2015-09-09" and "別表第二" in table.instrument
    assert table.source["ordinance_confirmed"] is False and table.source["later_changes_applied"] is False
    assert len({row.id for row in table.rows}) == len(table.rows)


@pytest.mark.parametrize(("duty", "requester", "provider", "items", "row"), [
    ("child_allowance", M, M, {"local_tax"}, "beppyo2:74:1"),
    ("child_allowance", M, P, {"pension_benefit"}, "beppyo2:75:1"),
    ("child_care_benefit", M, M, {"local_tax", "resident_record"}, "beppyo2:116:2"),
    ("maternal_child_health_fees", M, M, {"resident_record"}, "beppyo2:70:2"),
    ("child_rearing_allowance", M, M, {"local_tax", "resident_record"}, "beppyo2:57:2"),
    ("national_pension_contributions", P, M, {"local_tax", "resident_record"}, "beppyo2:48:1"),
    ("national_health_insurance", M, M, {"local_tax", "resident_record", "long_term_care"}, "beppyo2:42:2"),
    ("national_health_insurance", M, INS, {"medical_insurance_benefit"}, "beppyo2:42:1"),
    ("public_assistance", M, M, {"local_tax", "child_allowance"}, "beppyo2:26:5"),
])
def test_rows_the_services_need(duty: str, requester: AgencyKind, provider: AgencyKind, items: set[str],
                                row: str) -> None:
    found = legal_table().row_for(duty, requester, provider, frozenset(items))
    assert found is not None and found.id == row


@pytest.mark.parametrize(("duty", "requester", "provider", "items"), [
    ("child_allowance", M, M, {"resident_record"}),  # not in the 2015 text of 項 74
    ("child_allowance", P, M, {"local_tax"}),  # the requester of 項 74 is a 市町村長
    ("public_assistance", M, M, {"resident_record"}),  # 項 26's 市町村長 line names no 住民票関係情報
    ("national_pension_exemption", P, M, {"local_tax"}),  # 項 50 asks municipalities only about 施設入所者
])
def test_rows_the_text_does_not_have(duty: str, requester: AgencyKind, provider: AgencyKind, items: set[str]) -> None:
    assert legal_table().row_for(duty, requester, provider, frozenset(items)) is None


def _data() -> dict:
    with TABLE_FILE.open("rb") as file:
        return tomllib.load(file)


@pytest.mark.parametrize("spoil", [
    lambda d: d["rows"][0].update(provider="都道府県知事"),  # a role with no agency kinds
    lambda d: d["rows"][0].update(items=["no_such_item"]),
    lambda d: d["rows"][0].update(duty="no_such_duty"),
    lambda d: d["rows"][1].update(id=d["rows"][0]["id"]),
    lambda d: d["rows"][0].update(row=999),
])
def test_a_contradictory_file_does_not_load(spoil) -> None:  # type: ignore[no-untyped-def]
    data = copy.deepcopy(_data())
    spoil(data)
    with pytest.raises(LegalTableError):
        parse_table(data)


def test_another_law_s_rows_keep_their_own_instrument_version_and_provider() -> None:
    table = legal_table()
    own = table.row("beppyo2:74:1")
    koukin = table.row("koukin:10:1")
    assert own is not None and koukin is not None
    assert (own.version, own.instrument.endswith("別表第二")) == ("2015-09-09.1", True)
    assert (koukin.version, koukin.provider_slug, koukin.items) == ("2021-05-19.1", "digital-agency",
                                                                   frozenset({"public_benefit_account"}))
    assert table.row_for("child_allowance", AgencyKind.MUNICIPALITY, AgencyKind.MINISTRY,
                         frozenset({"public_benefit_account"}), "digital-agency") == koukin
    assert table.row_for("child_allowance", AgencyKind.MUNICIPALITY, AgencyKind.MINISTRY,
                         frozenset({"public_benefit_account"}), "another-ministry") is None
    assert table.version == "2015-09-09.1"  # the table's own version stays 別表第二's


@pytest.mark.parametrize("spoil", [
    lambda d: d.update(id_prefix="beppyo2"),
    lambda d: d["rows"][0].update(id="koukin:11:1"),
    lambda d: d["rows"][0].update(duty="no_such_duty"),
    lambda d: d["rows"][0].update(items=["local_tax"]),
    lambda d: d["rows"].append(dict(d["rows"][0])),
])
def test_a_contradictory_other_law_does_not_load(spoil) -> None:  # type: ignore[no-untyped-def]
    base = parse_table(tomllib.loads(TABLE_FILE.read_text(encoding="utf-8")))
    data = tomllib.loads(OTHER_LAW_FILES[0].read_text(encoding="utf-8"))
    assert with_other_law(base, copy.deepcopy(data)).row("koukin:10:2") is not None
    spoil(data)
    with pytest.raises(LegalTableError):
        with_other_law(base, data)
