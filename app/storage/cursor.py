"""Keyset pagination of concerts by (starts_at, id), shared by every backend: opaque
cursors, the limit's check, and a page from one row more than asked."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TypeVar

from app.storage.records import Concert, Page

T = TypeVar("T")


class InvalidCursor(ValueError):
    """The cursor was not issued by us or was tampered with."""


def encode_cursor(starts_at: datetime, concert_id: str) -> str:
    raw = json.dumps([starts_at.isoformat(), concert_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        starts_at, concert_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        parsed = datetime.fromisoformat(starts_at)
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidCursor("The cursor is not valid; start again without one.") from exc
    if not isinstance(concert_id, str) or parsed.tzinfo is None:
        raise InvalidCursor("The cursor is not valid; start again without one.")
    return parsed, concert_id


def check_limit(limit: int) -> None:
    if limit < 1:
        raise ValueError("limit must be at least 1")


def page_of(rows: Sequence[T], limit: int, build: Callable[[T], Concert]) -> Page[Concert]:
    """The page of up to `limit` + 1 rows read in (starts_at, id) order: the extra row only
    tells that another page follows (it is not built)."""
    items = [build(row) for row in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = items[-1]
        next_cursor = encode_cursor(last.starts_at, last.id)
    return Page(items=items, next_cursor=next_cursor)
