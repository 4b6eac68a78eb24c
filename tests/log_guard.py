"""The suite-wide check that no demo person's individual number reaches a log, in any common spelling.

Every log record of the test session is formatted (message, traceback, stack, extra fields) and searched
after undoing what a URL or a person does to a number: percent-encoding (once or twice, ``+`` for a space),
full-width digits, and separators between digit groups. Leaks are reported by person and place, never
with the digits.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from urllib.parse import unquote, unquote_plus

from api.demo import PEOPLE

DEMO_NUMBERS = {person.individual_number: person.name for person in PEOPLE}
_FULL_WIDTH = str.maketrans("０１２３４５６７８９", "0123456789")
_SEPARATOR = r"[ \-+\u3000\uff0d\u2010\u2011\u2012\u2013\u2014\u2212]{0,3}"
_NUMBERS = re.compile("|".join(
    rf"(?<!\d)(?P<n{index}>{n[:4]}{_SEPARATOR}{n[4:8]}{_SEPARATOR}{n[8:]})(?!\d)"
    for index, n in enumerate(DEMO_NUMBERS)))
_BY_GROUP = {f"n{index}": name for index, name in enumerate(DEMO_NUMBERS.values())}


def _spellings(text: str) -> set[str]:
    seen = {text}
    for _ in range(3):  # percent-encoded at most twice, then once more for luck
        seen |= {decode(s) for s in seen for decode in (unquote, unquote_plus)}
    return {s.translate(_FULL_WIDTH) for s in seen}


def demo_numbers_in(text: str) -> list[str]:
    """The names of the demo people whose number ``text`` carries, in any common spelling."""
    if not text:
        return []
    found = {match.lastgroup for spelling in _spellings(text) for match in _NUMBERS.finditer(spelling)}
    return sorted(_BY_GROUP[group] for group in found if group)


@dataclass
class Leak:
    where: str  # the test or the process whose output it was
    source: str  # the logger, or "stdout"/"stderr"
    people: list[str]


_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class LogGuard(logging.Handler):
    """A root handler that formats every record in full and notes which carry a demo number."""

    def __init__(self) -> None:
        super().__init__(level=logging.NOTSET)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
        self.leaks: list[Leak] = []
        self.current = "(outside a test)"
        self.records = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.records += 1
        try:
            text = self.format(record)
        except Exception:  # a record that cannot be formatted: look at its raw parts
            text = f"{record.msg!r} {record.args!r}"
        extras = " ".join(str(value) for key, value in vars(record).items() if key not in _STANDARD)
        self.check(record.name, f"{text} {extras}")

    def check(self, source: str, text: str) -> None:
        if people := demo_numbers_in(text):
            self.leaks.append(Leak(self.current, source, people))

    def report(self) -> str:
        return "\n".join(f"{leak.where}: {leak.source} logged the individual number of {', '.join(leak.people)}"
                         for leak in self.leaks)
