"""The suite-wide log check finds a demo person's number in every common spelling, and can fail."""

from __future__ import annotations

import logging

import pytest

from api.platform.logs import redact
from tests.conftest import LOG_GUARD
from tests.log_guard import LogGuard, demo_numbers_in

MOTHER = "山田 花子"  # 100000000021


@pytest.mark.parametrize("line", [
    "looked up 100000000021", "1000 0000 0021", "1000-0000-0021", "１０００００００００２１",
    "１０００－００００－００２１", "GET /x/%20100000000021 404", "GET /x/%2520100000000021", "q=1000+0000+0021",
    "a%31%30%30%30%30%30%30%30%30%30%32%31",
    '{"message": "x 1000\u30000000\u30000021"}',
])
def test_every_spelling_is_found_and_the_redactor_hides_it(line: str) -> None:
    assert demo_numbers_in(line) == [MOTHER]
    assert demo_numbers_in(redact(line)) == []


@pytest.mark.parametrize("line", ["1100000000021", "10000000002", "1000000000211", "corporate 7000012050002"])
def test_other_digit_runs_are_not_taken_for_a_number(line: str) -> None:
    assert demo_numbers_in(line) == []


def test_an_unredacted_record_is_caught_with_its_place_and_never_its_digits() -> None:
    guard = LogGuard()  # not the session's: this leak is deliberate
    guard.current = "tests/example.py::test_leaky"
    # Made by hand: records made through logging redact themselves (the factory the portal installs).
    guard.handle(logging.LogRecord("api.access", logging.INFO, __file__, 1, "GET %s 404", ("/x/%20100000000021",),
                                   None))
    with_extra = logging.LogRecord("api.test", logging.INFO, __file__, 1, "fine", (), None)
    with_extra.hint = "1000-0000-0013"
    guard.handle(with_extra)
    assert [(leak.where, leak.source, leak.people) for leak in guard.leaks] == [
        ("tests/example.py::test_leaky", "api.access", [MOTHER]),
        ("tests/example.py::test_leaky", "api.test", ["山田 太郎"])]
    assert "100000000021" not in guard.report() and "山田 花子" in guard.report()


def test_the_session_guard_sees_every_logger() -> None:
    before = LOG_GUARD.records
    logging.getLogger("some.library").info("an ordinary line")
    assert LOG_GUARD in logging.getLogger().handlers and LOG_GUARD.records == before + 1
