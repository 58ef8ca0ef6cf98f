"""Reconciliation end to end: real Redis, the app's SQLite store, the simulated provider.

Each kind of drift is seeded the way a crash or a lost message would leave it; one run must
repair each exactly once, a second run must find nothing."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.container import Container
from app.payments.simulated import SimulatedGateway
from app.seats.engine import Audit, Held, Repaired, concert_keys
from app.storage.records import OrderStatus
from app.workers.lease import lease_key
from app.workers.reconcile import (
    LEASE_NAME,
    Reconciler,
    ReconcileResult,
    RepairKind,
    reconcile_forever,
)
from tests.helpers import CONCERTS, buyer, create_concert

API = "/api/v1"
K = RepairKind

# Seat positions of the helpers' layout: Floor A1-A3, B1-B3, then Balcony A1-A4.
POSITION = {
    **{f"floor-A-{n}": n - 1 for n in (1, 2, 3)},
    **{f"floor-B-{n}": n + 2 for n in (1, 2, 3)},
    **{f"balcony-A-{n}": n + 5 for n in (1, 2, 3, 4)},
}


def reconciler(c: Container, **overrides: Any) -> Reconciler:
    """Checks every waiting order (payment_after_seconds=0): these tests' orders are young."""
    values: dict[str, Any] = {
        "payment_after_seconds": 0,
        "payment_window_seconds": c.settings.payment_window_seconds,
        "batch": 200,
    }
    values.update(overrides)
    return Reconciler(c.store, c.engine, c.checkout, c.gateway, **values)


def simulated(c: Container) -> SimulatedGateway:
    """The simulated adapter, inside whatever wraps it (a circuit breaker)."""
    gateway = getattr(c.gateway, "inner", c.gateway)
    assert isinstance(gateway, SimulatedGateway)
    return gateway


def counts(result: ReconcileResult) -> dict[str, int]:
    return {kind.value: n for kind, n in result.repairs.items() if n}


async def hold(
    client: httpx.AsyncClient, concert_id: str, headers: dict[str, str], seats: list[str]
) -> str:
    r = await client.post(
        f"{CONCERTS}/{concert_id}/holds", json={"seat_ids": seats}, headers=headers
    )
    assert r.status_code == 201, r.text
    hold_id: str = r.json()["id"]
    return hold_id


async def checkout(
    client: httpx.AsyncClient, concert_id: str, headers: dict[str, str], seats: list[str]
) -> dict[str, Any]:
    """Hold and check out: an order waiting for payment."""
    hold_id = await hold(client, concert_id, headers, seats)
    r = await client.post(f"{API}/checkout", json={"hold_id": hold_id}, headers=headers)
    assert r.status_code == 201, r.text
    order: dict[str, Any] = r.json()["order"]
    return order


async def pay(client: httpx.AsyncClient, order: dict[str, Any], headers: dict[str, str]) -> None:
    r = await client.post(
        f"{API}/payments/simulated/{order['payment_intent_id']}/confirm",
        json={"outcome": "succeeded"},
        headers=headers,
    )
    assert r.status_code == 200, r.text


async def seat_states(c: Container, concert_id: str) -> tuple[int, str]:
    snap = await c.engine.snapshot(concert_id)
    return snap.version, snap.seats


async def drifted_concert(
    client: httpx.AsyncClient, admin: dict[str, str], c: Container, seat: str
) -> str:
    """A new concert, loaded in Redis, where `seat` is S in Redis without a sale in the store."""
    concert: str = (await create_concert(client, admin))["id"]
    await client.get(f"{CONCERTS}/{concert}/seats")  # loads its state
    await c.engine.sell(concert, "", "ghost", [POSITION[seat]])  # the drift
    return concert


async def status_of(c: Container, order_id: str) -> OrderStatus:
    order = await c.store.orders.get(order_id)
    assert order is not None
    return order.status


async def test_one_run_repairs_every_kind_of_drift_once_and_a_second_changes_nothing(
    wclient: httpx.AsyncClient,
    worker_app: FastAPI,
    wadmin: dict[str, str],
    container: Container,
) -> None:
    c = container
    concert = (await create_concert(wclient, wadmin))["id"]
    keys = concert_keys(concert)
    # Legitimate state that must survive: a live hold and a paid order.
    fan = buyer(worker_app)
    await hold(wclient, concert, fan, ["balcony-A-2"])
    paid = await checkout(wclient, concert, fan, ["balcony-A-3"])
    await pay(wclient, paid, fan)

    # 1. Sold in the store, A in Redis (the `sell` after the claim was lost).
    lost_sale = str(uuid.uuid4())
    await c.store.sales.claim(concert, ["floor-A-1"], lost_sale, datetime.now(UTC))
    # 2. S in Redis without a sale in the store (a refund whose `unsell` was lost).
    await c.engine.sell(concert, "", "ghost", [POSITION["floor-A-2"]])
    # 3. H in Redis without a hold (the hold record vanished).
    ghost_hold = await hold(wclient, concert, buyer(worker_app), ["floor-A-3"])
    await c.redis.hdel(keys[1], ghost_hold)
    await c.redis.zrem(keys[2], ghost_hold)
    # 4. A hold whose order was cancelled (crash between the cancel and freeing the hold).
    other = buyer(worker_app)
    cancelled = await checkout(wclient, concert, other, ["floor-B-1", "floor-B-2"])
    order = await c.store.orders.get(cancelled["id"])
    assert order is not None
    await c.store.orders.transition(
        order.id, order.version, OrderStatus.CANCELLED, "cancelled; crashed", datetime.now(UTC)
    )
    # 5. Paid at the provider, but the webhook never arrived: confirm without delivering.
    late = buyer(worker_app)
    unheard = await checkout(wclient, concert, late, ["balcony-A-1"])
    await simulated(c).confirm(unheard["payment_intent_id"], "succeeded")  # event not delivered
    assert await status_of(c, unheard["id"]) is OrderStatus.PENDING_PAYMENT

    _, before = await seat_states(c, concert)
    assert before == "ASHHHAHHSA"

    first = await reconciler(c).run_once()
    assert counts(first) == {
        K.SEAT_SOLD: 1,
        K.SEAT_UNSOLD: 1,
        K.SEAT_ORPHANED: 1,
        K.HOLD_RELEASED: 1,
        K.PAYMENT_SUCCEEDED: 1,
    }
    assert first.deferred == 0
    assert first.errors == 0
    version, after = await seat_states(c, concert)
    assert after == "SAAAAASHSA"
    assert await status_of(c, unheard["id"]) is OrderStatus.CONFIRMED
    assert await status_of(c, paid["id"]) is OrderStatus.CONFIRMED
    tickets = await c.store.tickets.list_for_orders([unheard["id"]])
    assert [t.seat_id for t in tickets] == ["balcony-A-1"]
    assert await c.engine.get_hold(concert, order.hold_id, order.user_id) is None

    second = await reconciler(c).run_once()
    assert second.total == 0
    assert second.deferred == 0
    assert second.concerts_checked >= 1
    assert await seat_states(c, concert) == (version, after)  # not even a version bump
    seat_map = (await wclient.get(f"{CONCERTS}/{concert}/seats")).json()
    assert seat_map["counts"] == {"available": 6, "held": 1, "sold": 3}


async def test_a_cancelled_intent_cancels_its_waiting_order(
    wclient: httpx.AsyncClient,
    worker_app: FastAPI,
    wadmin: dict[str, str],
    container: Container,
) -> None:
    c = container
    concert = (await create_concert(wclient, wadmin))["id"]
    fan = buyer(worker_app)
    waiting = await checkout(wclient, concert, fan, ["floor-A-1", "floor-A-2"])
    untouched = await checkout(wclient, concert, buyer(worker_app), ["floor-B-1"])
    await c.gateway.cancel_intent(waiting["payment_intent_id"])  # canceled at the provider

    result = await reconciler(c).run_once()
    assert counts(result) == {K.PAYMENT_CANCELED: 1}
    assert await status_of(c, waiting["id"]) is OrderStatus.CANCELLED
    assert await status_of(c, untouched["id"]) is OrderStatus.PENDING_PAYMENT
    assert (await seat_states(c, concert))[1][:4] == "AAAH"  # its seats are free again
    assert (await reconciler(c).run_once()).total == 0


async def test_only_orders_waiting_long_enough_are_looked_up(
    wclient: httpx.AsyncClient,
    worker_app: FastAPI,
    wadmin: dict[str, str],
    container: Container,
) -> None:
    c = container
    concert = (await create_concert(wclient, wadmin))["id"]
    fan = buyer(worker_app)
    young = await checkout(wclient, concert, fan, ["floor-A-1"])
    await simulated(c).confirm(young["payment_intent_id"], "succeeded")
    patient = reconciler(c, payment_after_seconds=120)
    result = await patient.run_once()
    assert result.repairs[K.PAYMENT_SUCCEEDED] == 0
    assert await status_of(c, young["id"]) is OrderStatus.PENDING_PAYMENT
    eager = await reconciler(c).run_once()
    assert eager.repairs[K.PAYMENT_SUCCEEDED] == 1
    assert await status_of(c, young["id"]) is OrderStatus.CONFIRMED


async def test_a_sale_between_the_read_and_the_repair_is_never_undone(
    wclient: httpx.AsyncClient,
    worker_app: FastAPI,
    wadmin: dict[str, str],
    container: Container,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Seat floor-A-1 is S in Redis with no sale in the store (drift) when reconciliation reads
    both. Before its repair lands, a buyer's payment for that very seat is confirmed: the store
    records the sale and `sell` marks the (already S) seat sold. The repair must not free it."""
    c = container
    concert = (await create_concert(wclient, wadmin))["id"]
    fan = buyer(worker_app)
    order = await checkout(wclient, concert, fan, ["floor-A-1"])
    await c.engine.sell(concert, "", "ghost", [POSITION["floor-A-1"]])  # the drift

    repair = c.engine.repair
    sold_meanwhile: list[int] = []

    async def repair_after_a_sale(concert_id: str, seen: Audit, **proposal: Any) -> Repaired:
        if concert_id == concert and POSITION["floor-A-1"] in proposal["unsold"]:
            await pay(wclient, order, fan)  # live traffic lands between read and repair
            sold_meanwhile.append(1)
        return await repair(concert_id, seen, **proposal)

    monkeypatch.setattr(c.engine, "repair", repair_after_a_sale)
    first = await reconciler(c).run_once()
    assert sold_meanwhile == [1]
    assert first.deferred == 1
    assert first.repairs[K.SEAT_UNSOLD] == 0
    assert (await seat_states(c, concert))[1][0] == "S"
    assert await status_of(c, order["id"]) is OrderStatus.CONFIRMED
    assert await c.store.sales.sold_seats(concert) == {"floor-A-1": order["id"]}

    monkeypatch.undo()
    second = await reconciler(c).run_once()
    assert (second.total, second.deferred) == (0, 0)
    assert (await seat_states(c, concert))[1][0] == "S"


async def test_a_deferred_repair_is_done_by_a_later_quiet_run(
    wclient: httpx.AsyncClient,
    worker_app: FastAPI,
    wadmin: dict[str, str],
    container: Container,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    c = container
    concert = await drifted_concert(wclient, wadmin, c, "floor-B-3")
    repair = c.engine.repair

    async def repair_after_traffic(concert_id: str, seen: Audit, **proposal: Any) -> Repaired:
        if concert_id == concert:
            await hold(wclient, concert, buyer(worker_app), ["balcony-A-4"])
        return await repair(concert_id, seen, **proposal)

    monkeypatch.setattr(c.engine, "repair", repair_after_traffic)
    busy = await reconciler(c).run_once()
    assert (busy.deferred, busy.repairs[K.SEAT_UNSOLD]) == (1, 0)
    monkeypatch.undo()
    quiet = await reconciler(c).run_once()
    assert (quiet.deferred, counts(quiet)) == (0, {K.SEAT_UNSOLD: 1})
    assert (await seat_states(c, concert))[1][POSITION["floor-B-3"]] == "A"


async def test_concerts_not_loaded_in_redis_are_skipped(
    wclient: httpx.AsyncClient, wadmin: dict[str, str], container: Container
) -> None:
    c = container
    concert = (await create_concert(wclient, wadmin))["id"]
    await c.store.sales.claim(concert, ["floor-A-1"], str(uuid.uuid4()), datetime.now(UTC))
    assert not await c.engine.is_loaded(concert)
    result = await reconciler(c).run_once()
    assert result.concerts_not_loaded >= 1
    assert not await c.engine.is_loaded(concert)  # not loaded by reconciliation either


async def test_the_job_runs_under_the_lease_in_one_process_at_a_time(
    wclient: httpx.AsyncClient,
    worker_app: FastAPI,
    wadmin: dict[str, str],
    container: Container,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two "processes" run the wired job; the drift is repaired once, by the lease holder."""
    c = container
    concert = await drifted_concert(wclient, wadmin, c, "floor-A-3")
    runs: list[ReconcileResult] = []
    inside = 0
    overlaps = 0
    run_once = Reconciler.run_once

    async def counted(self: Reconciler) -> ReconcileResult:
        nonlocal inside, overlaps
        overlaps += inside
        inside += 1
        try:
            result = await run_once(self)
        finally:
            inside -= 1
        runs.append(result)
        return result

    monkeypatch.setattr(Reconciler, "run_once", counted)
    settings = c.settings.model_copy(update={"reconcile_interval_seconds": 0.05})
    fast = dataclasses.replace(c, settings=settings)
    await c.redis.delete(lease_key(LEASE_NAME))
    tasks = [asyncio.create_task(reconcile_forever(fast)) for _ in range(2)]
    try:
        for _ in range(200):
            if len(runs) >= 4:
                break
            await asyncio.sleep(0.05)
        assert len(runs) >= 4
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    assert overlaps == 0
    assert sum(r.repairs[K.SEAT_UNSOLD] for r in runs) == 1
    assert (await seat_states(c, concert))[1][POSITION["floor-A-3"]] == "A"
    assert await c.redis.get(lease_key(LEASE_NAME)) is None  # released on stop


async def test_reconciliation_is_off_when_its_interval_is_zero(container: Container) -> None:
    off = dataclasses.replace(
        container, settings=container.settings.model_copy(update={"reconcile_interval_seconds": 0})
    )
    await asyncio.wait_for(reconcile_forever(off), timeout=1)  # returns at once


async def test_a_seat_re_held_while_the_holds_are_read_is_no_orphan(
    wclient: httpx.AsyncClient,
    worker_app: FastAPI,
    wadmin: dict[str, str],
    container: Container,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The audit reads the holds in pages after the state. Seat floor-A-2 is held (hold X) when
    the state is read; X is released and another buyer holds the seat (hold Y) while the pages
    are read, and the scan, past Y's place already, lists neither. The seat looks orphaned once;
    a second look finds Y: nothing is proposed, so the repair script (whose exact check reads
    every hold in one call) is not even run for the concert."""
    c = container
    concert = (await create_concert(wclient, wadmin))["id"]
    first_fan, second_fan = buyer(worker_app), buyer(worker_app)
    x = await hold(wclient, concert, first_fan, ["floor-A-2"])
    holds_of = c.engine.holds_of
    y: list[str] = []

    async def traffic_during_the_scan(concert_id: str) -> Any:
        if concert_id == concert and not y:
            r = await wclient.delete(f"{API}/holds/{x}", headers=first_fan)
            assert r.status_code == 204, r.text
            y.append(await hold(wclient, concert, second_fan, ["floor-A-2"]))
            seen = await holds_of(concert_id)
            return {h: v for h, v in seen.items() if h != y[0]}  # the cursor had passed Y
        return await holds_of(concert_id)

    repair = c.engine.repair
    proposed: list[dict[str, Any]] = []

    async def recorded_repair(concert_id: str, seen: Audit, **proposal: Any) -> Repaired:
        if concert_id == concert:
            proposed.append(proposal)
        return await repair(concert_id, seen, **proposal)

    monkeypatch.setattr(c.engine, "holds_of", traffic_during_the_scan)
    monkeypatch.setattr(c.engine, "repair", recorded_repair)
    result = await reconciler(c).run_once()
    assert y, "the audit read the holds"
    assert proposed == []
    assert result.repairs[K.SEAT_ORPHANED] == 0
    assert (await seat_states(c, concert))[1][POSITION["floor-A-2"]] == "H"
    r = await wclient.get(f"{API}/holds/{y[0]}", headers=second_fan)
    assert r.status_code == 200, r.text


async def test_the_audit_lists_every_hold_of_a_concert_with_many(container: Container) -> None:
    """More holds than one page of the audit's scan: every one is listed once, as stored."""
    c = container
    concert = f"audit-{uuid.uuid4().hex[:8]}"
    await c.engine.load(concert, "A" * 3_000, {}, {})
    held = await asyncio.gather(
        *(c.engine.hold(concert, f"{concert}.h{n}", f"u{n}", [n], cap=8, ttl_ms=60_000)
          for n in range(2_500))
    )  # fmt: skip
    audit = await c.engine.audit(concert)
    assert len(audit.holds) == 2_500
    assert audit.seats.count("H") == 2_500
    for n in range(0, 2_500, 97):
        stored, outcome = audit.holds[f"{concert}.h{n}"], held[n]
        assert isinstance(outcome, Held)
        assert (stored.user_id, stored.indexes) == (f"u{n}", (n,))
        assert stored.expires_at_ms == outcome.expires_at_ms
    await c.engine.reset(concert)
