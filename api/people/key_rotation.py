"""Moving individual numbers to the newest key generations while the portal serves, and retiring old ones.

Rotation: configure a new generation (it writes at once; every active one still reads), run ``reencrypt``
until ``rotation_status`` shows no row on an old generation, then ``retire_generation`` the old key. The job works
in batches, each its own transaction, walking the primary key; each row moves with an UPDATE conditional on the
generations it was read under, so concurrent jobs, an interrupted job run again, or a writer in between never
move a row twice or overwrite a newer value. The clear number exists only in memory, one row at a time.
"""

from __future__ import annotations

import inspect
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from sqlalchemy import bindparam, func, or_, select, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.people.individual_number import IndividualNumberCipher
from api.people.models import Person
from api.platform.errors import ErrorCode, PortalError
from api.platform.keys import KeyGenerationUnknown, KeyKind

_PERSONS = Person.__table__
_MOVE = (update(_PERSONS)
         .where(_PERSONS.c.id == bindparam("row_id"), _PERSONS.c.number_key_generation == bindparam("old_data"),
                _PERSONS.c.number_lookup_generation == bindparam("old_lookup"))
         .values(individual_number_ciphertext=bindparam("ciphertext"), individual_number_hash=bindparam("digest")))
_COLUMN = {"data": Person.number_key_generation, "lookup": Person.number_lookup_generation}


@dataclass(frozen=True)
class RotationStatus:
    """Rows per generation of each kind, and the generations the key source holds (newest first)."""

    active: dict[KeyKind, tuple[int, ...]]
    rows: dict[KeyKind, dict[int, int]]
    total: int
    pending: int  # rows not yet on the newest generation of both kinds


@dataclass(frozen=True)
class BatchProgress:
    moved: int  # by this run so far
    pending_at_start: int
    batches: int
    elapsed: float


class ReencryptionFailed(Exception):
    """A row could not be read under its recorded generation (the message names the row, never the number)."""


async def rotation_status(session_factory: async_sessionmaker[AsyncSession],
                          cipher: IndividualNumberCipher) -> RotationStatus:
    current = {kind: cipher.keys.generations(kind)[0] for kind in _COLUMN}
    rows: dict[KeyKind, dict[int, int]] = {"data": {}, "lookup": {}}
    total = pending = 0
    async with session_factory() as session, session.begin():
        groups = await session.execute(select(Person.number_key_generation, Person.number_lookup_generation,
                                              func.count()).group_by(Person.number_key_generation,
                                                                     Person.number_lookup_generation))
        for data_generation, lookup_generation, count in groups:
            rows["data"][data_generation] = rows["data"].get(data_generation, 0) + count
            rows["lookup"][lookup_generation] = rows["lookup"].get(lookup_generation, 0) + count
            total += count
            if (data_generation, lookup_generation) != (current["data"], current["lookup"]):
                pending += count
    return RotationStatus({kind: cipher.keys.generations(kind) for kind in _COLUMN}, rows, total, pending)


async def reencrypt(session_factory: async_sessionmaker[AsyncSession], cipher: IndividualNumberCipher, *,
                    batch: int = 500,
                    on_batch: Callable[[BatchProgress], Awaitable[None] | None] | None = None) -> int:
    """Move every row to the newest generations; return how many rows this run moved.

    Resumable and idempotent: a run after an interruption finds only the rows not yet moved. ``on_batch`` is
    called after each committed batch (progress; an exception from it stops the job cleanly between batches).
    """
    if batch < 1:
        raise ValueError("batch must be at least 1")
    data_now, lookup_now = cipher.key_generation, cipher.lookup_generation
    stale = or_(Person.number_key_generation != data_now, Person.number_lookup_generation != lookup_now)
    async with session_factory() as session, session.begin():
        pending_at_start = await session.scalar(select(func.count()).select_from(Person).where(stale)) or 0
    started = time.monotonic()
    moved = batches = 0
    after: uuid.UUID | None = None
    while True:
        async with session_factory() as session, session.begin():
            rows = (await session.execute(
                select(Person.id, Person.individual_number_ciphertext, Person.number_key_generation,
                       Person.individual_number_hash, Person.number_lookup_generation)
                .where(stale, Person.id > after if after is not None else true())
                .order_by(Person.id).limit(batch))).all()
            moves = []
            for person_id, ciphertext, data_generation, digest, lookup_generation in rows:
                try:
                    number = cipher.decrypt(ciphertext, data_generation)
                except (InvalidTag, KeyGenerationUnknown) as error:
                    raise ReencryptionFailed(f"person {person_id}: the number does not decrypt under data key "
                                             f"generation {data_generation}") from error
                moves.append({"row_id": person_id, "old_data": data_generation, "old_lookup": lookup_generation,
                              "ciphertext": cipher.encrypt(number, data_now)
                              if data_generation != data_now else ciphertext,
                              "digest": cipher.lookup_hash(number, lookup_now)
                              if lookup_generation != lookup_now else digest})
                del number
            if moves:
                # One executemany per batch; both drivers sum its rowcount. A row another job or a writer changed
                # since it was read no longer matches its old generations and counts 0.
                try:
                    moved += (await session.execute(_MOVE.values(number_key_generation=data_now,
                                                                 number_lookup_generation=lookup_now),
                                                    moves)).rowcount
                except IntegrityError as error:
                    # Only the unique lookup hash can clash: one number registered twice, under two lookup
                    # generations (servers on two configurations at once). An operator must resolve it.
                    raise ReencryptionFailed(
                        f"a number in the batch after person {after} is registered twice (two rows, two lookup "
                        "generations); resolve the duplicate registration, then run the job again") from error
        if not rows:
            return moved
        batches += 1
        after = rows[-1][0]
        if on_batch is not None:
            shown = on_batch(BatchProgress(moved, pending_at_start, batches, time.monotonic() - started))
            if inspect.isawaitable(shown):
                await shown


async def retire_generation(session_factory: async_sessionmaker[AsyncSession], cipher: IndividualNumberCipher,
                            kind: KeyKind, generation: int) -> None:
    """Forget an old generation; refused while it writes (the newest) or while any row still uses it."""
    active = cipher.keys.generations(kind)
    if generation not in active:
        raise PortalError(ErrorCode.KEY_GENERATION_UNKNOWN, f"no active {kind} key of generation {generation}")
    if generation == active[0]:
        raise PortalError(ErrorCode.KEY_GENERATION_IN_USE,
                          f"{kind} key generation {generation} is the newest: it writes")
    async with session_factory() as session, session.begin():
        remaining = await session.scalar(select(func.count()).select_from(Person)
                                         .where(_COLUMN[kind] == generation)) or 0
    if remaining:
        raise PortalError(ErrorCode.KEY_GENERATION_IN_USE,
                          f"{remaining} rows still use {kind} key generation {generation}: "
                          "run `mynaportal keys reencrypt` first",
                          extensions={"rows": remaining})
    cipher.keys.retire(kind, generation)
