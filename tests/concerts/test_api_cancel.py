"""Organisers change plans: a concert's details change after sales start, and
`POST /concerts/{id}/cancel` cancels it: sales stop, the cancellation job refunds every
confirmed order and cancels every pending one, and the concert shows the job's progress."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI

from app.payments.simulated import SimulatedGateway
from app.workers.cancellations import cancellations_of
from tests.checkout.test_api import checkout, hold, order_of, pay
from tests.helpers import CONCERTS, buyer, container_of, create_concert


async def _order(
    client: httpx.AsyncClient, app: FastAPI, concert_id: str, seat: str, *, paid: bool
) -> tuple[dict[str, Any], dict[str, str]]:
    me = buyer(app)
    h = await hold(client, concert_id, me, [seat])
    r = await checkout(client, h["id"], me)
    assert r.status_code == 201, r.text
    order: dict[str, Any] = r.json()["order"]
    if paid:
        assert (await pay(client, order["payment_intent_id"], me)).status_code == 200
    return await order_of(client, order["id"], me), me


async def test_an_organiser_edits_the_details_after_sales_started(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    c = await create_concert(client, admin_headers)
    await _order(client, app, c["id"], "floor-A-1", paid=True)
    starts = datetime.now(UTC).replace(microsecond=0) + timedelta(days=40)
    r = await client.patch(
        f"{CONCERTS}/{c['id']}",
        json={
            "title": "Night Shift (moved)",
            "description": "Moved to a later date.",
            "starts_at": starts.isoformat(),
            "venue": {"name": "Hall", "city": "Utrecht", "time_zone": "Europe/Amsterdam"},
        },
        headers=admin_headers,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["title"] == "Night Shift (moved)"
    assert body["description"] == "Moved to a later date."
    assert datetime.fromisoformat(body["starts_at"]) == starts
    assert body["venue"]["time_zone"] == "Europe/Amsterdam"
    assert body["cancellation"] is None


async def test_cancelling_refunds_confirmed_orders_and_cancels_pending_ones(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    c = await create_concert(client, admin_headers)
    paid, paid_buyer = await _order(client, app, c["id"], "floor-A-1", paid=True)
    waiting, waiting_buyer = await _order(client, app, c["id"], "floor-A-2", paid=False)
    assert (paid["status"], waiting["status"]) == ("confirmed", "pending_payment")

    r = await client.post(f"{CONCERTS}/{c['id']}/cancel", headers=admin_headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "cancelled"
    assert body["cancellation"]["started_at"] is not None
    assert body["cancellation"]["finished_at"] is None

    # Sales stop at once; the concert can't be changed or cancelled again.
    refused = await client.post(
        f"{CONCERTS}/{c['id']}/holds", json={"seat_ids": ["balcony-A-1"]}, headers=buyer(app)
    )
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"] == "SaleNotOpen"
    assert "cancelled" in refused.json()["detail"]
    again = await client.post(f"{CONCERTS}/{c['id']}/cancel", headers=admin_headers)
    assert again.status_code == 409
    assert again.json()["error"] == "ConcertCancelled"
    edit = await client.patch(f"{CONCERTS}/{c['id']}", json={"title": "x"}, headers=admin_headers)
    assert edit.status_code == 409
    assert edit.json()["error"] == "ConcertCancelled"

    # Not finished while other processes may still sell from a stale copy of the concert,
    # though every order is wound up already.
    assert not await cancellations_of(container_of(app), settle_seconds=3600).wind_up(c["id"])
    early = (await client.get(f"{CONCERTS}/{c['id']}")).json()["cancellation"]
    assert early["finished_at"] is None
    assert (early["orders_total"], early["refunded"], early["cancelled"]) == (2, 1, 1)
    assert await cancellations_of(container_of(app), settle_seconds=0).wind_up(c["id"])

    got = (await client.get(f"{CONCERTS}/{c['id']}")).json()
    assert got["status"] == "cancelled"
    progress = got["cancellation"]
    assert progress["finished_at"] is not None
    assert (progress["orders_total"], progress["refunded"], progress["cancelled"]) == (2, 1, 1)
    assert progress["failed"] == 0
    assert (await order_of(client, paid["id"], paid_buyer))["status"] == "refunded"
    assert (await order_of(client, waiting["id"], waiting_buyer))["status"] == "cancelled"
    gateway = container_of(app).gateway.inner
    if isinstance(gateway, SimulatedGateway):
        assert await gateway.refund_status(paid["payment_intent_id"]) == "succeeded"
    # Another pass changes nothing.
    assert await cancellations_of(container_of(app), settle_seconds=0).wind_up(c["id"])
    assert (await client.get(f"{CONCERTS}/{c['id']}")).json()["cancellation"] == progress


async def test_a_concert_that_started_can_not_be_cancelled(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    now = datetime.now(UTC)
    c = await create_concert(
        client,
        admin_headers,
        on_sale_at=(now - timedelta(days=2)).isoformat(),
        starts_at=(now + timedelta(days=1)).isoformat(),
    )
    moved = await client.patch(
        f"{CONCERTS}/{c['id']}",
        json={"starts_at": (now - timedelta(hours=1)).isoformat()},
        headers=admin_headers,
    )
    assert moved.status_code == 200, moved.text
    r = await client.post(f"{CONCERTS}/{c['id']}/cancel", headers=admin_headers)
    assert r.status_code == 409
    assert r.json()["error"] == "ConcertStarted"


async def test_only_organisers_cancel_and_unknown_concerts_are_404(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    c = await create_concert(client, admin_headers)
    r = await client.post(f"{CONCERTS}/{c['id']}/cancel", headers=buyer(app))
    assert r.status_code == 403
    r = await client.post(f"{CONCERTS}/{c['id']}/cancel")
    assert r.status_code == 401
    r = await client.post(f"{CONCERTS}/no-such-concert/cancel", headers=admin_headers)
    assert r.status_code == 404
    assert (await client.get(f"{CONCERTS}/{c['id']}")).json()["status"] == "on_sale"
