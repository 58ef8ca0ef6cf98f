"""Regression tests for what the purchase-flow model (test_purchase_model.py) found, one each."""

from __future__ import annotations

import json
import uuid

import httpx
from fastapi import FastAPI

from app.payments.simulated import SimulatedGateway
from app.seats.engine import ACTIVE_CONCERTS_KEY, concert_keys
from tests.checkout.test_api import checkout, deliver, event, hold, order_of, pay, succeeded
from tests.conftest import token_headers
from tests.helpers import CONCERTS, container_of, create_concert

API = "/api/v1"


def _buyer(app: FastAPI) -> tuple[str, dict[str, str]]:
    user_id = f"buyer-{uuid.uuid4().hex[:10]}"
    return user_id, token_headers(app, user_id)


async def test_a_late_payment_does_not_take_seats_another_buyer_holds(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    """Redis ends a checked-out hold at the end of the payment window, a few seconds before the
    expiry job sees the order. A buyer who holds the seats in between keeps them: the late
    payment is refunded, instead of selling seats shown as held to someone else (whose own
    payment was then refunded)."""
    c = await create_concert(client, admin_headers)
    late_id, late = _buyer(app)
    _, other = _buyer(app)
    h = await hold(client, c["id"], late, ["floor-A-1"])
    order = (await checkout(client, h["id"], late)).json()["order"]
    await container_of(app).engine.release(c["id"], h["id"], late_id)  # the hold lapses
    theirs = await hold(client, c["id"], other, ["floor-A-1"])

    # The buyer pays at the provider; the event arrives now.
    assert (await pay(client, order["payment_intent_id"], late)).status_code == 200

    assert (await order_of(client, order["id"], late))["status"] == "refunded"
    gateway = container_of(app).gateway.inner
    assert isinstance(gateway, SimulatedGateway)
    assert await gateway.refund_status(order["payment_intent_id"]) == "succeeded"
    assert await container_of(app).store.sales.sold_seats(c["id"]) == {}
    got = await client.get(f"{API}/holds/{theirs['id']}", headers=other)
    assert got.status_code == 200, "the other buyer's hold is intact"
    seat_map = (await client.get(f"{CONCERTS}/{c['id']}/seats")).json()
    assert seat_map["sections"][0]["rows"][0]["status"][0] == "H"
    # And the other buyer buys them.
    bought = (await checkout(client, theirs["id"], other)).json()
    assert (await pay(client, bought["payment"]["payment_intent_id"], other)).status_code == 200
    assert (await order_of(client, bought["order"]["id"], other))["status"] == "confirmed"


async def test_a_late_payment_still_takes_seats_nobody_holds(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    """The other side of the fix: a lapsed hold whose seats are still free is taken again."""
    c = await create_concert(client, admin_headers)
    late_id, late = _buyer(app)
    h = await hold(client, c["id"], late, ["floor-A-2", "floor-A-3"])
    order = (await checkout(client, h["id"], late)).json()["order"]
    await container_of(app).engine.release(c["id"], h["id"], late_id)
    assert (await pay(client, order["payment_intent_id"], late)).status_code == 200
    assert (await order_of(client, order["id"], late))["status"] == "confirmed"
    sold = await container_of(app).store.sales.sold_seats(c["id"])
    assert sold == {"floor-A-2": order["id"], "floor-A-3": order["id"]}
    users = await container_of(app).redis.hgetall(concert_keys(c["id"])[3])
    assert int(users[late_id.encode()]) == 2


async def test_a_payment_confirmed_again_does_not_use_up_the_cap(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    """Each repeated confirmation (the webhook after the expiry job or reconciliation already
    applied the payment, or the same news under another event id) counted the seats as bought
    again, until the buyer could hold nothing more."""
    c = await create_concert(client, admin_headers, max_tickets_per_user=4)
    user_id, me = _buyer(app)
    h = await hold(client, c["id"], me, ["floor-B-1", "floor-B-2"])
    order = (await checkout(client, h["id"], me)).json()["order"]
    assert (await pay(client, order["payment_intent_id"], me)).status_code == 200
    for _ in range(3):
        again = json.loads(
            event("payment_intent.succeeded", succeeded(order["payment_intent_id"], order["id"]))
        )
        assert (await deliver(client, app, json.dumps(again).encode())).status_code == 200
        await container_of(app).checkout.payment_succeeded(order["payment_intent_id"], order["id"])
    users = await container_of(app).redis.hgetall(concert_keys(c["id"])[3])
    assert int(users[user_id.encode()]) == 2
    two_more = await client.post(
        f"{CONCERTS}/{c['id']}/holds", json={"seat_ids": ["floor-B-3", "balcony-A-1"]}, headers=me
    )
    assert two_more.status_code == 201, two_more.text


async def test_a_rebuilt_concert_is_swept_again(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    """After Redis lost a concert (and the sweeper's registry with it), the process that had
    registered it a moment before skipped registering it again, so holds taken after the
    rebuild were never swept: expired, they still showed as held."""
    c = await create_concert(client, admin_headers)
    _, me = _buyer(app)
    await hold(client, c["id"], me, ["balcony-A-1"])
    engine = container_of(app).engine
    assert c["id"] in await engine.active_concerts()
    await engine.reset(c["id"])  # Redis loses the concert...
    await container_of(app).redis.zrem(ACTIVE_CONCERTS_KEY, c["id"])  # ...and the registry
    await hold(client, c["id"], me, ["balcony-A-2"])  # rebuilt on this first use
    assert c["id"] in await engine.active_concerts()
