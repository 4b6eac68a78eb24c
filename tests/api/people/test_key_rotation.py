from __future__ import annotations

import asyncio
from datetime import date

import pytest
from cryptography.exceptions import InvalidTag
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from api.people.individual_number import IndividualNumberCipher, cipher_for
from api.people.key_rotation import (
    BatchProgress,
    ReencryptionFailed,
    reencrypt,
    retire_generation,
    rotation_status,
)
from api.people.models import Person, Sex
from api.people.service import decrypt_number, find_by_individual_number
from api.platform.db import create_session_factory
from api.platform.errors import PortalError
from api.platform.keys import KeyGenerationUnknown, Pkcs11KeySource, StaticKeySource
from tests.conftest import TEST_DATA_KEY, TEST_LOOKUP_KEY, make_settings
from tests.factories import individual_number, make_municipality, make_person
from tests.softhsm import PIN, TOKEN

DATA_2, LOOKUP_2 = bytes([7]) * 32, bytes([9]) * 32


def old_cipher() -> IndividualNumberCipher:
    return IndividualNumberCipher(TEST_DATA_KEY, TEST_LOOKUP_KEY)


def rotated_cipher(*, data: bool = True, lookup: bool = True) -> IndividualNumberCipher:
    """Generation 2 first (it writes), generation 1 still reads."""
    data_keys = {2: DATA_2, 1: TEST_DATA_KEY} if data else {1: TEST_DATA_KEY}
    lookup_keys = {2: LOOKUP_2, 1: TEST_LOOKUP_KEY} if lookup else {1: TEST_LOOKUP_KEY}
    return IndividualNumberCipher(TEST_DATA_KEY, keys=StaticKeySource(data_keys, lookup_keys))


def numbers(count: int, start: int = 0) -> list[str]:
    return [individual_number(f"{10_000_000_000 + start + i:011d}") for i in range(count)]


async def register(factory: async_sessionmaker[AsyncSession], cipher: IndividualNumberCipher,
                   wanted: list[str], *, with_municipality: bool = False) -> None:
    async with factory() as session, session.begin():
        if with_municipality:
            await make_municipality(session)
        for number in wanted:
            await make_person(session, cipher, number=number)


async def all_findable(factory: async_sessionmaker[AsyncSession], cipher: IndividualNumberCipher,
                       wanted: list[str]) -> bool:
    async with factory() as session, session.begin():
        for number in wanted:
            person = await find_by_individual_number(session, cipher, number)
            if person is None or decrypt_number(cipher, person) != number:
                return False
    return True


async def generations(factory: async_sessionmaker[AsyncSession]) -> list[tuple[int, int, int]]:
    async with factory() as session:
        rows = await session.execute(select(Person.number_key_generation, Person.number_lookup_generation,
                                            func.count()).group_by(Person.number_key_generation,
                                                                   Person.number_lookup_generation)
                                     .order_by(Person.number_key_generation))
        return [tuple(row) for row in rows]  # type: ignore[misc]


async def test_the_new_generation_writes_and_the_old_one_still_reads(engine: AsyncEngine) -> None:
    factory = create_session_factory(engine)
    old, new = numbers(3), numbers(2, start=100)
    await register(factory, old_cipher(), old, with_municipality=True)
    cipher = rotated_cipher()
    await register(factory, cipher, new)
    assert await generations(factory) == [(1, 1, 3), (2, 2, 2)]
    assert await all_findable(factory, cipher, old + new)
    # The old configuration cannot read the new rows: generation 2 is really another key.
    assert not await all_findable(factory, old_cipher(), new)
    status = await rotation_status(factory, cipher)
    assert (status.active, status.rows, status.total, status.pending) == (
        {"data": (2, 1), "lookup": (2, 1)}, {"data": {1: 3, 2: 2}, "lookup": {1: 3, 2: 2}}, 5, 3)


async def test_a_number_under_an_old_lookup_generation_cannot_register_again(engine: AsyncEngine) -> None:
    factory = create_session_factory(engine)
    [number] = numbers(1)
    await register(factory, old_cipher(), [number], with_municipality=True)
    with pytest.raises(PortalError) as raised:
        await register(factory, rotated_cipher(), [number])
    assert raised.value.code == "PERSON_ALREADY_REGISTERED" and number not in str(raised.value)
    assert await generations(factory) == [(1, 1, 1)]


async def test_people_stay_findable_while_the_job_moves_rows_and_writes_go_on(engine: AsyncEngine) -> None:
    factory = create_session_factory(engine)
    first = numbers(23)
    await register(factory, old_cipher(), first, with_municipality=True)
    cipher = rotated_cipher()
    registered = list(first)
    seen: list[tuple[int, int]] = []

    async def between_batches(progress: BatchProgress) -> None:
        # At every point of the job: everyone is found and decrypted, and both configurations keep writing.
        assert await all_findable(factory, cipher, registered)
        extra = numbers(2, start=1000 + 2 * progress.batches)
        await register(factory, old_cipher(), extra[:1])  # a server not yet restarted
        await register(factory, cipher, extra[1:])
        registered.extend(extra)
        seen.append((progress.batches, progress.moved))

    moved = await reencrypt(factory, cipher, batch=5, on_batch=between_batches)
    batches = len(seen)
    assert batches >= 5 and [b for b, _ in seen] == list(range(1, batches + 1))
    assert all(0 < later - earlier <= 5 for (_, earlier), (_, later) in zip([(0, 0), *seen], seen, strict=False))
    # Rows the old configuration wrote behind the job's position (ids are random) wait for the next run; each
    # old-configuration row moves exactly once over the two runs.
    rest = await reencrypt(factory, cipher, batch=5)
    assert moved + rest == 23 + batches
    assert await generations(factory) == [(2, 2, 23 + 2 * batches)]
    assert await reencrypt(factory, cipher, batch=5) == 0
    assert await all_findable(factory, cipher, registered)


async def test_an_interrupted_job_resumes_and_moves_every_row_exactly_once(engine: AsyncEngine) -> None:
    factory = create_session_factory(engine)
    wanted = numbers(20)
    await register(factory, old_cipher(), wanted, with_municipality=True)
    cipher = rotated_cipher()

    def stop_after_two(progress: BatchProgress) -> None:
        if progress.batches == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        await reencrypt(factory, cipher, batch=6, on_batch=stop_after_two)
    assert await generations(factory) == [(1, 1, 8), (2, 2, 12)]

    # Killed inside a batch: its transaction rolls back and no row of it has moved.
    failing = FailingSource(cipher.keys, fail_on_encrypt=3)
    with pytest.raises(RuntimeError, match="HSM gone"):
        await reencrypt(factory, IndividualNumberCipher(TEST_DATA_KEY, keys=failing), batch=6)
    assert await generations(factory) == [(1, 1, 8), (2, 2, 12)]

    assert await reencrypt(factory, cipher, batch=6) == 8
    assert await reencrypt(factory, cipher, batch=6) == 0
    assert await generations(factory) == [(2, 2, 20)]
    assert await all_findable(factory, cipher, wanted)


async def test_two_jobs_at_once_move_each_row_once(engine: AsyncEngine) -> None:
    factory = create_session_factory(engine)
    wanted = numbers(40)
    await register(factory, old_cipher(), wanted, with_municipality=True)
    cipher = rotated_cipher()
    moved = await asyncio.gather(reencrypt(factory, cipher, batch=4), reencrypt(factory, cipher, batch=4))
    assert sum(moved) == 40
    assert await generations(factory) == [(2, 2, 40)]
    assert await all_findable(factory, cipher, wanted)


async def test_a_lookup_only_rotation_keeps_the_ciphertext(engine: AsyncEngine) -> None:
    factory = create_session_factory(engine)
    wanted = numbers(3)
    await register(factory, old_cipher(), wanted, with_municipality=True)
    async with factory() as session:
        before = set(await session.scalars(select(Person.individual_number_ciphertext)))
    cipher = rotated_cipher(data=False)
    assert await reencrypt(factory, cipher) == 3
    async with factory() as session:
        assert set(await session.scalars(select(Person.individual_number_ciphertext))) == before
    assert await generations(factory) == [(1, 2, 3)]
    assert await all_findable(factory, cipher, wanted)


async def test_retiring_is_refused_while_rows_use_the_generation_and_ends_its_reads(engine: AsyncEngine) -> None:
    factory = create_session_factory(engine)
    wanted = numbers(4)
    await register(factory, old_cipher(), wanted, with_municipality=True)
    cipher = rotated_cipher()
    for kind, generation, code in (("data", 1, "KEY_GENERATION_IN_USE"), ("lookup", 1, "KEY_GENERATION_IN_USE"),
                                   ("data", 2, "KEY_GENERATION_IN_USE"), ("data", 3, "KEY_GENERATION_UNKNOWN")):
        with pytest.raises(PortalError) as raised:
            await retire_generation(factory, cipher, kind, generation)  # type: ignore[arg-type]
        assert raised.value.code == code
    with pytest.raises(PortalError) as raised:
        await retire_generation(factory, cipher, "data", 1)
    assert raised.value.extensions == {"rows": 4}
    assert cipher.keys.generations("data") == (2, 1)
    async with factory() as session:
        person = await session.scalar(select(Person).limit(1))
    assert person is not None
    old_blob = person.individual_number_ciphertext
    assert cipher.decrypt(old_blob, 1) in wanted  # the old generation decrypts until retired

    assert await reencrypt(factory, cipher) == 4
    await retire_generation(factory, cipher, "data", 1)
    await retire_generation(factory, cipher, "lookup", 1)
    assert (cipher.keys.generations("data"), cipher.keys.generations("lookup")) == ((2,), (2,))
    with pytest.raises(KeyGenerationUnknown):
        cipher.decrypt(old_blob, 1)
    assert await all_findable(factory, cipher, wanted)


async def test_a_row_that_does_not_decrypt_stops_the_job_naming_the_row_not_the_number(
        engine: AsyncEngine) -> None:
    factory = create_session_factory(engine)
    [number] = numbers(1)
    await register(factory, old_cipher(), [number], with_municipality=True)
    wrong = IndividualNumberCipher(TEST_DATA_KEY, keys=StaticKeySource({2: DATA_2, 1: bytes(32)},
                                                                       {1: TEST_LOOKUP_KEY}))
    with pytest.raises(Exception, match="does not decrypt under data key generation 1") as raised:
        await reencrypt(factory, wrong)
    assert isinstance(raised.value.__cause__, InvalidTag) and number not in str(raised.value)
    assert await generations(factory) == [(1, 1, 1)]


async def test_a_number_registered_twice_in_a_race_stops_the_job_without_moving_its_batch(
        engine: AsyncEngine) -> None:
    factory = create_session_factory(engine)
    [number, other] = numbers(2)
    await register(factory, old_cipher(), [number, other], with_municipality=True)
    # What two servers on two configurations could write at the same moment: the number under both generations.
    sealed = rotated_cipher().seal(number)
    async with factory() as session, session.begin():
        session.add(Person(name="二重", name_kana="ニジュウ", birth_date=date(1990, 1, 1), sex=Sex.FEMALE,
                           address="東京都", municipality_code="131016",
                           individual_number_ciphertext=sealed.ciphertext, number_key_generation=2,
                           individual_number_hash=sealed.lookup_hash, number_lookup_generation=2))
    with pytest.raises(ReencryptionFailed, match="registered twice") as raised:
        await reencrypt(factory, rotated_cipher(), batch=10)
    assert number not in str(raised.value)
    assert await generations(factory) == [(1, 1, 2), (2, 2, 1)]


async def test_a_rotation_with_the_keys_inside_a_pkcs11_token(engine: AsyncEngine, database_url: str,
                                                              hsm_source: Pkcs11KeySource, softhsm: str) -> None:
    factory = create_session_factory(engine)
    settings = make_settings(database_url, key_source="pkcs11", pkcs11_module=softhsm, pkcs11_token=TOKEN,
                             pkcs11_pin=PIN)
    with pytest.raises(ValueError, match="holds no data key: run `mynaportal keys add --data`"):
        cipher_for(settings)  # an empty token: the server refuses to start
    hsm_source.add_generation("data")
    hsm_source.add_generation("lookup")
    cipher = cipher_for(settings)  # a server's own session on the token
    assert isinstance(cipher.keys, Pkcs11KeySource)
    wanted = numbers(12)
    await register(factory, cipher, wanted[:8], with_municipality=True)
    async with factory() as session:
        old_blob = await session.scalar(select(Person.individual_number_ciphertext).limit(1))
    assert old_blob is not None

    # `keys add` in another process; the servers restart and see generation 2.
    assert (hsm_source.add_generation("data"), hsm_source.add_generation("lookup")) == (2, 2)
    cipher = cipher_for(settings)
    await register(factory, cipher, wanted[8:])
    assert await generations(factory) == [(1, 1, 8), (2, 2, 4)]
    with pytest.raises(PortalError):
        await retire_generation(factory, cipher, "data", 1)
    assert await reencrypt(factory, cipher, batch=3) == 8
    assert await all_findable(factory, cipher, wanted)
    assert cipher.decrypt(old_blob, 1) in wanted
    await retire_generation(factory, cipher, "data", 1)
    await retire_generation(factory, cipher, "lookup", 1)
    assert cipher_for(settings).keys.generations("data") == (2,)  # destroyed in the token itself
    with pytest.raises(KeyGenerationUnknown):
        cipher.decrypt(old_blob, 1)
    assert await all_findable(factory, cipher, wanted)
    assert await generations(factory) == [(2, 2, 12)]


class FailingSource:
    """A key source that fails on its n-th encryption (an HSM that goes away mid-batch)."""

    def __init__(self, inner: StaticKeySource, *, fail_on_encrypt: int) -> None:
        self.inner, self.left = inner, fail_on_encrypt

    def generations(self, kind):  # type: ignore[no-untyped-def]
        return self.inner.generations(kind)

    def encrypt(self, generation: int, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
        self.left -= 1
        if self.left == 0:
            raise RuntimeError("HSM gone")
        return self.inner.encrypt(generation, nonce, plaintext, aad)

    def decrypt(self, generation: int, nonce: bytes, ciphertext: bytes, aad: bytes) -> bytes:
        return self.inner.decrypt(generation, nonce, ciphertext, aad)

    def mac(self, generation: int, message: bytes) -> bytes:
        return self.inner.mac(generation, message)

    def add_generation(self, kind):  # type: ignore[no-untyped-def]
        raise NotImplementedError

    def retire(self, kind, generation):  # type: ignore[no-untyped-def]
        raise NotImplementedError
