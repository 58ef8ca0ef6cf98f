"""The publisher writes the documented entry shape, in order, trimmed, and never raises."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import REGISTRY

from app.events.publisher import EventPublisher
from app.events.schemas import (
    EVENT_TYPES,
    DomainEvent,
    EmailVerificationRequested,
    LotteryDrawn,
    OrderCancelled,
    OrderConfirmed,
    OrderCreated,
    OrderExpired,
    OrderFailed,
    OrderRefunded,
    SeatHeld,
    SeatReleased,
    SeatSold,
    TicketTransferred,
    UnreadableEvent,
    from_fields,
)
from app.platform.redis import RedisClient, build_redis
from tests.events.conftest import raw_entries, read_stream
from tests.storage.factories import make_order

EXPIRES = datetime(2030, 6, 1, 12, 5, tzinfo=UTC)
HOLD: dict[str, Any] = {
    "concert_id": "c1",
    "hold_id": "c1.h1",
    "user_id": "u1",
    "seat_ids": ["floor-A-1"],
}


def one_of_each() -> list[DomainEvent]:
    order = make_order(payment_intent_id="pi_1")
    return [
        SeatHeld(**HOLD, expires_at=EXPIRES, amount_cents=5000, currency="EUR"),
        SeatReleased(**HOLD, reason="released"),
        SeatSold(**HOLD, order_id="o1"),
        OrderCreated.of(order, expires_at=EXPIRES),
        OrderConfirmed.of(order, ticket_ids=["t1", "t2"], late=True),
        OrderExpired.of(order),
        OrderCancelled.of(order, by="provider"),
        OrderFailed.of(order),
        OrderRefunded.of(order, reason="seats_taken"),
        EmailVerificationRequested(user_id="u1", request_id="r1"),
        TicketTransferred(
            concert_id=order.concert_id,
            ticket_id="t1",
            order_id=order.id,
            seat_id="floor-A-1",
            from_user_id="u1",
            to_user_id="u2",
        ),
        LotteryDrawn(concert_id=order.concert_id, entries=10, winners=3, window_ends_at=EXPIRES),
    ]


# The documented fields of each type's `data` (docs/events.md), besides occurred_at/concert_id.
ORDER_FIELDS = {
    "order_id",
    "hold_id",
    "user_id",
    "seat_ids",
    "amount_cents",
    "currency",
    "payment_intent_id",
}
DATA_FIELDS: dict[str, set[str]] = {
    "seat.held": {"hold_id", "user_id", "seat_ids", "expires_at", "amount_cents", "currency"},
    "seat.released": {"hold_id", "user_id", "seat_ids", "reason", "order_id"},
    "seat.sold": {"order_id", "hold_id", "user_id", "seat_ids"},
    "order.created": ORDER_FIELDS | {"expires_at"},
    "order.confirmed": ORDER_FIELDS | {"ticket_ids", "late"},
    "order.expired": ORDER_FIELDS,
    "order.cancelled": ORDER_FIELDS | {"by"},
    "order.failed": ORDER_FIELDS,
    "order.refunded": ORDER_FIELDS | {"reason"},
    "ticket.transferred": {"ticket_id", "order_id", "seat_id", "from_user_id", "to_user_id"},
    "email.verification_requested": {"user_id", "request_id"},
    "lottery.drawn": {"entries", "winners", "window_ends_at"},
}


def counter(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_every_event_is_one_entry_of_v_type_and_json_data(
    redis: RedisClient, stream: str
) -> None:
    publisher = EventPublisher(redis, stream, maxlen=1000)
    events = one_of_each()
    assert sorted(e.type for e in events) == sorted(EVENT_TYPES)
    ids = await publisher.publish(*events)
    assert len(ids) == len(events)

    entries = await raw_entries(redis, stream)
    assert [i.decode() for i, _ in entries] == ids
    for (entry_id, fields), sent in zip(entries, events, strict=True):
        assert set(fields) == {b"v", b"type", b"data"}
        assert fields[b"v"] == b"1"
        assert fields[b"type"].decode() == sent.type
        data = json.loads(fields[b"data"])
        assert set(data) == {"occurred_at", "concert_id"} | DATA_FIELDS[sent.type]
        occurred = datetime.fromisoformat(data["occurred_at"])
        assert occurred.utcoffset() == timedelta(0)
        assert abs(datetime.now(UTC) - occurred) < timedelta(seconds=30)
        # Read back, it is the same event, with the entry id as its id.
        read = from_fields(entry_id, fields)
        assert type(read) is type(sent)
        assert read.id == entry_id.decode()
        assert read.model_dump(exclude={"id"}) == sent.model_dump(exclude={"id"})


async def test_order_events_carry_the_order(redis: RedisClient, stream: str) -> None:
    order = make_order(payment_intent_id="pi_9")
    await EventPublisher(redis, stream, maxlen=1000).publish(
        OrderConfirmed.of(order, ticket_ids=["t1", "t2"])
    )
    [event] = await read_stream(redis, stream)
    assert isinstance(event, OrderConfirmed)
    assert (event.order_id, event.user_id, event.concert_id) == (
        order.id,
        order.user_id,
        order.concert_id,
    )
    assert event.seat_ids == list(order.seat_ids)
    assert (event.amount_cents, event.currency) == (order.amount_cents, order.currency)
    assert event.payment_intent_id == "pi_9"
    assert event.late is False


async def test_the_stream_is_trimmed_to_about_maxlen(redis: RedisClient, stream: str) -> None:
    publisher = EventPublisher(redis, stream, maxlen=10)
    for _ in range(300):
        await publisher.publish(SeatReleased(**HOLD, reason="expired"))
    # MAXLEN ~ trims whole radix-tree nodes (100 entries by default): at least 10 are kept.
    assert 10 <= await redis.xlen(stream) <= 200


async def test_disabled_events_write_nothing(redis: RedisClient, stream: str) -> None:
    publisher = EventPublisher(redis, stream, maxlen=10, enabled=False)
    assert await publisher.publish(SeatReleased(**HOLD, reason="released")) == []
    assert await redis.exists(stream) == 0


async def test_a_stream_key_of_the_wrong_type_is_logged_and_counted(
    redis: RedisClient, stream: str, caplog: pytest.LogCaptureFixture
) -> None:
    await redis.set(stream, "not a stream")
    before = counter("events_publish_failed_total", type="seat.sold")
    publisher = EventPublisher(redis, stream, maxlen=10)
    try:
        assert await publisher.publish(SeatSold(**HOLD, order_id="o1")) == []
        assert (
            await publisher.publish(
                SeatSold(**HOLD, order_id="o1"), SeatSold(**HOLD, order_id="o2")
            )
            == []
        )
    finally:
        await redis.delete(stream)
    assert counter("events_publish_failed_total", type="seat.sold") == before + 3
    assert any(r.getMessage() == "event publish failed" for r in caplog.records)


async def test_an_unreachable_redis_fails_fast_and_quietly(stream: str) -> None:
    broken = build_redis("redis://127.0.0.1:1/0", timeout=0.2)
    before = counter("events_publish_failed_total", type="seat.held")
    try:
        held = SeatHeld(**HOLD, expires_at=EXPIRES, amount_cents=1, currency="EUR")
        assert await EventPublisher(broken, stream, maxlen=10).publish(held) == []
    finally:
        await broken.aclose()
    assert counter("events_publish_failed_total", type="seat.held") == before + 1


@pytest.mark.parametrize(
    "fields",
    [
        {"v": "2", "type": "seat.held", "data": "{}"},
        {"v": "1", "type": "seat.teleported", "data": "{}"},
        {"v": "1", "type": "seat.sold", "data": "not json"},
        {"v": "1", "type": "seat.sold", "data": "[1]"},
        {"v": "1", "type": "seat.sold", "data": json.dumps({"concert_id": "c1"})},
        {"type": "seat.sold"},
    ],
)
def test_entries_that_are_not_v1_events_are_refused(fields: dict[str, Any]) -> None:
    with pytest.raises(UnreadableEvent):
        from_fields(b"1-0", fields)


def test_unknown_fields_are_ignored_within_v1() -> None:
    data = {**HOLD, "order_id": "o1", "occurred_at": "2030-06-01T12:00:00Z", "new_field": 1}
    event = from_fields("7-1", {"v": "1", "type": "seat.sold", "data": json.dumps(data)})
    assert isinstance(event, SeatSold)
    assert event.id == "7-1"
    assert event.occurred_at == datetime(2030, 6, 1, 12, tzinfo=UTC)


async def test_publish_soon_appends_after_the_caller_moved_on(
    redis: RedisClient, stream: str
) -> None:
    """publish_soon returns at once; the events land in the next batch, in order, counted,
    and drain() waits for them."""
    publisher = EventPublisher(redis, stream, maxlen=100)
    before = counter("events_published_total", type="seat.held")
    events = one_of_each()
    try:
        publisher.publish_soon(events[0])
        publisher.publish_soon(*events[1:])
        await publisher.drain()
        assert [e.type for e in await read_stream(redis, stream)] == [e.type for e in events]
    finally:
        await redis.delete(stream)
    assert counter("events_published_total", type="seat.held") == before + 1


async def test_publish_soon_counts_and_logs_a_failed_append_without_raising(
    stream: str, caplog: pytest.LogCaptureFixture
) -> None:
    broken = build_redis("redis://127.0.0.1:1/0", timeout=0.2)
    before = counter("events_publish_failed_total", type="seat.held")
    try:
        publisher = EventPublisher(broken, stream, maxlen=10)
        publisher.publish_soon(SeatHeld(**HOLD, expires_at=EXPIRES, amount_cents=1, currency="EUR"))
        await publisher.drain()
    finally:
        await broken.aclose()
    assert counter("events_publish_failed_total", type="seat.held") == before + 1
    assert any(r.getMessage() == "event publish failed" for r in caplog.records)


async def test_publish_soon_does_nothing_when_events_are_off(
    redis: RedisClient, stream: str
) -> None:
    publisher = EventPublisher(redis, stream, maxlen=10, enabled=False)
    publisher.publish_soon(SeatHeld(**HOLD, expires_at=EXPIRES, amount_cents=1, currency="EUR"))
    await publisher.drain()
    assert await redis.exists(stream) == 0
