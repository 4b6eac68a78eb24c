from __future__ import annotations

import hashlib
import hmac
import os

import pkcs11
import pytest
from cryptography.exceptions import InvalidTag
from pkcs11 import Attribute, KeyType, ObjectClass

from api.platform.keys import KeyGenerationUnknown, Pkcs11KeySource, StaticKeySource
from tests.softhsm import PIN, TOKEN

DATA, LOOKUP = bytes(range(32)), bytes(range(32, 64))
AAD = b"mynaportal:test"


def test_the_settings_source_writes_with_the_first_generation_and_reads_all() -> None:
    source = StaticKeySource({3: bytes([3]) * 32, 1: DATA}, {1: LOOKUP})
    assert source.generations("data") == (3, 1) and source.generations("lookup") == (1,)
    nonce = os.urandom(12)
    sealed = source.encrypt(1, nonce, b"621498320257", AAD)
    assert source.decrypt(1, nonce, sealed, AAD) == b"621498320257"
    with pytest.raises(InvalidTag):
        source.decrypt(3, nonce, sealed, AAD)
    assert source.mac(1, b"x") == hmac.new(LOOKUP, b"x", hashlib.sha256).digest()
    source.retire("data", 1)
    with pytest.raises(KeyGenerationUnknown):
        source.decrypt(1, nonce, sealed, AAD)
    with pytest.raises(ValueError, match="32 bytes"):
        StaticKeySource({1: b"short"}, {1: LOOKUP})


def _token_session(module: str) -> pkcs11.Session:
    token = pkcs11.lib(module).get_token(token_label=TOKEN)
    try:
        return token.open(rw=True, user_pin=PIN)
    except pkcs11.exceptions.UserAlreadyLoggedIn:
        return token.open(rw=True)


def test_hsm_keys_are_generated_inside_and_never_leave(hsm_source: Pkcs11KeySource, softhsm: str) -> None:
    assert (hsm_source.add_generation("data"), hsm_source.add_generation("data")) == (1, 2)
    assert hsm_source.add_generation("lookup") == 1
    assert (hsm_source.generations("data"), hsm_source.generations("lookup")) == ((2, 1), (1,))
    with _token_session(softhsm) as session:
        key = session.get_key(object_class=ObjectClass.SECRET_KEY, label="mynaportal-data-2")
        assert (key[Attribute.SENSITIVE], key[Attribute.EXTRACTABLE]) == (True, False)
        with pytest.raises(pkcs11.exceptions.AttributeSensitive):
            key[Attribute.VALUE]
    nonce = os.urandom(12)
    sealed = hsm_source.encrypt(2, nonce, b"621498320257", AAD)
    assert hsm_source.decrypt(2, nonce, sealed, AAD) == b"621498320257"
    with pytest.raises(InvalidTag):
        hsm_source.decrypt(1, nonce, sealed, AAD)
    hsm_source.retire("data", 2)
    assert hsm_source.generations("data") == (1,)
    # Another process's view of the token: the retired key is gone from it, not only from this process.
    other = Pkcs11KeySource(softhsm, TOKEN, PIN)
    assert other.generations("data") == (1,) and other.generations("lookup") == (1,)
    with pytest.raises(KeyGenerationUnknown):
        other.decrypt(2, nonce, sealed, AAD)


def test_the_hsm_computes_the_same_aes_gcm_and_hmac_as_the_software(hsm_source: Pkcs11KeySource,
                                                                      softhsm: str) -> None:
    # Existing keys imported into the token (as an operator moving to an HSM would) give the same results.
    with _token_session(softhsm) as session:
        for label, key_type, value, usage in (("mynaportal-data-5", KeyType.AES, DATA, (Attribute.ENCRYPT,
                                                                                        Attribute.DECRYPT)),
                                              ("mynaportal-lookup-5", KeyType.GENERIC_SECRET, LOOKUP,
                                               (Attribute.SIGN,))):
            session.create_object({Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.KEY_TYPE: key_type,
                                   Attribute.VALUE: value, Attribute.LABEL: label, Attribute.TOKEN: True,
                                   Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False,
                                   **dict.fromkeys(usage, True)})
    hsm_source.reload()
    software = StaticKeySource({5: DATA}, {5: LOOKUP})
    nonce = os.urandom(12)
    from_hsm = hsm_source.encrypt(5, nonce, b"621498320257", AAD)
    assert from_hsm == software.encrypt(5, nonce, b"621498320257", AAD)
    assert software.decrypt(5, nonce, from_hsm, AAD) == b"621498320257"
    assert hsm_source.mac(5, b"621498320257") == software.mac(5, b"621498320257")
    tampered = bytes([from_hsm[0] ^ 1]) + from_hsm[1:]
    with pytest.raises(InvalidTag):
        hsm_source.decrypt(5, nonce, tampered, AAD)
    with pytest.raises(InvalidTag):
        hsm_source.decrypt(5, nonce, from_hsm, b"another column")


def test_another_process_sees_a_new_generation_without_a_restart(hsm_source: Pkcs11KeySource, softhsm: str) -> None:
    hsm_source.add_generation("data")
    server = Pkcs11KeySource(softhsm, TOKEN, PIN, refresh_seconds=3600)
    assert server.generations("data") == (1,)
    hsm_source.add_generation("data")  # `mynaportal keys add --data` elsewhere
    nonce = os.urandom(12)
    sealed = hsm_source.encrypt(2, nonce, b"621498320257", AAD)
    # A row already moved to generation 2 makes the server look again at once.
    assert server.decrypt(2, nonce, sealed, AAD) == b"621498320257"
    assert server.generations("data") == (2, 1)
    polling = Pkcs11KeySource(softhsm, TOKEN, PIN, refresh_seconds=0)
    hsm_source.add_generation("data")
    assert polling.generations("data") == (3, 2, 1)
