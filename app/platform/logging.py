r"""JSON logs carrying the request id of the request being served; text logs for a terminal.

Log lines carry text that clients choose (a request path, an email, a header value). In a JSON
line `json.dumps` escapes it; a text line escapes it here (`escape`): CR, LF and every other
control character (C0, DEL, C1, which includes the ANSI escape ESC, and the Unicode line
separators) become `\n`, `\r`, `\xNN`, `\uNNNN`, so a path with `%0a` can't write a forged log
line of its own, nor move or colour a terminal. A traceback keeps its lines, each indented, so
no line of it can pass for a log line either.
"""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

# Attributes every LogRecord has; anything else was passed with `extra=` and is logged too.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None)).keys()) | {
    "message",
    "asctime",
    "taskName",
    "color_message",  # uvicorn duplicates its message with ANSI colours
}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        entry.update(_extras(record))
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD and k[0] != "_"}


_CONTROL = [*range(0x20), 0x7F, *range(0x80, 0xA0), 0x2028, 0x2029]
_ESCAPES: dict[int, str] = {
    c: f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}" for c in _CONTROL if c != ord("\t")
}
_ESCAPES |= {ord("\n"): "\\n", ord("\r"): "\\r"}
_KEEP_LINES = {c: e for c, e in _ESCAPES.items() if c != ord("\n")}


def escape(text: str) -> str:
    """`text` on one line, its control characters written as escapes (tabs kept)."""
    return text.translate(_ESCAPES)


def _indented(block: str) -> str:
    """A traceback or stack: its own lines, each indented, any other control escaped."""
    return "\n".join(f"    {line}" for line in block.translate(_KEEP_LINES).split("\n"))


class TextFormatter(logging.Formatter):
    """For people at a terminal (`make run`): the message, then `key=value` extras, on one
    line whatever they contain (module docstring); a traceback follows, indented."""

    def format(self, record: logging.LogRecord) -> str:
        record.message = record.getMessage()
        if self.usesTime():
            record.asctime = self.formatTime(record, self.datefmt)
        parts = [escape(self.formatMessage(record))]
        parts += [f"{escape(k)}={escape(str(v))}" for k, v in _extras(record).items()]
        request_id = request_id_var.get()
        if request_id:
            parts.append(f"request_id={escape(request_id)}")
        line = " ".join(parts)
        if record.exc_info:
            line += "\n" + _indented(self.formatException(record.exc_info))
        if record.stack_info:
            line += "\n" + _indented(self.formatStack(record.stack_info))
        return line


def without_password(url: str) -> str:
    """A connection URL fit for a log line: `redis://:secret@host` -> `redis://:***@host`
    (REDIS_URL was logged as is at startup, password included)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = f"{parts.username}:" if parts.username else ":"
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}***@{host}"))


def configure_logging(level: str, *, json_logs: bool) -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        JsonFormatter()
        if json_logs
        else TextFormatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn's own access log duplicates ours (which has the request id and route).
    logging.getLogger("uvicorn.access").disabled = True
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
