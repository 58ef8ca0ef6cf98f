"""Rows <-> domain records. JSON columns carry the nested parts (layout, history)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from sqlalchemy import RowMapping

from app.storage.documents import (
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


def user_values(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "email": user.email.lower(),
        "name": user.name,
        "password_hash": user.password_hash,
        "role": user.role,
        "created_at": user.created_at,
    }


def user_from_row(row: RowMapping) -> User:
    return User(
        id=row["id"],
        email=row["email"],
        name=row["name"],
        password_hash=row["password_hash"],
        role=cast(Role, row["role"]),
        created_at=row["created_at"],
    )


def refresh_token_values(token: RefreshToken) -> dict[str, Any]:
    return {
        "jti": token.jti,
        "user_id": token.user_id,
        "family_id": token.family_id,
        "issued_at": token.issued_at,
        "expires_at": token.expires_at,
        "used_at": token.used_at,
        "revoked_at": token.revoked_at,
    }


def refresh_token_from_row(row: RowMapping) -> RefreshToken:
    return RefreshToken(
        jti=row["jti"],
        user_id=row["user_id"],
        family_id=row["family_id"],
        issued_at=row["issued_at"],
        expires_at=row["expires_at"],
        used_at=row["used_at"],
        revoked_at=row["revoked_at"],
    )


def concert_values(concert: Concert) -> dict[str, Any]:
    """Every column but the version, which the repository manages."""
    return {
        "id": concert.id,
        "title": concert.title,
        "artist": concert.artist,
        "genre": concert.genre,
        "description": concert.description,
        "venue_name": concert.venue_name,
        "venue_city": concert.venue_city,
        "starts_at": concert.starts_at,
        "on_sale_at": concert.on_sale_at,
        "currency": concert.currency,
        "max_tickets_per_user": concert.max_tickets_per_user,
        "queue_enabled": concert.queue.enabled,
        "queue_admit_per_minute": concert.queue.admit_per_minute,
        "queue_max_active": concert.queue.max_active,
        "queue_opens_at": concert.queue.opens_at,
        "sections": [section_document(s) for s in concert.sections],
        "created_at": concert.created_at,
        "updated_at": concert.updated_at,
    }


def concert_from_row(row: RowMapping) -> Concert:
    return Concert(
        id=row["id"],
        title=row["title"],
        artist=row["artist"],
        genre=row["genre"],
        description=row["description"],
        venue_name=row["venue_name"],
        venue_city=row["venue_city"],
        starts_at=row["starts_at"],
        on_sale_at=row["on_sale_at"],
        currency=row["currency"],
        max_tickets_per_user=row["max_tickets_per_user"],
        queue=QueueSettings(
            enabled=bool(row["queue_enabled"]),
            admit_per_minute=row["queue_admit_per_minute"],
            max_active=row["queue_max_active"],
            opens_at=row["queue_opens_at"],
        ),
        sections=tuple(section_from_document(s) for s in row["sections"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        version=row["version"],
    )


def order_values(order: Order) -> dict[str, Any]:
    return {
        "id": order.id,
        "user_id": order.user_id,
        "concert_id": order.concert_id,
        "hold_id": order.hold_id,
        "seat_ids": list(order.seat_ids),
        "amount_cents": order.amount_cents,
        "currency": order.currency,
        "status": order.status.value,
        "created_at": order.created_at,
        "expires_at": order.expires_at,
        "payment_intent_id": order.payment_intent_id,
        "version": order.version,
        "history": [transition_document(t) for t in order.history],
    }


def order_from_row(row: Mapping[Any, Any]) -> Order:
    return Order(
        id=row["id"],
        user_id=row["user_id"],
        concert_id=row["concert_id"],
        hold_id=row["hold_id"],
        seat_ids=tuple(row["seat_ids"]),
        amount_cents=row["amount_cents"],
        currency=row["currency"],
        status=OrderStatus(row["status"]),
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        payment_intent_id=row["payment_intent_id"],
        version=row["version"],
        history=tuple(transition_from_document(t) for t in row["history"]),
    )


def ticket_values(ticket: Ticket) -> dict[str, Any]:
    return {
        "id": ticket.id,
        "order_id": ticket.order_id,
        "user_id": ticket.user_id,
        "concert_id": ticket.concert_id,
        "seat_id": ticket.seat_id,
        "section": ticket.section,
        "row_label": ticket.row,
        "seat_number": ticket.number,
        "code": ticket.code,
        "issued_at": ticket.issued_at,
        "checked_in_at": ticket.checked_in_at,
    }


def ticket_from_row(row: Mapping[Any, Any]) -> Ticket:
    return Ticket(
        id=row["id"],
        order_id=row["order_id"],
        user_id=row["user_id"],
        concert_id=row["concert_id"],
        seat_id=row["seat_id"],
        section=row["section"],
        row=row["row_label"],
        number=row["seat_number"],
        code=row["code"],
        issued_at=row["issued_at"],
        checked_in_at=row["checked_in_at"],
    )
