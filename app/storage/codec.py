"""Encodings every backend shares: instants as fixed-width UTC strings, the nested documents
of a concert's layout and an order's history, and every record as its fields.

A record's fields (`Fields`) are its attributes under their stored names (a ticket's `row`
and `number` are `row_label` and `seat_number`, a concert's queue settings are flat
`queue_<name>` fields), with the layout and the history as documents, an order's status as its
text and instants as datetimes. SQL stores these as they are; MongoDB and DynamoDB store them
in their own types and pass how they read an instant back (`decode_time`) to the builders.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar, get_args, get_type_hints

from app.storage.records import (
    Concert,
    Order,
    OrderStatus,
    OrderTransition,
    QueueSettings,
    RefreshToken,
    Row,
    Section,
    Ticket,
    User,
)

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

R = TypeVar("R", bound="DataclassInstance")

Fields = dict[str, Any]
# Stored fields as read back: a dict, a document, a SQLAlchemy row mapping.
StoredFields = Mapping[Any, Any]
# How a backend reads back an instant it stored (SQL: as it is; the others: `decode_time`).
InstantReader = Callable[[Any], datetime]


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


def section_from_document(doc: Mapping[str, Any]) -> Section:
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


def transition_from_document(doc: Mapping[str, str]) -> OrderTransition:
    return OrderTransition(
        from_status=OrderStatus(doc["from"]),
        to_status=OrderStatus(doc["to"]),
        reason=doc["reason"],
        at=decode_time(doc["at"]),
    )


# --------------------------------------------------------------------------- records


def _as_stored(value: Any) -> Any:
    return value


def _is_instant(hint: Any) -> bool:
    return hint is datetime or datetime in get_args(hint)


def _has_default(field: dataclasses.Field[Any]) -> bool:
    missing = dataclasses.MISSING
    return field.default is not missing or field.default_factory is not missing


class _Shape(Generic[R]):
    """How one record type is stored: its attributes under their stored names, read from the
    dataclass itself (the records are the one list of their fields)."""

    def __init__(self, cls: type[R], names: Mapping[str, str] | None = None) -> None:
        self._cls = cls
        hints = get_type_hints(cls)
        renamed = names or {}
        # (attribute, stored name, is an instant, may be absent) per field, in field order.
        self._plan = tuple(
            (f.name, renamed.get(f.name, f.name), _is_instant(hints[f.name]), _has_default(f))
            for f in dataclasses.fields(cls)
        )

    def fields(self, record: R) -> Fields:
        return {stored: getattr(record, name) for name, stored, _, _ in self._plan}

    def build(self, fields: StoredFields, instant: InstantReader, **given: Any) -> R:
        """The record from stored fields; `given` are attributes already converted. A field
        with a default may be absent (a backend that leaves out what is unset)."""
        values = dict(given)
        for name, stored, is_instant, optional in self._plan:
            if name in values or (optional and stored not in fields):
                continue
            value = fields[stored]
            values[name] = instant(value) if is_instant and value is not None else value
        return self._cls(**values)


_USERS = _Shape(User)
_REFRESH_TOKENS = _Shape(RefreshToken)
QUEUE_PREFIX = "queue_"
_QUEUES = _Shape(
    QueueSettings, {f.name: QUEUE_PREFIX + f.name for f in dataclasses.fields(QueueSettings)}
)
_CONCERTS = _Shape(Concert)
_ORDERS = _Shape(Order)
_TICKETS = _Shape(Ticket, {"row": "row_label", "number": "seat_number"})


def user_fields(user: User) -> Fields:
    return {**_USERS.fields(user), "email": user.email.lower()}


def user_from_fields(fields: StoredFields, instant: InstantReader = _as_stored) -> User:
    return _USERS.build(fields, instant)


def refresh_token_fields(token: RefreshToken) -> Fields:
    return _REFRESH_TOKENS.fields(token)


def refresh_token_from_fields(
    fields: StoredFields, instant: InstantReader = _as_stored
) -> RefreshToken:
    return _REFRESH_TOKENS.build(fields, instant)


def concert_fields(concert: Concert) -> Fields:
    fields = _CONCERTS.fields(concert)
    del fields["queue"]
    sections = [section_document(s) for s in concert.sections]
    return {**fields, **_QUEUES.fields(concert.queue), "sections": sections}


def concert_from_fields(fields: StoredFields, instant: InstantReader = _as_stored) -> Concert:
    enabled = bool(fields[QUEUE_PREFIX + "enabled"])
    return _CONCERTS.build(
        fields,
        instant,
        queue=_QUEUES.build(fields, instant, enabled=enabled),
        sections=tuple(section_from_document(s) for s in fields["sections"]),
    )


def order_fields(order: Order) -> Fields:
    return {
        **_ORDERS.fields(order),
        "seat_ids": list(order.seat_ids),
        "status": order.status.value,
        "history": [transition_document(t) for t in order.history],
    }


def order_from_fields(fields: StoredFields, instant: InstantReader = _as_stored) -> Order:
    return _ORDERS.build(
        fields,
        instant,
        seat_ids=tuple(fields["seat_ids"]),
        status=OrderStatus(fields["status"]),
        history=tuple(transition_from_document(t) for t in fields["history"]),
    )


def ticket_fields(ticket: Ticket) -> Fields:
    return _TICKETS.fields(ticket)


def ticket_from_fields(fields: StoredFields, instant: InstantReader = _as_stored) -> Ticket:
    return _TICKETS.build(fields, instant)
