"""An issuance bundle (PEM keys and certificates, card facts) made into a working virtual card."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nfc_bridge.jpki import Cert, MyNumberCard, Pin
from nfc_bridge.virtual_card.card import VirtualCard
from nfc_bridge.virtual_card.issuance import bundles_in, card_from_bundle, card_path_for
from nfc_bridge.virtual_card.personalise import SANDBOX_PINS, TOKEN_CARD, CardPins
from nfc_bridge.virtual_card.store import CardData
from nfc_bridge.virtual_card.transport import VirtualTransport
from tests.nfc_bridge.conftest import issuance_bundle


def test_a_bundle_becomes_a_card_with_the_chosen_pins(card_template: CardData) -> None:
    data = card_from_bundle(json.dumps(issuance_bundle(card_template)), CardPins("4321", "NEWPASS1", "8765"))
    assert data.token == TOKEN_CARD and data.card_info == card_template.card_info
    assert {name: (r.max_tries, r.tries_left) for name, r in data.pins.items()} == {
        "jpki/0018": (3, 3), "jpki/001B": (5, 5), "text/0011": (3, 3), "text/0014": (10, 10),
        "text/0015": (10, 10), "visual/0013": (10, 10), "visual/0012": (10, 10)}
    card = MyNumberCard(VirtualTransport(VirtualCard(data)))
    card.select_jpki()
    assert card.read_certificate(Cert.AUTH) == card_template.der("auth_cert")
    card.verify_pin(Pin.AUTH, "4321")
    card.verify_pin(Pin.SIGN, "NEWPASS1")
    assert card.read_basic4("8765").name == "山田　太郎"
    # The collation number B (birth date, expiry year, security code) is the template's, as the facts are.
    assert data.pins["text/0015"].matches(b"55021720352285")


@pytest.mark.parametrize(("change", "message"), [
    ({"format": "something-else/1"}, "not a card issuance bundle (expected format 'mynaportal-card-issuance/1')"),
    ({"auth_key": "not a key"}, "the issuance bundle's auth_key is not an unencrypted PEM private key"),
    ({"sign_certificate": "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n"},
     "the issuance bundle's sign_certificate is not a PEM certificate"),
    ({"card_info": {"name": "山田　太郎"}}, "the issuance bundle's card_info needs exactly individual_number, "
                                              "name, address, birth_date, sex, expiry_year, security_code"),
])
def test_an_unusable_bundle_is_refused(card_template: CardData, change: dict, message: str) -> None:
    with pytest.raises(ValueError) as refused:
        card_from_bundle(json.dumps({**issuance_bundle(card_template), **change}), SANDBOX_PINS)
    assert str(refused.value) == message


def test_a_key_that_is_not_the_certificates_is_refused(card_template: CardData) -> None:
    swapped = {**issuance_bundle(card_template), "auth_key": card_template.sign_key_pem}
    with pytest.raises(ValueError, match=r"^the issuance bundle's auth_key does not match its certificate$"):
        card_from_bundle(json.dumps(swapped), SANDBOX_PINS)


def test_a_bad_individual_number_or_pin_is_refused(card_template: CardData) -> None:
    bundle = issuance_bundle(card_template)
    wrong_number = {**bundle, "card_info": {**bundle["card_info"], "individual_number": "621498320258"}}
    with pytest.raises(ValueError, match=r"^invalid individual number \(check digit\)$"):
        card_from_bundle(json.dumps(wrong_number), SANDBOX_PINS)
    with pytest.raises(ValueError, match=r"^the authentication and card-info PINs are 4 digits$"):
        card_from_bundle(json.dumps(bundle), CardPins("12345", "ABC123", "5678"))


def test_where_cards_go_and_which_bundles_a_folder_holds(tmp_path: Path) -> None:
    assert card_path_for(tmp_path / "taro.issuance.json") == tmp_path / "taro.json"
    assert card_path_for(tmp_path / "taro.json") == tmp_path / "taro.card.json"
    for name in ("b.issuance.json", "a.issuance.json", "c.json"):
        (tmp_path / name).write_text("{}")
    assert bundles_in([tmp_path]) == [tmp_path / "a.issuance.json", tmp_path / "b.issuance.json"]
    assert bundles_in([tmp_path / "c.json"]) == [tmp_path / "c.json"]
    with pytest.raises(ValueError, match=r"^no bundle or folder "):
        bundles_in([tmp_path / "missing"])
