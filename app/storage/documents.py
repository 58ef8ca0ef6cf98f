"""Encodings every backend shares: instants as fixed-width UTC strings, and the nested
documents of a concert's layout and an order's history."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from app.storage.records import OrderStatus, OrderTransition, Row, Section


def as_utc(value: datetime) -> datetime:
    """The same instant as an aware UTC datetime; naive datetimes are a caller bug."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()} given to the store; use UTC")
    return value.astimezone(UTC)


def encode_time(value: datetime) -> str:
    """`2030-06-01T12:00:00.123456Z`: one width, always UTC, so string order is time order
    (range queries and sort keys work on the strings) and microseconds survive."""
    utc = as_utc(value)
    # Formatted by hand: isoformat() drops ".000000" and strftime does not pad years < 1000,
    # and either would break the fixed width.
    return (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T"
        f"{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}.{utc.microsecond:06d}Z"
    )


def decode_time(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(UTC)


def encode_optional_time(value: datetime | None) -> str | None:
    return None if value is None else encode_time(value)


def decode_optional_time(value: str | None) -> datetime | None:
    return None if value is None else decode_time(value)


def section_document(section: Section) -> dict[str, Any]:
    return {
        "id": section.id,
        "name": section.name,
        "price_cents": section.price_cents,
        "rows": [{"label": r.label, "seat_ids": list(r.seat_ids)} for r in section.rows],
    }


def section_from_document(doc: dict[str, Any]) -> Section:
    return Section(
        id=doc["id"],
        name=doc["name"],
        price_cents=doc["price_cents"],
        rows=tuple(Row(label=r["label"], seat_ids=tuple(r["seat_ids"])) for r in doc["rows"]),
    )


def transition_document(transition: OrderTransition) -> dict[str, str]:
    return {
        "from": transition.from_status.value,
        "to": transition.to_status.value,
        "reason": transition.reason,
        "at": encode_time(transition.at),
    }


def transition_from_document(doc: dict[str, str]) -> OrderTransition:
    return OrderTransition(
        from_status=OrderStatus(doc["from"]),
        to_status=OrderStatus(doc["to"]),
        reason=doc["reason"],
        at=decode_time(doc["at"]),
    )
