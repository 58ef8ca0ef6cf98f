"""Records with unique ids, so every test owns its data in the shared per-session database."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

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

# Deliberately with microseconds: they must survive the round trip.
T0 = datetime(2030, 6, 1, 12, 0, 0, 123456, tzinfo=UTC)


def uid(prefix: str = "") -> str:
    return f"{prefix}{uuid.uuid4().hex}"


def make_user(**overrides: Any) -> User:
    user = User(
        id=uid("u-"),
        email=f"{uid()}@example.com",
        name="Ada Lovelace",
        password_hash="$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
        role="user",
        created_at=T0,
    )
    return replace(user, **overrides)


def make_refresh_token(**overrides: Any) -> RefreshToken:
    token = RefreshToken(
        jti=uid("jti-"),
        user_id=uid("u-"),
        family_id=uid("fam-"),
        issued_at=T0,
        expires_at=T0 + timedelta(days=30),
    )
    return replace(token, **overrides)


def make_layout() -> tuple[Section, ...]:
    return (
        Section(
            id="floor",
            name="Floor",
            price_cents=12_500,
            rows=(
                Row(label="A", seat_ids=("floor-A-1", "floor-A-2", "floor-A-3")),
                Row(label="B", seat_ids=("floor-B-1", "floor-B-2")),
            ),
        ),
        Section(
            id="balcony",
            name="Balcony — east",
            price_cents=4_950,
            rows=(Row(label="AA", seat_ids=("balcony-AA-10", "balcony-AA-11")),),
        ),
    )


def make_concert(**overrides: Any) -> Concert:
    concert = Concert(
        id=uid("c-"),
        title="Night Shift",
        artist="The Examples",
        genre="rock",
        description="An evening of reference implementations.",
        venue_name="Hall One",
        venue_city="Lisbon",
        starts_at=T0 + timedelta(days=30),
        on_sale_at=T0,
        currency="EUR",
        max_tickets_per_user=6,
        queue=QueueSettings(enabled=True, admit_per_minute=300, max_active=1500),
        sections=make_layout(),
        created_at=T0,
        updated_at=T0,
    )
    return replace(concert, **overrides)


def make_order(**overrides: Any) -> Order:
    order = Order(
        id=uid("o-"),
        user_id=uid("u-"),
        concert_id=uid("c-"),
        hold_id=uid("h-"),
        seat_ids=("floor-A-1", "floor-A-2"),
        amount_cents=25_000,
        currency="EUR",
        status=OrderStatus.PENDING_PAYMENT,
        created_at=T0,
        # Far from list_due's test window (1970s); see test_list_due.
        expires_at=T0 + timedelta(minutes=5),
    )
    return replace(order, **overrides)


def make_transition(**overrides: Any) -> OrderTransition:
    transition = OrderTransition(
        from_status=OrderStatus.PENDING_PAYMENT,
        to_status=OrderStatus.CONFIRMED,
        reason="payment_succeeded",
        at=T0,
    )
    return replace(transition, **overrides)


def make_ticket(**overrides: Any) -> Ticket:
    ticket = Ticket(
        id=uid("t-"),
        order_id=uid("o-"),
        user_id=uid("u-"),
        concert_id=uid("c-"),
        seat_id="floor-A-1",
        section="Floor",
        row="A",
        number=1,
        code=uid("code-"),
        issued_at=T0,
    )
    return replace(ticket, **overrides)
