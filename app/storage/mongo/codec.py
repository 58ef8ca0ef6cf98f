"""Domain records <-> MongoDB documents.

Instants are stored as fixed-width ISO 8601 UTC strings ("2030-06-01T12:00:00.123456Z"),
not as BSON dates: a BSON date keeps milliseconds only, and the store contract round-trips
microseconds (as the SQL backend does). With one fixed width and always UTC, the strings
sort and compare exactly like the instants, so range queries, sorts and indexes work as on
dates; they still read as times in the mongo shell.
"""

from __future__ import annotations

from typing import Any, cast

from app.storage.documents import (
    as_utc,
    decode_optional_time,
    decode_time,
    encode_optional_time,
    encode_time,
    section_document,
    section_from_document,
    transition_document,
    transition_from_document,
)
from app.storage.records import (
    Concert,
    Order,
    OrderStatus,
    QueueSettings,
    RefreshToken,
    Role,
    Ticket,
    User,
)

Document = dict[str, Any]

__all__ = [  # the shared encodings, re-exported for the other mongo modules
    "as_utc",
    "decode_optional_time",
    "decode_time",
    "encode_optional_time",
    "encode_time",
    "transition_document",
]


def fold(text: str) -> str:
    """Case folding for case-insensitive matching: Python's str.lower, as the SQL backend."""
    return text.lower()


# --------------------------------------------------------------------------- users


def user_document(user: User) -> Document:
    return {
        "_id": user.id,
        "email": fold(user.email),
        "name": user.name,
        "password_hash": user.password_hash,
        "role": user.role,
        "created_at": encode_time(user.created_at),
    }


def user_from_document(doc: Document) -> User:
    return User(
        id=doc["_id"],
        email=doc["email"],
        name=doc["name"],
        password_hash=doc["password_hash"],
        role=cast(Role, doc["role"]),
        created_at=decode_time(doc["created_at"]),
    )


def refresh_token_document(token: RefreshToken) -> Document:
    return {
        "_id": token.jti,
        "user_id": token.user_id,
        "family_id": token.family_id,
        "issued_at": encode_time(token.issued_at),
        "expires_at": encode_time(token.expires_at),
        # Always present (possibly null): the consume filter matches `null` explicitly.
        "used_at": encode_optional_time(token.used_at),
        "revoked_at": encode_optional_time(token.revoked_at),
    }


def refresh_token_from_document(doc: Document) -> RefreshToken:
    return RefreshToken(
        jti=doc["_id"],
        user_id=doc["user_id"],
        family_id=doc["family_id"],
        issued_at=decode_time(doc["issued_at"]),
        expires_at=decode_time(doc["expires_at"]),
        used_at=decode_optional_time(doc.get("used_at")),
        revoked_at=decode_optional_time(doc.get("revoked_at")),
    )


# --------------------------------------------------------------------------- concerts


def concert_document(concert: Concert, version: int) -> Document:
    return {
        "_id": concert.id,
        "title": concert.title,
        "artist": concert.artist,
        "genre": concert.genre,
        "description": concert.description,
        "venue_name": concert.venue_name,
        "venue_city": concert.venue_city,
        "starts_at": encode_time(concert.starts_at),
        "on_sale_at": encode_time(concert.on_sale_at),
        "currency": concert.currency,
        "max_tickets_per_user": concert.max_tickets_per_user,
        "queue": {
            "enabled": concert.queue.enabled,
            "admit_per_minute": concert.queue.admit_per_minute,
            "max_active": concert.queue.max_active,
            "opens_at": encode_time(concert.queue.opens_at) if concert.queue.opens_at else None,
        },
        "sections": [section_document(s) for s in concert.sections],
        "created_at": encode_time(concert.created_at),
        "updated_at": encode_time(concert.updated_at),
        "version": version,
        # Lower-cased copies for search: exact, Unicode-aware case-insensitive matching with
        # plain equality and an escaped regex, identical on MongoDB and its stand-ins (no
        # collation or regex case-folding rules to trust).
        "fold": {
            "title": fold(concert.title),
            "artist": fold(concert.artist),
            "genre": fold(concert.genre),
            "city": fold(concert.venue_city),
        },
    }


def concert_from_document(doc: Document) -> Concert:
    queue = doc["queue"]
    return Concert(
        id=doc["_id"],
        title=doc["title"],
        artist=doc["artist"],
        genre=doc["genre"],
        description=doc["description"],
        venue_name=doc["venue_name"],
        venue_city=doc["venue_city"],
        starts_at=decode_time(doc["starts_at"]),
        on_sale_at=decode_time(doc["on_sale_at"]),
        currency=doc["currency"],
        max_tickets_per_user=doc["max_tickets_per_user"],
        queue=QueueSettings(
            enabled=bool(queue["enabled"]),
            admit_per_minute=queue["admit_per_minute"],
            max_active=queue["max_active"],
            opens_at=decode_time(queue["opens_at"]) if queue.get("opens_at") else None,
        ),
        sections=tuple(section_from_document(s) for s in doc["sections"]),
        created_at=decode_time(doc["created_at"]),
        updated_at=decode_time(doc["updated_at"]),
        version=doc["version"],
    )


# --------------------------------------------------------------------------- orders


def order_document(order: Order) -> Document:
    return {
        "_id": order.id,
        "user_id": order.user_id,
        "concert_id": order.concert_id,
        "hold_id": order.hold_id,
        "seat_ids": list(order.seat_ids),
        "amount_cents": order.amount_cents,
        "currency": order.currency,
        "status": order.status.value,
        "created_at": encode_time(order.created_at),
        "expires_at": encode_time(order.expires_at),
        # null until attached; the unique index only covers strings (partial index).
        "payment_intent_id": order.payment_intent_id,
        "version": order.version,
        "history": [transition_document(t) for t in order.history],
    }


def order_from_document(doc: Document) -> Order:
    return Order(
        id=doc["_id"],
        user_id=doc["user_id"],
        concert_id=doc["concert_id"],
        hold_id=doc["hold_id"],
        seat_ids=tuple(doc["seat_ids"]),
        amount_cents=doc["amount_cents"],
        currency=doc["currency"],
        status=OrderStatus(doc["status"]),
        created_at=decode_time(doc["created_at"]),
        expires_at=decode_time(doc["expires_at"]),
        payment_intent_id=doc.get("payment_intent_id"),
        version=doc["version"],
        history=tuple(transition_from_document(t) for t in doc["history"]),
    )


# --------------------------------------------------------------------------- tickets


def ticket_document(ticket: Ticket) -> Document:
    doc: Document = {
        "_id": ticket.id,
        "order_id": ticket.order_id,
        "user_id": ticket.user_id,
        "concert_id": ticket.concert_id,
        "seat_id": ticket.seat_id,
        "section": ticket.section,
        "row": ticket.row,
        "number": ticket.number,
        "code": ticket.code,
        "issued_at": encode_time(ticket.issued_at),
    }
    # Absent until the first door scan, as on tickets issued before check-in existed: the
    # check-in filter (`checked_in_at: null`) matches a missing field and a null alike.
    if ticket.checked_in_at is not None:
        doc["checked_in_at"] = encode_time(ticket.checked_in_at)
    return doc


def ticket_from_document(doc: Document) -> Ticket:
    return Ticket(
        id=doc["_id"],
        order_id=doc["order_id"],
        user_id=doc["user_id"],
        concert_id=doc["concert_id"],
        seat_id=doc["seat_id"],
        section=doc["section"],
        row=doc["row"],
        number=doc["number"],
        code=doc["code"],
        issued_at=decode_time(doc["issued_at"]),
        checked_in_at=decode_optional_time(doc.get("checked_in_at")),
    )
