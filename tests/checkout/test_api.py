"""Checkout, payments and tickets end to end, with the simulated provider and signed events."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.checkout.tickets import TicketSigner
from app.payments.signature import sign
from app.payments.simulated import SimulatedGateway
from app.storage.records import OrderStatus
from tests.helpers import CONCERTS, buyer, container_of, create_concert

API = "/api/v1"


async def hold(
    client: httpx.AsyncClient, concert_id: str, headers: dict[str, str], seats: list[str]
) -> dict[str, Any]:
    r = await client.post(
        f"{CONCERTS}/{concert_id}/holds", json={"seat_ids": seats}, headers=headers
    )
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def checkout(
    client: httpx.AsyncClient, hold_id: str, headers: dict[str, str]
) -> httpx.Response:
    return await client.post(f"{API}/checkout", json={"hold_id": hold_id}, headers=headers)


async def pay(
    client: httpx.AsyncClient, intent_id: str, headers: dict[str, str], outcome: str = "succeeded"
) -> httpx.Response:
    return await client.post(
        f"{API}/payments/simulated/{intent_id}/confirm", json={"outcome": outcome}, headers=headers
    )


async def order_of(
    client: httpx.AsyncClient, order_id: str, headers: dict[str, str]
) -> dict[str, Any]:
    r = await client.get(f"{API}/orders/{order_id}", headers=headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def seat_states(client: httpx.AsyncClient, concert_id: str) -> str:
    body = (await client.get(f"{CONCERTS}/{concert_id}/seats")).json()
    return "".join(r["status"] for s in body["sections"] for r in s["rows"])


def event(kind: str, obj: dict[str, Any], event_id: str | None = None) -> bytes:
    return json.dumps(
        {
            "id": event_id or f"evt_test_{uuid.uuid4().hex}",
            "object": "event",
            "type": kind,
            "created": int(time.time()),
            "data": {"object": obj},
        }
    ).encode()


async def deliver(
    client: httpx.AsyncClient, app: FastAPI, payload: bytes, *, timestamp: int | None = None
) -> httpx.Response:
    secret = container_of(app).settings.webhook_secret
    headers = {
        "Stripe-Signature": sign(payload, secret, timestamp),
        "Content-Type": "application/json",
    }
    return await client.post(f"{API}/webhooks/stripe", content=payload, headers=headers)


def succeeded(intent_id: str, order_id: str) -> dict[str, Any]:
    return {
        "id": intent_id,
        "object": "payment_intent",
        "status": "succeeded",
        "metadata": {"order_id": order_id},
    }


def charge_refunded(intent_id: str) -> dict[str, Any]:
    return {
        "id": "ch_x",
        "object": "charge",
        "payment_intent": intent_id,
        "refunded": True,
    }


async def test_the_buyer_journey(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    c = await create_concert(client, admin_headers)
    me = buyer(app)
    h = await hold(client, c["id"], me, ["floor-A-1", "floor-A-2"])

    r = await checkout(client, h["id"], me)
    assert r.status_code == 201, r.text
    order, payment = r.json()["order"], r.json()["payment"]
    assert order["status"] == "pending_payment"
    assert order["seat_ids"] == ["floor-A-1", "floor-A-2"]
    assert order["amount_cents"] == 10_000
    assert order["currency"] == "EUR"
    assert order["tickets"] == []
    assert order["payment_intent_id"] == payment["payment_intent_id"]
    assert payment["provider"] == "simulated"
    assert payment["client_secret"]
    # The hold now covers the payment window.
    assert datetime.fromisoformat(order["expires_at"]) > datetime.fromisoformat(h["expires_at"])

    paid = await pay(client, payment["payment_intent_id"], me)
    assert paid.status_code == 200, paid.text
    assert paid.json()["event_type"] == "payment_intent.succeeded"

    done = await order_of(client, order["id"], me)
    assert done["status"] == "confirmed"
    assert [t["seat_id"] for t in done["tickets"]] == ["floor-A-1", "floor-A-2"]
    ticket = done["tickets"][0]
    assert (ticket["section"], ticket["row"], ticket["number"]) == ("Floor", "A", 1)
    claims = TicketSigner(container_of(app).settings.ticket_signing_secret, "encore").verify(
        ticket["code"]
    )
    assert (claims.order_id, claims.seat_id) == (order["id"], "floor-A-1")

    assert (await seat_states(client, c["id"]))[:3] == "SSA"
    sold = await container_of(app).store.sales.sold_seats(c["id"])
    assert sold == {"floor-A-1": order["id"], "floor-A-2": order["id"]}
    history = (await client.get(f"{API}/me/orders", headers=me)).json()["items"]
    assert [o["id"] for o in history] == [order["id"]]
    tickets = (await client.get(f"{API}/me/tickets", headers=me)).json()["items"]
    assert sorted(t["seat_id"] for t in tickets) == ["floor-A-1", "floor-A-2"]
    # Checking out the consumed hold again returns the same, now confirmed, order.
    again = await checkout(client, h["id"], me)
    assert again.status_code == 200
    assert again.json()["order"]["status"] == "confirmed"


async def test_checkout_replays_the_same_order_and_intent(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    c = await create_concert(client, admin_headers)
    me = buyer(app)
    h = await hold(client, c["id"], me, ["floor-B-1"])
    first = await checkout(client, h["id"], me)
    copies = await asyncio.gather(*(checkout(client, h["id"], me) for _ in range(5)))
    assert first.status_code == 201
    assert {r.status_code for r in copies} == {200}
    assert {r.json()["order"]["id"] for r in copies} == {first.json()["order"]["id"]}
    intents = {r.json()["payment"]["payment_intent_id"] for r in copies}
    assert intents == {first.json()["payment"]["payment_intent_id"]}
    key = {"Idempotency-Key": str(uuid.uuid4())}
    keyed = await client.post(f"{API}/checkout", json={"hold_id": h["id"]}, headers=me | key)
    replay = await client.post(f"{API}/checkout", json={"hold_id": h["id"]}, headers=me | key)
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json() == keyed.json()


async def test_checkout_of_unknown_or_foreign_holds_is_404(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    c = await create_concert(client, admin_headers)
    owner, other = buyer(app), buyer(app)
    h = await hold(client, c["id"], owner, ["floor-B-2"])
    for r in (
        await checkout(client, h["id"], other),
        await checkout(client, f"{c['id']}.nope", owner),
        await checkout(client, "garbage", owner),
    ):
        assert r.status_code == 404
        assert r.json()["error"] == "HoldNotFound"
    order = (await checkout(client, h["id"], owner)).json()["order"]
    # Once an order exists, another user still can't see it through the hold or the order.
    assert (await checkout(client, h["id"], other)).status_code == 404
    r = await client.get(f"{API}/orders/{order['id']}", headers=other)
    assert r.status_code == 404
    assert r.json()["error"] == "OrderNotFound"
    assert (
        await client.post(f"{API}/orders/{order['id']}/cancel", headers=other)
    ).status_code == 404
    assert (await checkout(client, h["id"], {})).status_code == 401


async def test_cancel_frees_the_seats_and_is_final(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    c = await create_concert(client, admin_headers)
    me = buyer(app)
    h = await hold(client, c["id"], me, ["balcony-A-1"])
    order = (await checkout(client, h["id"], me)).json()["order"]
    r = await client.post(f"{API}/orders/{order['id']}/cancel", headers=me)
    assert r.status_code == 200
    assert r.json()["status"] == "cancelled"
    assert (await seat_states(client, c["id"]))[6] == "A"
    again = await client.post(f"{API}/orders/{order['id']}/cancel", headers=me)
    assert again.status_code == 409
    assert again.json()["error"] == "InvalidOrderTransition"
    intent = await container_of(app).gateway.retrieve_intent(order["payment_intent_id"])
    assert intent.status == "canceled"


async def test_a_confirmed_order_cannot_be_cancelled(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    c = await create_concert(client, admin_headers)
    me = buyer(app)
    h = await hold(client, c["id"], me, ["balcony-A-2"])
    r = (await checkout(client, h["id"], me)).json()
    await pay(client, r["payment"]["payment_intent_id"], me)
    refused = await client.post(f"{API}/orders/{r['order']['id']}/cancel", headers=me)
    assert refused.status_code == 409
    assert (await order_of(client, r["order"]["id"], me))["status"] == "confirmed"


async def test_a_failed_payment_fails_the_order_and_frees_the_seats(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    c = await create_concert(client, admin_headers)
    me = buyer(app)
    h = await hold(client, c["id"], me, ["balcony-A-3"])
    r = (await checkout(client, h["id"], me)).json()
    failed = await pay(client, r["payment"]["payment_intent_id"], me, "failed")
    assert failed.json()["event_type"] == "payment_intent.payment_failed"
    assert (await order_of(client, r["order"]["id"], me))["status"] == "failed"
    assert (await seat_states(client, c["id"]))[8] == "A"


@pytest.mark.parametrize(
    ("signature", "body"),
    [
        (None, None),
        ("t=1,v1=deadbeef", None),
        ("garbage", None),
        ("stale", None),
        ("good", b"not json"),
        ("good", b'{"id": "evt_x"}'),
    ],
)
async def test_bad_webhooks_are_400_and_change_nothing(
    client: httpx.AsyncClient,
    app: FastAPI,
    admin_headers: dict[str, str],
    signature: str | None,
    body: bytes | None,
) -> None:
    c = await create_concert(client, admin_headers)
    me = buyer(app)
    h = await hold(client, c["id"], me, ["floor-A-3"])
    order = (await checkout(client, h["id"], me)).json()["order"]
    payload = body or event(
        "payment_intent.succeeded", succeeded(order["payment_intent_id"], order["id"])
    )
    secret = container_of(app).settings.webhook_secret
    headers = {"Content-Type": "application/json"}
    if signature == "good":
        headers["Stripe-Signature"] = sign(payload, secret)
    elif signature == "stale":
        headers["Stripe-Signature"] = sign(payload, secret, int(time.time()) - 301)
    elif signature is not None:
        headers["Stripe-Signature"] = signature
    r = await client.post(f"{API}/webhooks/stripe", content=payload, headers=headers)
    assert r.status_code == 400
    assert r.json()["error"] in ("InvalidSignature", "InvalidPayload")
    assert (await order_of(client, order["id"], me))["status"] == "pending_payment"
    assert await container_of(app).store.sales.sold_seats(c["id"]) == {}


async def test_five_concurrent_copies_of_one_event_make_one_booking(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    c = await create_concert(client, admin_headers)
    me = buyer(app)
    h = await hold(client, c["id"], me, ["floor-B-3", "balcony-A-4"])
    order = (await checkout(client, h["id"], me)).json()["order"]
    payload = event("payment_intent.succeeded", succeeded(order["payment_intent_id"], order["id"]))
    results = await asyncio.gather(*(deliver(client, app, payload) for _ in range(5)))
    assert [r.status_code for r in results] == [200] * 5
    assert all(r.json() == {"received": True} for r in results)
    done = await order_of(client, order["id"], me)
    assert done["status"] == "confirmed"
    assert len(done["tickets"]) == 2
    assert len((await client.get(f"{API}/me/tickets", headers=me)).json()["items"]) == 2
    # Copies of *different* event ids for the same payment are just as harmless.
    other = event("payment_intent.succeeded", succeeded(order["payment_intent_id"], order["id"]))
    assert (await deliver(client, app, other)).status_code == 200
    assert len((await order_of(client, order["id"], me))["tickets"]) == 2


async def test_out_of_order_events_never_move_an_order_backwards(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    c = await create_concert(client, admin_headers)
    me = buyer(app)
    h = await hold(client, c["id"], me, ["floor-A-1"])
    order = (await checkout(client, h["id"], me)).json()["order"]
    pi = order["payment_intent_id"]
    await deliver(client, app, event("payment_intent.succeeded", succeeded(pi, order["id"])))
    late_failure = {**succeeded(pi, order["id"]), "status": "requires_payment_method"}
    assert (
        await deliver(client, app, event("payment_intent.payment_failed", late_failure))
    ).status_code == 200
    assert (
        await deliver(client, app, event("payment_intent.canceled", late_failure))
    ).status_code == 200
    assert (await order_of(client, order["id"], me))["status"] == "confirmed"
    assert (await seat_states(client, c["id"]))[0] == "S"


async def test_charge_refunded_puts_the_seats_back_on_sale(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    c = await create_concert(client, admin_headers)
    me = buyer(app)
    h = await hold(client, c["id"], me, ["floor-A-2"])
    order = (await checkout(client, h["id"], me)).json()["order"]
    await pay(client, order["payment_intent_id"], me)
    charge = charge_refunded(order["payment_intent_id"])
    assert (await deliver(client, app, event("charge.refunded", charge))).status_code == 200
    assert (await order_of(client, order["id"], me))["status"] == "refunded"
    assert (await seat_states(client, c["id"]))[1] == "A"
    assert await container_of(app).store.sales.sold_seats(c["id"]) == {}
    assert (await client.get(f"{API}/me/tickets", headers=me)).json()["items"] == []


async def _lapse(app: FastAPI, order_id: str) -> None:
    """What the order-expiry job does when the payment window ends (without waiting for it)."""
    container = container_of(app)
    order = await container.store.orders.get(order_id)
    assert order is not None
    await container.store.orders.transition(
        order.id, order.version, OrderStatus.EXPIRED, "test: window over", datetime.now(UTC)
    )
    concert = await container.store.concerts.get(order.concert_id)
    assert concert is not None
    await container.engine.release(concert.id, order.hold_id, order.user_id)


async def test_a_late_payment_reclaims_seats_that_are_still_free(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    c = await create_concert(client, admin_headers)
    me = buyer(app)
    h = await hold(client, c["id"], me, ["floor-B-1"])
    order = (await checkout(client, h["id"], me)).json()["order"]
    await _lapse(app, order["id"])
    assert (await seat_states(client, c["id"]))[3] == "A"
    await deliver(
        client,
        app,
        event("payment_intent.succeeded", succeeded(order["payment_intent_id"], order["id"])),
    )
    done = await order_of(client, order["id"], me)
    assert done["status"] == "confirmed"
    assert len(done["tickets"]) == 1
    assert (await seat_states(client, c["id"]))[3] == "S"


async def test_a_late_payment_for_taken_seats_is_refunded_exactly_once(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    c = await create_concert(client, admin_headers)
    late_buyer, quick_buyer = buyer(app), buyer(app)
    h = await hold(client, c["id"], late_buyer, ["floor-B-2"])
    late = (await checkout(client, h["id"], late_buyer)).json()["order"]
    await _lapse(app, late["id"])
    h2 = await hold(client, c["id"], quick_buyer, ["floor-B-2"])
    quick = (await checkout(client, h2["id"], quick_buyer)).json()["order"]
    await pay(client, quick["payment_intent_id"], quick_buyer)

    paid = await pay(client, late["payment_intent_id"], late_buyer)  # the late payment
    assert paid.status_code == 200, paid.text
    # Redelivered under a new event id: still one refund, no booking.
    again = event("payment_intent.succeeded", succeeded(late["payment_intent_id"], late["id"]))
    assert (await deliver(client, app, again)).status_code == 200
    refunded = await order_of(client, late["id"], late_buyer)
    assert refunded["status"] == "refunded"
    assert refunded["tickets"] == []
    gateway = container_of(app).gateway.inner
    assert isinstance(gateway, SimulatedGateway)
    assert await gateway.refund_status(late["payment_intent_id"]) == "succeeded"
    assert (await order_of(client, quick["id"], quick_buyer))["status"] == "confirmed"
    assert (await container_of(app).store.sales.sold_seats(c["id"])) == {"floor-B-2": quick["id"]}


async def test_two_lapsed_orders_paying_for_one_seat_at_once(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    c = await create_concert(client, admin_headers)
    orders = []
    for _ in range(2):
        who = buyer(app)
        h = await hold(client, c["id"], who, ["balcony-A-1"])
        order = (await checkout(client, h["id"], who)).json()["order"]
        await _lapse(app, order["id"])
        orders.append((order, who))
    results = await asyncio.gather(*(pay(client, o["payment_intent_id"], w) for o, w in orders))
    assert [r.status_code for r in results] == [200, 200]
    statuses = sorted([(await order_of(client, o["id"], who))["status"] for o, who in orders])
    assert statuses == ["confirmed", "refunded"]
    sold = await container_of(app).store.sales.sold_seats(c["id"])
    assert len(sold) == 1


async def test_the_store_refuses_a_second_sale_even_when_redis_forgot(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    c = await create_concert(client, admin_headers)
    first, second = buyer(app), buyer(app)
    h = await hold(client, c["id"], first, ["floor-A-3"])
    order = (await checkout(client, h["id"], first)).json()["order"]
    await pay(client, order["payment_intent_id"], first)
    # Redis loses everything and comes back wrong: the whole venue free, sold seat included.
    engine = container_of(app).engine
    await engine.reset(c["id"])
    assert await engine.load(c["id"], "A" * 10, {}, {})
    h2 = await hold(client, c["id"], second, ["floor-A-3"])  # Redis lets it through
    order2 = (await checkout(client, h2["id"], second)).json()["order"]
    await pay(client, order2["payment_intent_id"], second)
    assert (await order_of(client, order2["id"], second))["status"] == "refunded"
    assert (await order_of(client, order["id"], first))["status"] == "confirmed"
    assert await container_of(app).store.sales.sold_seats(c["id"]) == {"floor-A-3": order["id"]}


async def test_first_checkouts_racing_for_one_hold_make_one_order_and_cancel_the_rest(
    client: httpx.AsyncClient,
    app: FastAPI,
    admin_headers: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Checkout creates the payment intent, then writes the order with it: when several first
    checkouts of one hold race, one order is written and every losing intent is cancelled."""
    gateway = container_of(app).gateway.inner
    if not isinstance(gateway, SimulatedGateway):
        pytest.skip("inspects the simulated provider's intents")
    created: list[str] = []
    original = gateway.create_intent

    async def recording(**kwargs: Any) -> Any:
        intent = await original(**kwargs)
        created.append(intent.id)
        return intent

    monkeypatch.setattr(gateway, "create_intent", recording)
    c = await create_concert(client, admin_headers)
    me = buyer(app)
    h = await hold(client, c["id"], me, ["floor-B-3"])
    answers = await asyncio.gather(*(checkout(client, h["id"], me) for _ in range(6)))
    assert sorted(r.status_code for r in answers).count(201) == 1
    assert {r.status_code for r in answers} <= {200, 201}
    assert len({r.json()["order"]["id"] for r in answers}) == 1
    kept = {r.json()["payment"]["payment_intent_id"] for r in answers}
    assert len(kept) == 1
    assert kept <= set(created)
    assert len(set(created)) > 1  # the race happened: several first checkouts made intents
    for intent_id in set(created) - kept:
        assert (await gateway.retrieve_intent(intent_id)).status == "canceled"
    (winner,) = kept
    assert (await gateway.retrieve_intent(winner)).status != "canceled"
