from __future__ import annotations

import io
import json
import logging

import pytest

from api.platform.logs import REDACTED, configure_logging, redact, request_id_var


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("number 621498320257 given", f"number {REDACTED} given"),
        ("grouped 6214 9832 0257.", f"grouped {REDACTED}."),
        ("hyphens 6214-9832-0257", f"hyphens {REDACTED}"),
        ("fullwidth ６２１４９８３２０２５７", f"fullwidth {REDACTED}"),
        ("corporate 7000012050002 stays", "corporate 7000012050002 stays"),
        ("eleven 62149832025 stays", "eleven 62149832025 stays"),
    ],
)
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.fixture
def log_stream() -> io.StringIO:
    stream = io.StringIO()
    handler = configure_logging("INFO", stream)
    yield stream
    logging.getLogger().removeHandler(handler)


def test_json_lines_carry_the_request_id_and_never_the_number(log_stream: io.StringIO) -> None:
    token = request_id_var.set("req-1")
    try:
        logging.getLogger("api.test").info("looked up %s", "621498320257", extra={"hint": "6214-9832-0257"})
        try:
            raise ValueError("bad number 621498320257")
        except ValueError:
            logging.getLogger("api.test").exception("failed")
    finally:
        request_id_var.reset(token)
    output = log_stream.getvalue()
    assert "621498320257" not in output and "6214-9832-0257" not in output
    first, second = (json.loads(line) for line in output.splitlines())
    assert first["message"] == f"looked up {REDACTED}"
    assert first["request_id"] == "req-1"
    assert first["hint"] == REDACTED
    assert first["level"] == "INFO" and first["logger"] == "api.test"
    assert second["message"] == "failed"
    assert f"ValueError: bad number {REDACTED}" in second["exception"]
