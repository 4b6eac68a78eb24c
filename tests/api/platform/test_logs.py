from __future__ import annotations

import io
import json
import logging

import pytest

from api.platform.logs import REDACTED, configure_logging, install_redaction, redact, request_id_var


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("number 621498320257 given", f"number {REDACTED} given"),
        ("grouped 6214 9832 0257.", f"grouped {REDACTED}."),
        ("hyphens 6214-9832-0257", f"hyphens {REDACTED}"),
        ("fullwidth ６２１４９８３２０２５７", f"fullwidth {REDACTED}"),
        ("corporate 7000012050002 stays", "corporate 7000012050002 stays"),
        ("eleven 62149832025 stays", "eleven 62149832025 stays"),
        # as a URL carries it: after an escape, partly or wholly escaped, escaped twice
        ("GET /x/%20100000000021 404", f"GET /x/%20{REDACTED} 404"),
        ("GET /x/%2520100000000021", f"GET /x/%2520{REDACTED}"),
        ("q=1000%2D0000%2D0021&x=1", f"q={REDACTED}&x=1"),
        ("q=1000+0000+0021", f"q={REDACTED}"),
        ("a%31%30%30%30%30%30%30%30%30%30%32%31b", f"a{REDACTED}b"),
        ("a%2531%2530%2530%253000000021", f"a{REDACTED}"),
        ("%EF%BC%91%EF%BC%90%EF%BC%90%EF%BC%9000000021", REDACTED),
        ("1000%E3%80%800000%2520%2D0021", REDACTED),
        # other separators people type
        ("１０００－００００－００２１", REDACTED),
        ("1000\u30000000\u30000021", REDACTED),
        ("1000 - 0000 - 0021", REDACTED),
        ("%207000012050002 stays", "%207000012050002 stays"),
        ("%ZZ100000000021", f"%ZZ{REDACTED}"),
        # escapes that are no UTF-8 (a lone surrogate, a stray continuation byte): found by tests/fuzz, they crashed
        ("GET http://127.0.0.1:18779/d?c=%ED%A0%80 200", "GET http://127.0.0.1:18779/d?c=%ED%A0%80 200"),
        ("%80100000000021 %F0%9F", f"%80{REDACTED} %F0%9F"),
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


def test_records_redact_themselves_for_any_handler(caplog: pytest.LogCaptureFixture) -> None:
    """A handler that is not ours (pytest's here, uvicorn's, a host process's) gets redacted records too."""
    install_redaction()
    with caplog.at_level(logging.INFO):
        logging.getLogger("api.test").warning("path %s", "/x/%2520100000000021")
        try:
            raise ValueError("bad 1000-0000-0021")
        except ValueError:
            logging.getLogger("api.test").exception("failed for %s", "１０００００００００２１")
    assert "100000000021" not in caplog.text and "1000-0000-0021" not in caplog.text
    assert "１０００００００００２１" not in caplog.text
    assert caplog.messages == [f"path /x/%2520{REDACTED}", f"failed for {REDACTED}"]
    assert f"ValueError: bad {REDACTED}" in caplog.text
