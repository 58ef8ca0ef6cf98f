"""The per-buyer cap counts every seat a buyer owns: held, in an order waiting for payment, and
sold (issue 16, item 1). An outside audit bought 12 tickets on a concert capped at 4 by checking
out, releasing the checked-out hold (204, its order still payable) and holding again, three
times, then paying every order; and 8 by letting a checked-out hold lapse, holding other seats
and paying the old order before the expiry job ran.

Now a checked-out hold cannot be given back on its own (409 HoldCheckedOut: cancel its order,
which frees it), a checked-out hold lives until its order ends (its payment window and a grace
for the expiry job), and a late payment takes its seats again only within the cap: one that
would pass it is refunded, exactly once.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
from fastapi import FastAPI

from app.payments.simulated import SimulatedGateway
from app.seats.engine import concert_keys
from tests.checkout.test_api import checkout, deliver, event, hold, order_of, pay, succeeded
from tests.conftest import token_headers
from tests.helpers import CONCERTS, container_of, create_concert, lapse_hold

API = "/api/v1"
CAP = 4


def _buyer(app: FastAPI) -> tuple[str, dict[str, str]]:
    user_id = f"scalper-{uuid.uuid4().hex[:10]}"
    return user_id, token_headers(app, user_id)


def _capped_concert(**overrides: Any) -> dict[str, Any]:
    return {
        "max_tickets_per_user": CAP,
        "sections": [{"name": "Floor", "price_cents": 5000, "rows": 4, "seats_per_row": 4}],
        **overrides,
    }


async def _tickets(client: httpx.AsyncClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    r = await client.get(f"{API}/me/tickets", headers=headers)
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


async def test_releasing_checked_out_holds_does_not_reset_the_cap(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    """The audit's script: hold 4, check out, DELETE the hold, three times, then pay every
    order. At most 4 tickets, whatever the scalper tries."""
    c = await create_concert(client, admin_headers, **_capped_concert())
    _, me = _buyer(app)
    orders: list[dict[str, Any]] = []
    for row in "ABC":
        r = await client.post(
            f"{CONCERTS}/{c['id']}/holds",
            json={"seat_ids": [f"floor-{row}-{n}" for n in (1, 2, 3, 4)]},
            headers=me,
        )
        if r.status_code != 201:
            assert r.status_code == 409, r.text
            assert r.json()["error"] == "HoldLimitExceeded"
            continue
        made = await checkout(client, r.json()["id"], me)
        assert made.status_code == 201, made.text
        orders.append(made.json())
        released = await client.delete(f"{API}/holds/{r.json()['id']}", headers=me)
        assert released.status_code == 409, released.text
        assert released.json()["error"] == "HoldCheckedOut"
        assert released.json()["order_id"] == made.json()["order"]["id"]
    for result in orders:
        paid = await pay(client, result["payment"]["payment_intent_id"], me)
        assert paid.status_code == 200, paid.text
    assert len(await _tickets(client, me)) == CAP
    assert len(orders) == 1


async def test_a_checked_out_hold_is_given_back_by_cancelling_its_order(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    c = await create_concert(client, admin_headers, **_capped_concert())
    _, me = _buyer(app)
    h = await hold(client, c["id"], me, ["floor-A-1", "floor-A-2", "floor-A-3", "floor-A-4"])
    order = (await checkout(client, h["id"], me)).json()["order"]
    refused = await client.delete(f"{API}/holds/{h['id']}", headers=me)
    assert refused.status_code == 409
    assert "cancel" in refused.json()["detail"].lower()
    # The hold is intact, and so is the cap.
    assert (await client.get(f"{API}/holds/{h['id']}", headers=me)).status_code == 200
    more = await client.post(f"{CONCERTS}/{c['id']}/holds", json={"quantity": 1}, headers=me)
    assert more.status_code == 409
    assert more.json()["error"] == "HoldLimitExceeded"
    # Cancelling the order gives the seats and the cap back.
    cancelled = await client.post(f"{API}/orders/{order['id']}/cancel", headers=me)
    assert cancelled.status_code == 200, cancelled.text
    assert (await client.delete(f"{API}/holds/{h['id']}", headers=me)).status_code == 404
    again = await client.post(f"{CONCERTS}/{c['id']}/holds", json={"quantity": 4}, headers=me)
    assert again.status_code == 201, again.text


async def test_a_checked_out_hold_outlives_its_payment_window_until_the_order_ends(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    """Redis keeps a checked-out hold a grace period past the order's payment window, so the
    order's seats (and the buyer's cap) stay taken until the expiry job ends the order."""
    c = await create_concert(client, admin_headers, **_capped_concert())
    _, me = _buyer(app)
    h = await hold(client, c["id"], me, ["floor-B-1"])
    order = (await checkout(client, h["id"], me)).json()["order"]
    got = (await client.get(f"{API}/holds/{h['id']}", headers=me)).json()
    assert got["expires_at"] > order["expires_at"]


async def test_a_late_payment_that_would_pass_the_cap_is_refunded_exactly_once(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    """The audit's variant: the checked-out hold lapses, the buyer holds 4 other seats and buys
    them, then pays the old order (twice, under two event ids): refunded once, 4 tickets."""
    c = await create_concert(client, admin_headers, **_capped_concert())
    _, me = _buyer(app)
    first = await hold(client, c["id"], me, [f"floor-A-{n}" for n in (1, 2, 3, 4)])
    old = (await checkout(client, first["id"], me)).json()["order"]
    await lapse_hold(container_of(app), c["id"], first["id"])
    second = await hold(client, c["id"], me, [f"floor-B-{n}" for n in (1, 2, 3, 4)])
    new = (await checkout(client, second["id"], me)).json()
    assert (await pay(client, new["payment"]["payment_intent_id"], me)).status_code == 200

    assert (await pay(client, old["payment_intent_id"], me)).status_code == 200
    again = event("payment_intent.succeeded", succeeded(old["payment_intent_id"], old["id"]))
    assert (await deliver(client, app, again)).status_code == 200

    assert (await order_of(client, old["id"], me))["status"] == "refunded"
    gateway = container_of(app).gateway.inner
    assert isinstance(gateway, SimulatedGateway)
    assert await gateway.refund_status(old["payment_intent_id"]) == "succeeded"
    assert len(await _tickets(client, me)) == CAP
    seat_map = (await client.get(f"{CONCERTS}/{c['id']}/seats")).json()
    assert seat_map["sections"][0]["rows"][0]["status"] == "AAAA"
    assert seat_map["counts"]["sold"] == CAP


async def test_concurrent_release_and_checkout_of_one_hold_never_lose_the_cap(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    """A release racing its hold's checkout: either the release wins (no order: the checkout
    finds no hold) or the checkout does (the release is refused). Never an order whose seats
    the buyer no longer counts."""
    c = await create_concert(client, admin_headers, **_capped_concert())
    user_id, me = _buyer(app)
    for _ in range(10):
        h = await hold(client, c["id"], me, ["floor-D-1", "floor-D-2"])
        made, released = await asyncio.gather(
            checkout(client, h["id"], me), client.delete(f"{API}/holds/{h['id']}", headers=me)
        )
        if released.status_code == 204:
            assert made.status_code == 404, made.text
        else:
            assert released.status_code == 409, released.text
            assert made.status_code == 201, made.text
            cancel = await client.post(
                f"{API}/orders/{made.json()['order']['id']}/cancel", headers=me
            )
            assert cancel.status_code == 200, cancel.text
        users = await container_of(app).redis.hgetall(concert_keys(c["id"])[3])
        assert int(users.get(user_id.encode(), 0)) == 0
