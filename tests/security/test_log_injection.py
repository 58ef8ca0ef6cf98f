"""Log injection: text a client controls (a path, a header value, an email) never starts a line
of its own in the logs, nor moves a terminal's cursor or colours.

The text formatter (`make run`) wrote the request path as is: `GET /api/v1/x%0a<forged line>`
put a forged log line after the real one.
"""

from __future__ import annotations

import json
import logging
import sys
import uuid
from pathlib import Path

import httpx
import pytest

from app.platform.logging import JsonFormatter, TextFormatter
from tests.security.launch import command_for, launched

FORGED = "2030-01-01 00:00:00,000 INFO app.access request method=GET status=200"
# Encoded as a client sends it; the app sees the decoded path (CR, LF, ESC in it).
NASTY_PATH = "/api/v1/x%0a" + FORGED.replace(" ", "%20") + "%0d%0a%1b[2Jgone"


@pytest.mark.parametrize("log_json", ["false", "true"])
def test_a_path_with_newlines_makes_exactly_one_log_line(tmp_path: Path, log_json: str) -> None:
    command, port = command_for("app.serve")
    with launched(command, port, tmp_path, LOG_JSON=log_json, RATE_LIMIT_ENABLED="false") as s:
        request_id = uuid.uuid4().hex
        r = httpx.get(f"{s.url}{NASTY_PATH}", headers={"X-Request-ID": request_id}, timeout=10)
        assert r.status_code == 404
        # The access line is written after the answer: wait for the next request's line.
        marker = uuid.uuid4().hex
        httpx.get(f"{s.url}/api/v1/concerts", headers={"X-Request-ID": marker}, timeout=10)
        lines = s.log_text().splitlines()
        for _ in range(100):
            if any(marker in line for line in lines):
                break
            lines = s.log_text().splitlines()
    ours = [line for line in lines if request_id in line]
    assert len(ours) == 1, ours
    assert not [line for line in lines if line.startswith("2030-01-01")]
    assert not [line for line in lines if "\x1b" in line or "\r" in line]
    if log_json == "true":
        entry = json.loads(ours[0])
        assert entry["path"].startswith("/api/v1/x\n2030-01-01")  # JSON keeps it exactly
    else:
        assert "/api/v1/x\\n2030-01-01" in ours[0]  # escaped, still readable


def _record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("app.test", logging.INFO, __file__, 1, message, args, None)
    record.__dict__.update(extra)
    return record


def test_text_logs_escape_control_characters_in_the_message_and_every_field() -> None:
    formatter = TextFormatter("%(levelname)s %(name)s %(message)s")
    record = _record(
        "login failed for %s",
        "eve\r\nINFO app.auth login ok for admin",
        email="a@b.c\nINFO forged",
        agent="\x1b[31mred\x1b[0m\x00\x7f\u2028",
        count=3,
    )
    line = formatter.format(record)
    assert not [c for c in line if c in "\n\r\x1b\x00\x7f\u2028"]
    assert "login failed for eve\\r\\nINFO app.auth login ok for admin" in line
    assert "email=a@b.c\\nINFO forged" in line
    assert "agent=\\x1b[31mred\\x1b[0m\\x00\\x7f\\u2028" in line
    assert "count=3" in line
    # Plain text is untouched, tabs and non-ASCII letters included.
    plain = formatter.format(_record("Zoë paid\tin full", city="Zürich"))
    assert plain.endswith("INFO app.test Zoë paid\tin full city=Zürich")


def test_text_logs_indent_a_traceback() -> None:
    """A traceback stays readable, on its own lines, each indented under its log line: even an
    exception message that holds a newline can't start a line at the margin."""
    formatter = TextFormatter("%(levelname)s %(message)s")
    try:
        raise ValueError("bad\nvalue")
    except ValueError:
        record = logging.LogRecord("app", logging.ERROR, __file__, 1, "boom", (), sys.exc_info())
    text = formatter.format(record)
    assert text.startswith("ERROR boom\n    Traceback (most recent call last):\n")
    assert text.endswith("\n    ValueError: bad\n    value")  # no line of it at the margin


def test_json_logs_stay_one_valid_object_per_line() -> None:
    record = _record("a\nb", field="c\r\n\x1b[2Jd")
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["msg"] == "a\nb"
    assert entry["field"] == "c\r\n\x1b[2Jd"
