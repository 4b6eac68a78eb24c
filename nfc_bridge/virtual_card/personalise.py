"""Personalising a virtual card: its keys, certificates and card-info facts, plus the three PINs the holder
chooses (stored only as hashes), become a card file. Both card issuers use it: the bridge's own test CA
(``ca.CardCA``) and an issuance bundle from the portal's sandbox CA (``issuance``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from nfc_bridge.card_info import collation_number_b, is_valid_individual_number
from nfc_bridge.virtual_card.store import CardData, CardInfoData, PinRecord

TOKEN_CARD = "JPKIAPICCTOKEN2"  # noqa: S105 - a token-type name, not a secret
TOKEN_ANDROID = "JPKIAPGPSETOKEN"  # noqa: S105 - a token-type name, not a secret


@dataclass(frozen=True)
class CardPins:
    auth_pin: str
    sign_password: str
    card_info_pin: str

    def check(self) -> None:
        """The card's own rules; ValueError names the one broken."""
        if not all(len(pin) == 4 and pin.isdigit() for pin in (self.auth_pin, self.card_info_pin)):
            raise ValueError("the authentication and card-info PINs are 4 digits")
        password = self.sign_password
        if not (6 <= len(password) <= 16 and password.isascii() and password.isalnum()
                and password == password.upper()):
            raise ValueError("the signature password is 6-16 characters A-Z and 0-9")


# The sandbox's documented defaults (printed by `make run`, used by the demo cards).
SANDBOX_PINS = CardPins("1234", "ABC123", "5678")


@dataclass(frozen=True)
class CardContents:
    """What an issuer puts on a card: private keys as PKCS#8 PEM, certificates as base64 DER, card-info facts."""

    auth_key_pem: str
    sign_key_pem: str
    auth_cert: str
    auth_ca_cert: str
    sign_cert: str
    sign_ca_cert: str
    card_info: CardInfoData


def personalise(contents: CardContents, pins: CardPins, token: str = TOKEN_CARD) -> CardData:
    """The card file for ``contents`` with ``pins`` set and every try counter full."""
    pins.check()
    info = contents.card_info
    if not is_valid_individual_number(info.individual_number):
        raise ValueError("invalid individual number (check digit)")
    collation_b = collation_number_b(dt.date.fromisoformat(info.birth_date), info.expiry_year, info.security_code)
    return CardData(
        token=token, auth_key_pem=contents.auth_key_pem, sign_key_pem=contents.sign_key_pem,
        auth_cert=contents.auth_cert, auth_ca_cert=contents.auth_ca_cert,
        sign_cert=contents.sign_cert, sign_ca_cert=contents.sign_ca_cert,
        pins={
            "jpki/0018": PinRecord.create(pins.auth_pin, 3),
            "jpki/001B": PinRecord.create(pins.sign_password, 5),
            "text/0011": PinRecord.create(pins.card_info_pin, 3),
            "text/0014": PinRecord.create(info.individual_number, 10),
            "text/0015": PinRecord.create(collation_b, 10),
            "visual/0013": PinRecord.create(info.individual_number, 10),
            "visual/0012": PinRecord.create(collation_b, 10),
        },
        card_info=info,
    )
