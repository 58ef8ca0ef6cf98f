"""GET /orders/{id}/payment: paying an order from another tab or device (simulated provider).
The Stripe adapter's case is in test_api_stripe.py."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI

from app.storage.records import Order, OrderStatus
from tests.checkout.test_api import _lapse, checkout, hold, order_of, pay
from tests.conftest import token_headers
from tests.helpers import buyer, container_of, create_concert

API = "/api/v1"


async def payment_of(
    client: httpx.AsyncClient, order_id: str, headers: dict[str, str]
) -> httpx.Response:
    return await client.get(f"{API}/orders/{order_id}/payment", headers=headers)


async def _checked_out(
    client: httpx.AsyncClient,
    app: FastAPI,
    admin: dict[str, str],
    seat: str = "floor-A-1",
    me: dict[str, str] | None = None,
) -> tuple[dict[str, str], dict[str, Any]]:
    c = await create_concert(client, admin)
    me = me or buyer(app)
    h = await hold(client, c["id"], me, [seat])
    r = await checkout(client, h["id"], me)
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return me, body


def _not_payable(r: httpx.Response, status: str) -> None:
    assert r.status_code == 409, r.text
    body = r.json()
    assert body["error"] == "OrderNotPayable"
    assert body["status"] == status
    assert body["detail"]


async def test_another_device_gets_the_same_payment_and_pays_with_it(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    subject = f"buyer-{uuid.uuid4().hex[:10]}"
    me, result = await _checked_out(client, app, admin_headers, me=token_headers(app, subject))
    order, payment = result["order"], result["payment"]
    # The same buyer on another device: another login (another token), nothing kept locally.
    other_device = token_headers(app, subject)
    assert other_device != me

    r = await payment_of(client, order["id"], other_device)

    assert r.status_code == 200, r.text
    assert r.headers["Cache-Control"] == "no-store"
    intent = payment["payment_intent_id"]
    assert r.json() == {
        "provider": "simulated",
        "payment_intent_id": intent,
        "client_secret": payment["client_secret"],
        "publishable_key": None,
        "confirm_path": f"{API}/payments/simulated/{intent}/confirm",
    }
    assert payment["confirm_path"] == r.json()["confirm_path"]
    paid = await client.post(
        r.json()["confirm_path"], json={"outcome": "succeeded"}, headers=other_device
    )
    assert paid.status_code == 200, paid.text
    assert (await order_of(client, order["id"], me))["status"] == "confirmed"
    _not_payable(await payment_of(client, order["id"], other_device), "confirmed")


async def test_asking_again_never_makes_another_intent(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    me, result = await _checked_out(client, app, admin_headers, "floor-A-2")
    answers = await asyncio.gather(
        *(payment_of(client, result["order"]["id"], me) for _ in range(5))
    )
    assert {r.status_code for r in answers} == {200}
    assert {r.json()["payment_intent_id"] for r in answers} == {
        result["payment"]["payment_intent_id"]
    }


async def test_another_buyers_order_is_404_and_a_login_is_needed(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    me, result = await _checked_out(client, app, admin_headers, "floor-A-3")
    order_id = result["order"]["id"]
    for r in (
        await payment_of(client, order_id, buyer(app)),
        await payment_of(client, str(uuid.uuid4()), me),
    ):
        assert r.status_code == 404, r.text
        assert r.json()["error"] == "OrderNotFound"
        assert result["payment"]["client_secret"] not in r.text
    anonymous = await payment_of(client, order_id, {})
    assert anonymous.status_code == 401
    assert anonymous.json()["error"] == "NotAuthenticated"


async def test_orders_no_longer_waiting_for_payment_are_409(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    me, cancelled = await _checked_out(client, app, admin_headers, "floor-B-1")
    r = await client.post(f"{API}/orders/{cancelled['order']['id']}/cancel", headers=me)
    assert r.status_code == 200
    _not_payable(await payment_of(client, cancelled["order"]["id"], me), "cancelled")

    me, failed = await _checked_out(client, app, admin_headers, "floor-B-2")
    await pay(client, failed["payment"]["payment_intent_id"], me, "failed")
    _not_payable(await payment_of(client, failed["order"]["id"], me), "failed")

    me, lapsed = await _checked_out(client, app, admin_headers, "floor-B-3")
    await _lapse(app, lapsed["order"]["id"])
    _not_payable(await payment_of(client, lapsed["order"]["id"], me), "expired")


async def test_an_intent_cancelled_before_its_event_arrived_is_409(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    """The order still says pending_payment (the provider's event is on its way), but its
    intent can't be paid any more: the buyer is told, not sent to a dead payment."""
    me, result = await _checked_out(client, app, admin_headers, "balcony-A-1")
    await container_of(app).gateway.cancel_intent(result["payment"]["payment_intent_id"])
    _not_payable(await payment_of(client, result["order"]["id"], me), "pending_payment")


def _order(user_id: str, expires_at: datetime) -> Order:
    now = datetime.now(UTC)
    return Order(
        id=str(uuid.uuid4()),
        user_id=user_id,
        concert_id=str(uuid.uuid4()),
        hold_id=f"{uuid.uuid4()}.x",
        seat_ids=("floor-A-1",),
        amount_cents=5000,
        currency="EUR",
        status=OrderStatus.PENDING_PAYMENT,
        created_at=now - timedelta(minutes=1),
        expires_at=expires_at,
    )


async def test_a_pending_order_past_its_payment_window_is_409(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """The expiry job has not run yet, but the time to pay is over."""
    subject = f"buyer-{uuid.uuid4().hex[:10]}"
    order = _order(subject, datetime.now(UTC) - timedelta(seconds=1))
    await container_of(app).store.orders.add(order)
    r = await payment_of(client, order.id, token_headers(app, subject))
    _not_payable(r, "pending_payment")
    assert "over" in r.json()["detail"]


async def test_an_order_written_without_an_intent_gets_one_once(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    subject = f"buyer-{uuid.uuid4().hex[:10]}"
    order = _order(subject, datetime.now(UTC) + timedelta(minutes=10))
    store = container_of(app).store
    await store.orders.add(order)
    me = token_headers(app, subject)

    answers = await asyncio.gather(*(payment_of(client, order.id, me) for _ in range(3)))

    assert {r.status_code for r in answers} == {200}, [r.text for r in answers]
    intents = {r.json()["payment_intent_id"] for r in answers}
    assert len(intents) == 1
    stored = await store.orders.get(order.id)
    assert stored is not None
    assert stored.payment_intent_id in intents
    intent = await container_of(app).gateway.retrieve_intent(intents.pop())
    assert (intent.amount_cents, intent.metadata) == (5000, {"order_id": order.id})
