"""The card's PIN rules, checked before a card is personalised."""

from __future__ import annotations

import pytest

from nfc_bridge.virtual_card.personalise import SANDBOX_PINS, CardPins


@pytest.mark.parametrize("pins", [SANDBOX_PINS, CardPins("0000", "ABCDEF", "9999"),
                                  CardPins("1234", "A1B2C3D4E5F6G7H8", "5678")])
def test_pins_the_card_takes(pins: CardPins) -> None:
    pins.check()


@pytest.mark.parametrize(("pins", "message"), [
    (CardPins("123", "ABC123", "5678"), "the authentication and card-info PINs are 4 digits"),
    (CardPins("1234", "ABC123", "567a"), "the authentication and card-info PINs are 4 digits"),
    (CardPins("1234", "ABC12", "5678"), "the signature password is 6-16 characters A-Z and 0-9"),
    (CardPins("1234", "abc123", "5678"), "the signature password is 6-16 characters A-Z and 0-9"),
    (CardPins("1234", "ABC-123", "5678"), "the signature password is 6-16 characters A-Z and 0-9"),
    (CardPins("1234", "A" * 17, "5678"), "the signature password is 6-16 characters A-Z and 0-9"),
])
def test_pins_the_card_refuses(pins: CardPins, message: str) -> None:
    with pytest.raises(ValueError) as refused:
        pins.check()
    assert str(refused.value) == message
