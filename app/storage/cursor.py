"""Opaque keyset-pagination cursors shared by every backend."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime


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
