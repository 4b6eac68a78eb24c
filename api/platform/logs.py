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
from datetime import UTC, datetime

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

# 12 digits, optionally grouped 4-4-4 by a space or hyphen, not part of a longer digit run
# (a 13-digit corporate number is public and stays).
INDIVIDUAL_NUMBER_SHAPE = re.compile(r"(?<![0-9０-９])[0-9０-９]{4}[- ]?[0-9０-９]{4}[- ]?[0-9０-９]{4}(?![0-9０-９])")
REDACTED = "[REDACTED-NUMBER]"


def redact(text: str) -> str:
    return INDIVIDUAL_NUMBER_SHAPE.sub(REDACTED, text)


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
            entry["exception"] = self.formatException(record.exc_info)
        return redact(json.dumps(entry, ensure_ascii=False, default=str))


def configure_logging(level: str = "INFO", stream: object = None) -> logging.Handler:
    """Route every logger (uvicorn's included) through one redacting JSON handler."""
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
