"""Domain records <-> MongoDB documents.

Instants are stored as fixed-width ISO 8601 UTC strings ("2030-06-01T12:00:00.123456Z"),
not as BSON dates: a BSON date keeps milliseconds only, and the store contract round-trips
microseconds (as the SQL backend does). With one fixed width and always UTC, the strings
sort and compare exactly like the instants, so range queries, sorts and indexes work as on
dates; they still read as times in the mongo shell.

A document is the record's fields (app/storage/codec.py) with its id as `_id`, a concert's
queue settings as one sub-document `queue`, and a ticket's seat as `row` and `number`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from app.storage.codec import (
    QUEUE_PREFIX,
    Fields,
    concert_fields,
    concert_from_fields,
    decode_time,
    encode_time,
    order_fields,
    order_from_fields,
    refresh_token_fields,
    refresh_token_from_fields,
    ticket_fields,
    ticket_from_fields,
    user_fields,
    user_from_fields,
)
from app.storage.records import Concert, Order, RefreshToken, Ticket, User

Document = dict[str, Any]

__all__ = ["encode_time"]  # re-exported for the other mongo modules

# Stored names that differ from the shared fields' (documents written before the fields
# were shared keep reading).
_TICKET_NAMES = {"row_label": "row", "seat_number": "number"}
_QUEUE = "queue"


def fold(text: str) -> str:
    """Case folding for case-insensitive matching: Python's str.lower, as the SQL backend."""
    return text.lower()


def _document(fields: Fields, key: str, names: Mapping[str, str] | None = None) -> Document:
    """The fields as a document: `key` as `_id`, instants as strings, some names changed."""
    renamed = names or {}
    stored = {
        renamed.get(name, name): encode_time(value) if isinstance(value, datetime) else value
        for name, value in fields.items()
        if name != key
    }
    return {"_id": fields[key], **stored}


def _fields(doc: Document, key: str, names: Mapping[str, str] | None = None) -> Fields:
    """The fields of a document (`_document` undone, but for the instants)."""
    stored = {stored: name for name, stored in (names or {}).items()}
    return {**{stored.get(name, name): value for name, value in doc.items()}, key: doc["_id"]}


# --------------------------------------------------------------------------- users


def user_document(user: User) -> Document:
    return _document(user_fields(user), "id")


def user_from_document(doc: Document) -> User:
    return user_from_fields(_fields(doc, "id"), decode_time)


def refresh_token_document(token: RefreshToken) -> Document:
    # used_at and revoked_at are always present (possibly null): the consume filter matches
    # `null` explicitly.
    return _document(refresh_token_fields(token), "jti")


def refresh_token_from_document(doc: Document) -> RefreshToken:
    return refresh_token_from_fields(_fields(doc, "jti"), decode_time)


# --------------------------------------------------------------------------- concerts


def concert_document(concert: Concert, version: int) -> Document:
    doc = _document({**concert_fields(concert), "version": version}, "id")
    queued = [name for name in doc if name.startswith(QUEUE_PREFIX)]
    doc[_QUEUE] = {name.removeprefix(QUEUE_PREFIX): doc.pop(name) for name in queued}
    # Lower-cased copies for search: exact, Unicode-aware case-insensitive matching with
    # plain equality and an escaped regex, identical on MongoDB and its stand-ins (no
    # collation or regex case-folding rules to trust).
    doc["fold"] = {
        "title": fold(concert.title),
        "artist": fold(concert.artist),
        "genre": fold(concert.genre),
        "city": fold(concert.venue_city),
    }
    return doc


def concert_from_document(doc: Document) -> Concert:
    queue = {QUEUE_PREFIX + name: value for name, value in doc[_QUEUE].items()}
    return concert_from_fields({**_fields(doc, "id"), **queue}, decode_time)


# --------------------------------------------------------------------------- orders


def order_document(order: Order) -> Document:
    # payment_intent_id is null until attached; the unique index only covers strings
    # (partial index).
    return _document(order_fields(order), "id")


def order_from_document(doc: Document) -> Order:
    return order_from_fields(_fields(doc, "id"), decode_time)


# --------------------------------------------------------------------------- tickets


def ticket_document(ticket: Ticket) -> Document:
    doc = _document(ticket_fields(ticket), "id", _TICKET_NAMES)
    # Absent until the first door scan, as on tickets issued before check-in existed: the
    # check-in filter (`checked_in_at: null`) matches a missing field and a null alike.
    if doc["checked_in_at"] is None:
        del doc["checked_in_at"]
    return doc


def ticket_from_document(doc: Document) -> Ticket:
    return ticket_from_fields(_fields(doc, "id", _TICKET_NAMES), decode_time)
