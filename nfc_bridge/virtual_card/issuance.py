"""A card issuance bundle, as a card issuer hands it over (the portal's sandbox CA writes one with
`mynaportal sandbox issue-card`), made into a virtual card file (`myna-bridge virtual-card load`).

The bundle is one JSON object; keys are PKCS#8 PEM, certificates PEM:

    {"format": "mynaportal-card-issuance/1",
     "auth_key": ..., "auth_certificate": ..., "auth_ca_certificate": ...,
     "sign_key": ..., "sign_certificate": ..., "sign_ca_certificate": ...,
     "card_info": {"individual_number": "12 digits", "name": ..., "address": ..., "birth_date": "YYYY-MM-DD",
                   "sex": "1|2|9|0", "expiry_year": 2031, "security_code": "4 digits"}}

It holds no PINs: the holder chooses them when the card is made, as at the municipal office.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from nfc_bridge.virtual_card.personalise import TOKEN_CARD, CardContents, CardPins, personalise
from nfc_bridge.virtual_card.store import CardData, CardInfoData

FORMAT = "mynaportal-card-issuance/1"
BUNDLE_SUFFIX = ".issuance.json"
_CARD_INFO_FIELDS = ("individual_number", "name", "address", "birth_date", "sex", "expiry_year", "security_code")


def _certificate(bundle: dict[str, Any], field: str) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(str(bundle[field]).encode())
    except (KeyError, ValueError) as error:
        raise ValueError(f"the issuance bundle's {field} is not a PEM certificate") from error


def _key_for(bundle: dict[str, Any], field: str, certificate: x509.Certificate) -> str:
    try:
        key = serialization.load_pem_private_key(str(bundle[field]).encode(), password=None)
    except (KeyError, ValueError, TypeError) as error:
        raise ValueError(f"the issuance bundle's {field} is not an unencrypted PEM private key") from error
    if key.public_key() != certificate.public_key():
        raise ValueError(f"the issuance bundle's {field} does not match its certificate")
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def _der_b64(certificate: x509.Certificate) -> str:
    return base64.b64encode(certificate.public_bytes(serialization.Encoding.DER)).decode()


def card_from_bundle(text: str, pins: CardPins, token: str = TOKEN_CARD) -> CardData:
    """The card file for an issuance bundle, with the holder's PINs set. ValueError when the bundle is unusable."""
    try:
        bundle = json.loads(text)
    except ValueError as error:
        raise ValueError("the issuance bundle is not JSON") from error
    if not isinstance(bundle, dict) or bundle.get("format") != FORMAT:
        raise ValueError(f"not a card issuance bundle (expected format {FORMAT!r})")
    info = bundle.get("card_info")
    if not isinstance(info, dict) or set(info) != set(_CARD_INFO_FIELDS):
        raise ValueError(f"the issuance bundle's card_info needs exactly {', '.join(_CARD_INFO_FIELDS)}")
    auth, sign = _certificate(bundle, "auth_certificate"), _certificate(bundle, "sign_certificate")
    contents = CardContents(
        auth_key_pem=_key_for(bundle, "auth_key", auth), sign_key_pem=_key_for(bundle, "sign_key", sign),
        auth_cert=_der_b64(auth), auth_ca_cert=_der_b64(_certificate(bundle, "auth_ca_certificate")),
        sign_cert=_der_b64(sign), sign_ca_cert=_der_b64(_certificate(bundle, "sign_ca_certificate")),
        card_info=CardInfoData(**info),
    )
    return personalise(contents, pins, token)


def card_path_for(bundle: Path) -> Path:
    """Where the card made from ``bundle`` goes: ``taro.issuance.json`` -> ``taro.json``."""
    if bundle.name.endswith(BUNDLE_SUFFIX):
        return bundle.with_name(bundle.name.removesuffix(BUNDLE_SUFFIX) + ".json")
    return bundle.with_name(bundle.stem + ".card.json")


def bundles_in(paths: list[Path]) -> list[Path]:
    """The bundles named: files as given, folders for every ``*.issuance.json`` in them."""
    found: list[Path] = []
    for path in paths:
        if not path.exists():
            raise ValueError(f"no bundle or folder {path}")
        found.extend(sorted(path.glob(f"*{BUNDLE_SUFFIX}")) if path.is_dir() else [path])
    return found
