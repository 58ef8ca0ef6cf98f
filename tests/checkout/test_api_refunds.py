"""Organisers refund a confirmed order (issue 16, item 6): `POST /orders/{id}/refund` refunds
through the payment provider exactly once, revokes the tickets (the door refuses them) and puts
the seats back on sale."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from fastapi import FastAPI

from app.payments.simulated import SimulatedGateway
from app.storage.records import OrderStatus
from tests.checkout.test_api import (
    charge_refunded,
    checkout,
    deliver,
    event,
    hold,
    order_of,
    pay,
    seat_states,
)
from tests.helpers import CONCERTS, buyer, container_of, create_concert

API = "/api/v1"


async def _bought(
    client: httpx.AsyncClient, app: FastAPI, concert_id: str, seats: list[str]
) -> tuple[dict[str, Any], dict[str, str]]:
    me = buyer(app)
    h = await hold(client, concert_id, me, seats)
    order = (await checkout(client, h["id"], me)).json()["order"]
    assert (await pay(client, order["payment_intent_id"], me)).status_code == 200
    done = await order_of(client, order["id"], me)
    assert done["status"] == "confirmed"
    return done, me


async def test_an_organiser_refunds_a_confirmed_order(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    c = await create_concert(client, admin_headers)
    order, me = await _bought(client, app, c["id"], ["floor-A-1", "floor-A-2"])
    assert (await seat_states(client, c["id"]))[:2] == "SS"

    r = await client.post(f"{API}/orders/{order['id']}/refund", headers=admin_headers)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "refunded"
    assert r.json()["id"] == order["id"]

    gateway = container_of(app).gateway.inner
    assert isinstance(gateway, SimulatedGateway)
    assert await gateway.refund_status(order["payment_intent_id"]) == "succeeded"
    after = await order_of(client, order["id"], me)
    assert after["status"] == "refunded"
    assert after["tickets"] == [], "a refunded order shows no tickets to scan"
    mine = (await client.get(f"{API}/me/tickets", headers=me)).json()["items"]
    assert [t for t in mine if t["order_id"] == order["id"]] == []
    assert (await seat_states(client, c["id"]))[:2] == "AA"
    assert await container_of(app).store.sales.sold_seats(c["id"]) == {}
    # The seats are on sale again, and sell to someone else.
    again, _ = await _bought(client, app, c["id"], ["floor-A-1"])
    assert again["status"] == "confirmed"
    # The provider's charge.refunded news arriving later changes nothing.
    news = event("charge.refunded", charge_refunded(order["payment_intent_id"]))
    assert (await deliver(client, app, news)).status_code == 200
    assert (await seat_states(client, c["id"]))[:2] == "SA"


async def test_concurrent_refunds_of_one_order_refund_once(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    c = await create_concert(client, admin_headers)
    order, _ = await _bought(client, app, c["id"], ["balcony-A-1"])
    results = await asyncio.gather(
        *(
            client.post(f"{API}/orders/{order['id']}/refund", headers=admin_headers)
            for _ in range(8)
        )
    )
    assert {r.status_code for r in results} == {200}, [r.text for r in results]
    assert {r.json()["status"] for r in results} == {"refunded"}
    stored = await container_of(app).store.orders.get(order["id"])
    assert stored is not None
    assert [t.to_status for t in stored.history].count(OrderStatus.REFUNDED) == 1
    counts = (await client.get(f"{CONCERTS}/{c['id']}/seats")).json()["counts"]
    assert counts["sold"] == 0


async def test_only_confirmed_orders_are_refunded_and_only_by_organisers(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    c = await create_concert(client, admin_headers)
    order, me = await _bought(client, app, c["id"], ["floor-B-1"])
    assert (await client.post(f"{API}/orders/{order['id']}/refund")).status_code == 401
    mine = await client.post(f"{API}/orders/{order['id']}/refund", headers=me)
    assert mine.status_code == 403
    assert (await order_of(client, order["id"], me))["status"] == "confirmed"

    h = await hold(client, c["id"], me, ["floor-B-2"])
    pending = (await checkout(client, h["id"], me)).json()["order"]
    r = await client.post(f"{API}/orders/{pending['id']}/refund", headers=admin_headers)
    assert r.status_code == 409
    assert r.json()["error"] == "InvalidOrderTransition"
    assert (await order_of(client, pending["id"], me))["status"] == "pending_payment"
    missing = await client.post(f"{API}/orders/no-such-order/refund", headers=admin_headers)
    assert missing.status_code == 404
