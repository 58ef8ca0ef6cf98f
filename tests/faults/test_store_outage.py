"""PostgreSQL stopped under a running app, then started again.

As designed: holds keep working (they need Redis and the cached concert, not the store);
checkout and the webhook answer 503 with Retry-After quickly, and once the breaker is open,
at once; nothing is half-written, so after the restart Stripe's redelivery of the same event
confirms the order exactly once and pending work completes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from tests.checkout.test_api import checkout, deliver, event, hold, order_of, succeeded
from tests.conftest import make_settings
from tests.faults.conftest import admin_headers, refused_checkouts, running
from tests.helpers import CONCERTS, buyer, container_of, create_concert
from tests.servers.restartable import PostgresServer

API = "/api/v1"
RESET_SECONDS = 1.0


@pytest.fixture
def postgres() -> Iterator[PostgresServer]:
    server = PostgresServer()
    server.start()
    try:
        yield server
    finally:
        server.remove()


async def test_store_down_then_back(postgres: PostgresServer, tmp_path: Path) -> None:
    settings = make_settings(
        postgres.url,
        store_timeout_seconds=2.0,
        breaker_failure_threshold=3,
        breaker_reset_seconds=RESET_SECONDS,
        concert_cache_ttl_seconds=600,  # the concert stays cached through the outage
    )
    async with running(settings) as (app, client):
        c = await create_concert(client, await admin_headers(client))
        payer = buyer(app)
        r = await checkout(
            client, (await hold(client, c["id"], payer, ["floor-A-1", "floor-A-2"]))["id"], payer
        )
        assert r.status_code == 201, r.text
        order = r.json()["order"]
        await client.get(f"{CONCERTS}/{c['id']}")  # cached

        postgres.stop()

        # Holds: Redis and the cached concert are enough.
        shopper = buyer(app)
        held = await hold(client, c["id"], shopper, ["balcony-A-1"])

        # Checkout needs the store: 503 quickly, and once the breaker has opened, refused by
        # the breaker itself (no connection attempt: its rejection counter says so, which a
        # timing on a shared machine cannot).
        rejected = (
            REGISTRY.get_sample_value("circuit_breaker_rejected_total", {"dependency": "store"})
            or 0.0
        )
        timings = await refused_checkouts(client, held["id"], shopper, "store", times=5)
        assert max(timings) < 3.0, timings  # bounded by STORE_TIMEOUT_SECONDS, never a hang
        after = REGISTRY.get_sample_value("circuit_breaker_rejected_total", {"dependency": "store"})
        assert (after or 0.0) - rejected >= 1, timings

        # The webhook can't record the event: 503, so Stripe will deliver it again.
        paid = event("payment_intent.succeeded", succeeded(order["payment_intent_id"], order["id"]))
        r = await deliver(client, app, paid)
        assert r.status_code == 503
        ready = await client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["store"] == "down"
        assert ready.json()["breakers"]["store"] == "opened"

        postgres.start()
        await asyncio.sleep(RESET_SECONDS + 0.2)

        # Stripe's redelivery (same event) confirms the order, exactly once.
        assert (await deliver(client, app, paid)).status_code == 200
        assert (await deliver(client, app, paid)).status_code == 200
        done = await order_of(client, order["id"], payer)
        assert done["status"] == "confirmed"
        assert sorted(t["seat_id"] for t in done["tickets"]) == ["floor-A-1", "floor-A-2"]
        store = container_of(app).store
        assert await store.sales.sold_seats(c["id"]) == {
            "floor-A-1": order["id"],
            "floor-A-2": order["id"],
        }
        assert len(await store.tickets.list_for_orders([order["id"]])) == 2
        # The shopper's checkout, refused during the outage, goes through now.
        r = await client.post(f"{API}/checkout", json={"hold_id": held["id"]}, headers=shopper)
        assert r.status_code == 201, r.text
        ready = await client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["breakers"]["store"] == "closed"
