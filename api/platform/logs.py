"""JSON logs with a request id, and a redaction of anything shaped like a 12-digit individual number.

Redaction happens twice: a filter on the handler rewrites the message (so no handler sees the clear
digits), and the formatter scrubs its final line (tracebacks and extra fields included).
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import traceback
from datetime import UTC, datetime
from typing import Any

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

# 12 digits, optionally grouped 4-4-4 by spaces or dashes (ASCII, full-width or ideographic), not part of a longer
# digit run (a 13-digit corporate number is public and stays).
_DIGIT = "0-9０-９"
_SEPARATORS = " +\u3000\uff0d\u2010\u2011\u2012\u2013\u2014\u2212-"
INDIVIDUAL_NUMBER_SHAPE = re.compile(
    rf"(?<![{_DIGIT}])[{_DIGIT}]{{4}}[{_SEPARATORS}]{{0,3}}[{_DIGIT}]{{4}}[{_SEPARATORS}]{{0,3}}[{_DIGIT}]{{4}}"
    rf"(?![{_DIGIT}])")
# With percent-escapes (a URL, perhaps encoded again: %2520), a number may be spelled partly or wholly in
# escapes, and an escape such as %20 puts digits right before it. The text is cut into units (a character,
# or the escapes of one UTF-8 encoded character), each classed as a digit, a separator or other, and the
# shape is looked for on the classes.
_UNIT = re.compile(r"%(?:25)*([0-9A-Fa-f]{2})|.", re.S)
_CLASS_SHAPE = re.compile(r"(?<!D)D{4}S{0,3}D{4}S{0,3}D{4}(?!D)")
_DIGIT_CHARS = frozenset("0123456789０１２３４５６７８９")
_SEPARATOR_CHARS = frozenset(_SEPARATORS)
REDACTED = "[REDACTED-NUMBER]"
_ANY_DIGIT = re.compile(f"[{_DIGIT}]")


def _class(char: str) -> str:
    return "D" if char in _DIGIT_CHARS else "S" if char in _SEPARATOR_CHARS else "O"


def _utf8_length(lead: int) -> int:
    return 1 if lead < 0x80 else 2 if 0xC0 <= lead < 0xE0 else 3 if 0xE0 <= lead < 0xF0 else 4 if lead >= 0xF0 else 0


def _units(text: str) -> list[tuple[int, int, str]]:
    """(start, end, class) of each unit of ``text``."""
    pieces = [(m.start(), m.end(), m.group(1)) for m in _UNIT.finditer(text)]
    units: list[tuple[int, int, str]] = []
    index = 0
    while index < len(pieces):
        start, end, escaped = pieces[index]
        if escaped is None:
            units.append((start, end, _class(text[start:end])))
            index += 1
            continue
        length = _utf8_length(int(escaped, 16))
        run = pieces[index:index + length] if length else []
        # length 0: a continuation byte where a character should start (found by tests/fuzz: an IndexError that
        # crashed the request being logged)
        if length and len(run) == length and all(hex_ is not None for _, _, hex_ in run):
            try:
                char = bytes(int(hex_, 16) for _, _, hex_ in run).decode()  # type: ignore[arg-type]
                units.append((start, run[-1][1], _class(char)))
                index += length
                continue
            except UnicodeDecodeError:
                pass
        units.append((start, end, "O"))
        index += 1
    return units


def redact(text: str) -> str:
    if len(_ANY_DIGIT.findall(text)) < 12:  # every spelling of a number shows 12 digits at least
        return text
    if "%" in text:  # escapes first: a plain pass could take an escape's hex digits for the number's
        units = _units(text)
        classes = "".join(kind for _, _, kind in units)
        for match in reversed(list(_CLASS_SHAPE.finditer(classes))):
            text = text[:units[match.start()][0]] + REDACTED + text[units[match.end() - 1][1]:]
    return INDIVIDUAL_NUMBER_SHAPE.sub(REDACTED, text)


class _RedactedRecord(logging.LogRecord):
    """A record whose message is redacted whichever handler formats it (ours, uvicorn's, a test's)."""

    def getMessage(self) -> str:
        return redact(super().getMessage())


def install_redaction() -> None:
    """Make every log record of this process redact itself: its message when formatted, its traceback and
    stack now (formatters reuse ``exc_text``). Idempotent; ``configure_logging`` and the app call it."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "_mynaportal", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        if type(record) is logging.LogRecord:
            record.__class__ = _RedactedRecord
        else:  # another factory's class: redact the message now
            record.msg, record.args = redact(record.getMessage()), None
        if record.exc_info and record.exc_info[0] is not None and not record.exc_text:
            record.exc_text = redact("".join(traceback.format_exception(*record.exc_info)).rstrip("\n"))
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return record

    factory._mynaportal = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


class RedactIndividualNumbers(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg = redact(message)
        record.args = None
        return True


_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id is not None:
            entry["request_id"] = request_id
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = record.exc_text or self.formatException(record.exc_info)
        return redact(json.dumps(entry, ensure_ascii=False, default=str))


def configure_logging(level: str = "INFO", stream: object = None) -> logging.Handler:
    """Route every logger (uvicorn's included) through one redacting JSON handler."""
    install_redaction()
    handler = logging.StreamHandler(stream or sys.stderr)  # type: ignore[arg-type]
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactIndividualNumbers())
    root = logging.getLogger()
    for existing in list(root.handlers):
        if getattr(existing, "_mynaportal", False):
            root.removeHandler(existing)
    handler._mynaportal = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "strawberry.execution"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    return handler
