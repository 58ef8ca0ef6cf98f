"""A cancelled concert's orders are wound up (app/concerts/cancellation.py): every confirmed
order refunded exactly once at the payment provider, every pending one cancelled, even when the
run is killed mid-way and a new one starts over."""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.concerts.cancellation import WindUpRun, wind_up_orders
from app.container import Container
from app.payments.simulated import SimulatedGateway
from app.storage.records import OrderStatus
from app.workers.cancellations import cancellations_of
from tests.checkout.test_api import checkout, hold, order_of, pay
from tests.helpers import buyer, create_concert


async def _order(
    client: httpx.AsyncClient, app: FastAPI, concert_id: str, seat: str, *, paid: bool
) -> dict[str, Any]:
    me = buyer(app)
    h = await hold(client, concert_id, me, [seat])
    r = await checkout(client, h["id"], me)
    assert r.status_code in (200, 201), r.text
    order: dict[str, Any] = r.json()["order"]
    if paid:
        assert (await pay(client, order["payment_intent_id"], me)).status_code == 200
    done = await order_of(client, order["id"], me)
    assert done["status"] == ("confirmed" if paid else "pending_payment")
    return done


async def test_a_run_killed_mid_way_and_restarted_refunds_every_order_exactly_once(
    worker_app: FastAPI,
    container: Container,
    wclient: httpx.AsyncClient,
    wadmin: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    c = await create_concert(wclient, wadmin)
    paid = [
        await _order(wclient, worker_app, c["id"], f"floor-A-{n}", paid=True) for n in (1, 2, 3)
    ]
    pending = await _order(wclient, worker_app, c["id"], "floor-B-1", paid=False)

    gateway = container.gateway.inner
    assert isinstance(gateway, SimulatedGateway)
    real_refund = gateway.refund
    calls: Counter[str] = Counter()
    refund_ids: defaultdict[str, set[str]] = defaultdict(set)
    run: asyncio.Task[Any] | None = None

    async def refund(intent_id: str, *, idempotency_key: str) -> str:
        refund_id = await real_refund(intent_id, idempotency_key=idempotency_key)
        calls[intent_id] += 1
        refund_ids[intent_id].add(refund_id)
        if sum(calls.values()) == 2 and run is not None:
            # Killed right after the provider refunded the second order, before its state
            # was written: the worst moment.
            run.cancel()
            await asyncio.sleep(0)
        return refund_id

    monkeypatch.setattr(gateway, "refund", refund)
    store, co = container.store, container.checkout

    run = asyncio.create_task(wind_up_orders(store, co, c["id"]))
    with pytest.raises(asyncio.CancelledError):
        await run
    statuses = [(await store.orders.get(o["id"])).status for o in paid]  # type: ignore[union-attr]
    assert statuses.count(OrderStatus.REFUNDED) == 1, "stopped after one order was written"

    run = None
    second = await wind_up_orders(store, co, c["id"])
    assert second.failed == 0
    assert second.refunded == 2
    assert second.cancelled == 1

    for o in paid:
        order = await store.orders.get(o["id"])
        assert order is not None
        assert order.status is OrderStatus.REFUNDED
        intent = o["payment_intent_id"]
        assert len(refund_ids[intent]) == 1, "one refund per payment at the provider"
        assert await gateway.refund_status(intent) == "succeeded"
    # The first order was refunded before the kill and never asked again; only the order
    # killed between the provider's refund and its state was asked twice (the same refund).
    assert calls[paid[0]["payment_intent_id"]] == 1
    assert calls[paid[1]["payment_intent_id"]] == 2
    assert calls[paid[2]["payment_intent_id"]] == 1
    left = await store.orders.get(pending["id"])
    assert left is not None
    assert left.status is OrderStatus.CANCELLED
    intent = await gateway.retrieve_intent(pending["payment_intent_id"])
    assert intent.status == "canceled", "a pending order can no longer be paid"
    assert await store.sales.sold_seats(c["id"]) == {}

    # A third run finds nothing left to do.
    third = await wind_up_orders(store, co, c["id"])
    assert (third.total, third.refunded, third.cancelled, third.failed) == (0, 0, 0, 0)
    assert sum(calls.values()) == 4


async def test_a_pass_that_overlaps_a_finished_one_leaves_its_finish_alone(
    worker_app: FastAPI, container: Container, wclient: httpx.AsyncClient, wadmin: dict[str, str]
) -> None:
    """Two passes over one concert (this process's job and another's, or an organiser's
    retry): the one that ends second must not rewrite the finish time, nor undo it with a
    progress write (CI saw the finish time move on DynamoDB)."""
    c = await create_concert(wclient, wadmin)
    await _order(wclient, worker_app, c["id"], "floor-A-1", paid=True)
    r = await wclient.post(f"/api/v1/concerts/{c['id']}/cancel", headers=wadmin)
    assert r.status_code == 200, r.text
    slow = cancellations_of(container, settle_seconds=0)
    assert await cancellations_of(container, settle_seconds=0).wind_up(c["id"])
    finished = await container.store.concerts.get(c["id"])
    assert finished is not None
    assert finished.cancellation_finished_at is not None

    # The overlapping pass reports what it did, as a progress write and as a finish.
    late = WindUpRun(total=1, refunded=1)
    assert await slow._write_progress(c["id"], late, finish=False)
    assert await slow._write_progress(c["id"], late, finish=True)

    after = await container.store.concerts.get(c["id"])
    assert after is not None
    assert after.cancellation_finished_at == finished.cancellation_finished_at
    assert after.version == finished.version
