"""Revocation counters move when the revoking transaction commits; recent lookups are used only under the rule."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from api.platform.revocations import RecentLookups, RevocationCounter


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_the_counter_moves_once_per_committed_transaction_and_not_on_rollback(session: AsyncSession) -> None:
    counter = RevocationCounter()
    counter.note(session)
    counter.note(session)  # two revocations in one transaction
    assert counter.committed == 0  # not before the commit: a refill meanwhile would keep the credential
    await session.commit()
    assert counter.committed == 1
    other = RevocationCounter()
    other.note(session)
    await session.rollback()
    assert other.committed == 0


def test_a_lookup_is_forgotten_after_its_age_or_a_revocation_since_it_began() -> None:
    clock, counter, other = Clock(), RevocationCounter(), RevocationCounter()
    lookups: RecentLookups[str, int | None] = RecentLookups(10, (counter,), clock=clock)
    missing = object()
    started = lookups.fill_started()
    counter.committed += 1  # a revocation committed while the lookup ran
    lookups.put("a", 1, started)
    assert lookups.get("a", missing) is missing and len(lookups) == 0
    lookups.put("a", 1, lookups.fill_started())
    lookups.put("unknown", None, lookups.fill_started())  # "not found" is kept too, told apart from the default
    other.committed += 1  # another kind's revocation changes nothing here
    clock.now += 0.999
    assert (lookups.get("a", missing), lookups.get("unknown", missing), lookups.get("never", missing)) == (
        1, None, missing)
    clock.now += 0.001
    assert (lookups.get("a", missing), lookups.get("unknown", missing), len(lookups)) == (missing, missing, 0)


def test_the_oldest_fill_leaves_first_and_zero_keeps_nothing() -> None:
    counter = RevocationCounter()
    lookups: RecentLookups[str, int] = RecentLookups(2, (counter,), clock=Clock())
    for key, value in (("a", 1), ("b", 2), ("c", 3)):
        lookups.put(key, value, lookups.fill_started())
    assert (lookups.get("a"), lookups.get("b"), lookups.get("c"), len(lookups)) == (None, 2, 3, 2)
    none: RecentLookups[str, int] = RecentLookups(0, (counter,))
    none.put("a", 1, none.fill_started())
    assert (none.get("a"), len(none)) == (None, 0)
