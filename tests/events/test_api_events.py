"""Events published by the HTTP API: after each successful write, in order, never on failure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY

from app.events.schemas import (
    DomainEvent,
    OrderCancelled,
    OrderConfirmed,
    OrderCreated,
    OrderExpired,
    OrderFailed,
    OrderRefunded,
    SeatHeld,
    SeatReleased,
    SeatSold,
    to_fields,
)
from app.platform.redis import RedisClient
from app.seats.service import concert_of_hold
from app.storage.records import Order, OrderStatus
from tests.checkout.test_api import (
    charge_refunded,
    checkout,
    deliver,
    event,
    hold,
    order_of,
    pay,
    succeeded,
)
from tests.conftest import admin_login
from tests.events.conftest import eventually, raw_entries, read_stream
from tests.helpers import CONCERTS, buyer, container_of, create_concert

API = "/api/v1"


@dataclass
class OnSale:
    """A concert on sale in this test's app, whose events go to this test's stream."""

    client: httpx.AsyncClient
    app: FastAPI
    redis: RedisClient
    stream: str
    concert_id: str

    async def events(self) -> list[DomainEvent]:
        await container_of(self.app).events.drain()  # seat.held is appended after the answer
        return await read_stream(self.redis, self.stream, self.concert_id)

    async def hold(self, who: dict[str, str], seats: list[str]) -> dict[str, Any]:
        return await hold(self.client, self.concert_id, who, seats)

    async def order(
        self, who: dict[str, str], seats: list[str]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """`seats` held and checked out: the hold and the order awaiting payment."""
        h = await self.hold(who, seats)
        order: dict[str, Any] = (await checkout(self.client, h["id"], who)).json()["order"]
        return h, order


@pytest.fixture
async def sale(
    events_client: httpx.AsyncClient, events_app: FastAPI, redis: RedisClient, stream: str
) -> OnSale:
    c = await create_concert(events_client, await admin_login(events_client))
    return OnSale(events_client, events_app, redis, stream, c["id"])


def types(events: list[Any]) -> list[str]:
    return [e.type for e in events]


def counter(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_a_purchase_publishes_held_created_confirmed_sold_in_order(sale: OnSale) -> None:
    client, redis, stream = sale.client, sale.redis, sale.stream
    group = container_of(sale.app).settings.events_consumer_group.encode()

    async def group_ready() -> bool:
        return bool(await redis.exists(stream)) and bool(await redis.xinfo_groups(stream))

    await eventually(group_ready)  # the app's ticket-delivery consumer is listening
    created_before = counter("orders_total", status="pending_payment")
    confirmed_before = counter("orders_total", status="confirmed")
    holds_before = counter("seat_holds_created_total")

    me = buyer(sale.app)
    h, order = await sale.order(me, ["floor-A-1", "floor-A-2"])
    assert (await pay(client, order["payment_intent_id"], me)).status_code == 200
    done = await order_of(client, order["id"], me)

    events = await sale.events()
    assert types(events) == ["seat.held", "order.created", "order.confirmed", "seat.sold"]
    held, created, confirmed, sold = events
    assert isinstance(held, SeatHeld)
    assert isinstance(created, OrderCreated)
    assert isinstance(confirmed, OrderConfirmed)
    assert isinstance(sold, SeatSold)
    user_id = created.user_id
    assert held.hold_id == h["id"]
    assert held.seat_ids == ["floor-A-1", "floor-A-2"]
    assert held.expires_at == datetime.fromisoformat(h["expires_at"])
    assert (held.amount_cents, held.currency) == (10_000, "EUR")
    assert (created.order_id, created.hold_id) == (order["id"], h["id"])
    assert created.expires_at == datetime.fromisoformat(order["expires_at"])
    assert created.payment_intent_id is None  # attached right after the order is written
    assert (confirmed.order_id, confirmed.user_id, confirmed.late) == (order["id"], user_id, False)
    assert confirmed.payment_intent_id == order["payment_intent_id"]
    assert confirmed.ticket_ids == [t["id"] for t in done["tickets"]]
    assert (sold.order_id, sold.hold_id, sold.seat_ids) == (order["id"], h["id"], held.seat_ids)
    assert {e.user_id for e in (held, sold)} == {user_id}
    stamps = [e.occurred_at for e in events]
    assert stamps == sorted(stamps)
    assert all(e.v == 1 and e.id for e in events)

    assert counter("orders_total", status="pending_payment") == created_before + 1
    assert counter("orders_total", status="confirmed") == confirmed_before + 1
    assert counter("seat_holds_created_total") == holds_before + 1

    # The ticket-delivery group handled everything, order.confirmed included.
    async def delivered() -> bool:
        [info] = [g for g in await redis.xinfo_groups(stream) if g["name"] == group]
        last = info["last-delivered-id"].decode()
        return info["pending"] == 0 and _entry_order(last) >= _entry_order(sold.id or "")

    await eventually(delivered)


def _entry_order(entry_id: str) -> tuple[int, int]:
    ms, seq = entry_id.split("-")
    return int(ms), int(seq)


async def test_refused_writes_publish_nothing(sale: OnSale) -> None:
    client = sale.client
    first, second = buyer(sale.app), buyer(sale.app)
    h = await sale.hold(first, ["floor-A-1"])
    holds = f"{CONCERTS}/{sale.concert_id}/holds"
    taken = await client.post(holds, json={"seat_ids": ["floor-A-1"]}, headers=second)
    assert taken.status_code == 409
    unknown = await client.post(holds, json={"seat_ids": ["nowhere-1"]}, headers=second)
    assert unknown.status_code == 422
    foreign = await client.delete(f"{API}/holds/{h['id']}", headers=second)
    assert foreign.status_code == 404
    assert types(await sale.events()) == ["seat.held"]

    order = (await checkout(client, h["id"], first)).json()["order"]
    await pay(client, order["payment_intent_id"], first)
    before = await sale.events()
    # Replays change nothing and publish nothing: the same payment event again, a cancel of a
    # confirmed order (409), the same hold checked out again.
    paid = succeeded(order["payment_intent_id"], order["id"])
    assert (
        await deliver(client, sale.app, event("payment_intent.succeeded", paid))
    ).status_code == 200
    cancel = await client.post(f"{API}/orders/{order['id']}/cancel", headers=first)
    assert cancel.status_code == 409
    assert (await checkout(client, h["id"], first)).status_code == 200
    assert await sale.events() == before


async def test_seats_going_back_say_why(sale: OnSale) -> None:
    client = sale.client
    me = buyer(sale.app)
    released_before = counter("seat_holds_released_total", reason="released")

    given_back = await sale.hold(me, ["floor-A-1"])
    assert (await client.delete(f"{API}/holds/{given_back['id']}", headers=me)).status_code == 204

    cancelled_hold, cancelled = await sale.order(me, ["floor-A-2"])
    r = await client.post(f"{API}/orders/{cancelled['id']}/cancel", headers=me)
    assert r.status_code == 200

    failed_hold, failed = await sale.order(me, ["floor-A-3"])
    assert (await pay(client, failed["payment_intent_id"], me, "failed")).status_code == 200

    events = await sale.events()
    assert types(events) == [
        "seat.held",
        "seat.released",
        "seat.held",
        "order.created",
        "order.cancelled",
        "seat.released",
        "seat.held",
        "order.created",
        "order.failed",
        "seat.released",
    ]
    releases = [e for e in events if isinstance(e, SeatReleased)]
    assert [(e.hold_id, e.seat_ids, e.reason, e.order_id) for e in releases] == [
        (given_back["id"], ["floor-A-1"], "released", None),
        (cancelled_hold["id"], ["floor-A-2"], "checkout_cancelled", cancelled["id"]),
        (failed_hold["id"], ["floor-A-3"], "payment_failed", failed["id"]),
    ]
    [cancel_event] = [e for e in events if isinstance(e, OrderCancelled)]
    assert (cancel_event.order_id, cancel_event.by) == (cancelled["id"], "buyer")
    [fail_event] = [e for e in events if isinstance(e, OrderFailed)]
    assert fail_event.order_id == failed["id"]
    assert counter("seat_holds_released_total", reason="released") == released_before + 1


async def test_a_refund_publishes_refunded_and_the_seats_back_on_sale(sale: OnSale) -> None:
    client, me = sale.client, buyer(sale.app)
    _, order = await sale.order(me, ["balcony-A-1"])
    await pay(client, order["payment_intent_id"], me)
    charge = charge_refunded(order["payment_intent_id"])
    assert (await deliver(client, sale.app, event("charge.refunded", charge))).status_code == 200
    events = await sale.events()
    assert types(events)[-2:] == ["order.refunded", "seat.released"]
    refunded, back = events[-2:]
    assert isinstance(refunded, OrderRefunded)
    assert (refunded.order_id, refunded.reason) == (order["id"], "charge_refunded")
    assert isinstance(back, SeatReleased)
    assert (back.seat_ids, back.reason, back.order_id) == (
        ["balcony-A-1"],
        "order_refunded",
        order["id"],
    )


async def test_an_expired_order_publishes_expired_and_frees_its_hold(sale: OnSale) -> None:
    container = container_of(sale.app)
    h = await sale.hold(buyer(sale.app), ["floor-B-1"])
    [held] = await sale.events()
    assert isinstance(held, SeatHeld)
    # An order whose payment window is already over (as if the expiry job had been late).
    now = datetime.now(UTC)
    order = Order(
        id=f"o-{h['id']}",
        user_id=held.user_id,
        concert_id=concert_of_hold(h["id"]),
        hold_id=h["id"],
        seat_ids=("floor-B-1",),
        amount_cents=5000,
        currency="EUR",
        status=OrderStatus.PENDING_PAYMENT,
        created_at=now - timedelta(minutes=20),
        expires_at=now - timedelta(seconds=1),
    )
    await container.store.orders.add(order)
    await container.checkout.expire_due()

    events = await sale.events()
    assert types(events) == ["seat.held", "order.expired", "seat.released"]
    expired, back = events[1:]
    assert isinstance(expired, OrderExpired)
    assert expired.order_id == order.id
    assert isinstance(back, SeatReleased)
    assert (back.hold_id, back.reason, back.order_id) == (h["id"], "order_expired", order.id)


async def test_a_failed_publish_never_fails_the_request(sale: OnSale) -> None:
    client, redis, stream = sale.client, sale.redis, sale.stream
    me = buyer(sale.app)
    await redis.delete(stream)
    await redis.set(stream, "a string where the stream should be")  # every XADD now fails
    failed_before = {
        t: counter("events_publish_failed_total", type=t)
        for t in ("seat.held", "order.created", "order.confirmed", "seat.sold")
    }
    try:
        h = await sale.hold(me, ["floor-B-2"])
        r = await checkout(client, h["id"], me)
        assert r.status_code == 201, r.text
        order = r.json()["order"]
        assert (await pay(client, order["payment_intent_id"], me)).status_code == 200
        assert (await order_of(client, order["id"], me))["status"] == "confirmed"
    finally:
        await redis.delete(stream)
    for kind, before in failed_before.items():
        assert counter("events_publish_failed_total", type=kind) == before + 1, kind


async def test_a_hold_publishes_its_seat_held_through_the_publisher(
    sale: OnSale, monkeypatch: pytest.MonkeyPatch
) -> None:
    """seat.held is written by EventPublisher like every other event (one schema, one writer):
    the entry in the stream is to_fields of the SeatHeld the service published."""
    container = container_of(sale.app)
    publish_soon = container.events.publish_soon
    by_the_service: list[DomainEvent] = []

    def recorded(*events: DomainEvent) -> None:
        by_the_service.extend(events)
        publish_soon(*events)

    monkeypatch.setattr(container.events, "publish_soon", recorded)
    me = buyer(sale.app)
    published = counter("events_published_total", type="seat.held")
    h = await sale.hold(me, ["floor-A-3", "balcony-A-1"])
    await container.events.drain()
    [raw] = [f for _, f in await raw_entries(sale.redis, sale.stream) if f[b"type"] == b"seat.held"]
    assert counter("events_published_total", type="seat.held") == published + 1
    [event] = [e for e in by_the_service if isinstance(e, SeatHeld)]
    assert event.hold_id == h["id"]
    assert event.seat_ids == ["floor-A-3", "balcony-A-1"]
    assert event.expires_at == datetime.fromisoformat(h["expires_at"])
    assert event.amount_cents == h["amount_cents"]
    assert abs((datetime.now(UTC) - event.occurred_at).total_seconds()) < 30
    assert {k.decode(): v.decode() for k, v in raw.items()} == to_fields(event)
