"""Redis killed in the middle of an on-sale and started again empty.

What must hold: while it is down, every request that needs it answers 503 with Retry-After, fast,
never 500; once it is back, seat state is rebuilt from the store, so no sold seat (nor a seat of
an order still waiting for payment) shows as available; the payment that arrives for a pending
order confirms it; holds that were only in Redis are gone and say so.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from tests.checkout.test_api import (
    checkout,
    deliver,
    event,
    hold,
    order_of,
    pay,
    seat_states,
    succeeded,
)
from tests.conftest import make_settings
from tests.faults.conftest import admin_headers, running
from tests.helpers import CONCERTS, buyer, create_concert
from tests.servers.restartable import RedisServer

API = "/api/v1"


async def test_redis_killed_mid_checkout_and_restarted_empty(tmp_path: Path) -> None:
    server = RedisServer(tmp_path)
    server.start()
    settings = make_settings(
        f"sqlite+aiosqlite:///{tmp_path}/store.db",
        redis_url=server.url,
        redis_timeout_seconds=0.5,
    )
    try:
        async with running(settings) as (app, client):
            c = await create_concert(client, await admin_headers(client))
            # Sold before the crash.
            early = buyer(app)
            sold = await checkout(
                client, (await hold(client, c["id"], early, ["floor-A-1"]))["id"], early
            )
            assert (
                await pay(client, sold.json()["payment"]["payment_intent_id"], early)
            ).status_code == 200
            # Checked out, paying when Redis dies.
            payer = buyer(app)
            paying = await checkout(
                client,
                (await hold(client, c["id"], payer, ["floor-A-2", "floor-A-3"]))["id"],
                payer,
            )
            assert paying.status_code == 201, paying.text
            order = paying.json()["order"]
            # Held, not checked out: lives only in Redis.
            holder = buyer(app)
            lost = await hold(client, c["id"], holder, ["balcony-A-1"])

            server.kill()
            requests = [
                client.get(f"{CONCERTS}/{c['id']}/seats"),
                client.post(
                    f"{CONCERTS}/{c['id']}/holds", json={"quantity": 1}, headers=buyer(app)
                ),
                client.get(f"{API}/holds/{lost['id']}", headers=holder),
                client.post(f"{API}/checkout", json={"hold_id": lost["id"]}, headers=holder),
            ] * 10
            started = time.perf_counter()
            during = await asyncio.gather(*requests)
            elapsed = time.perf_counter() - started
            assert {r.status_code for r in during} == {503}, [
                r.text for r in during if r.status_code != 503
            ]
            for r in during:
                assert r.headers["Retry-After"].isdigit()
                assert r.json()["error"] == "ServiceUnavailable"
            print(f"40 requests during the outage: all 503 in {elapsed:.3f} s")
            assert elapsed < 10, f"40 requests took {elapsed:.1f}s while Redis was down"
            ready = await client.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["checks"]["redis"] == "down"

            server.start()  # empty: it keeps nothing on disk
            # The payment for the pending order arrives (as Stripe would send it) and confirms.
            paid = event(
                "payment_intent.succeeded", succeeded(order["payment_intent_id"], order["id"])
            )
            assert (await deliver(client, app, paid)).status_code == 200
            done = await order_of(client, order["id"], payer)
            assert done["status"] == "confirmed"
            assert sorted(t["seat_id"] for t in done["tickets"]) == ["floor-A-2", "floor-A-3"]

            # Rebuilt from the store: the three sold seats are sold, the lost hold's seat is free.
            states = await seat_states(client, c["id"])
            assert states[:3] == "SSS"
            assert "H" not in states
            gone = await client.get(f"{API}/holds/{lost['id']}", headers=holder)
            assert gone.status_code == 404
            assert gone.json()["error"] == "HoldNotFound"
            assert "lost" in gone.json()["detail"]
            assert "Hold the seats again" in gone.json()["detail"]
            again = await client.post(
                f"{API}/checkout", json={"hold_id": lost["id"]}, headers=holder
            )
            assert again.status_code == 404
            # Sold seats can't be held again; the freed one can.
            taken = await client.post(
                f"{CONCERTS}/{c['id']}/holds", json={"seat_ids": ["floor-A-1"]}, headers=buyer(app)
            )
            assert taken.status_code == 409
            await hold(client, c["id"], buyer(app), ["balcony-A-1"])
            assert (await client.get("/readyz")).status_code == 200
    finally:
        server.stop()


async def test_no_500_while_redis_flaps(tmp_path: Path) -> None:
    """Requests racing a kill and a restart get 2xx, 404/409 or 503, never 500."""
    server = RedisServer(tmp_path)
    server.start()
    settings = make_settings(
        f"sqlite+aiosqlite:///{tmp_path}/store.db", redis_url=server.url, redis_timeout_seconds=0.5
    )
    try:
        async with running(settings) as (app, client):
            c = await create_concert(
                client,
                await admin_headers(client),
                sections=[{"name": "Floor", "price_cents": 1000, "rows": 10, "seats_per_row": 20}],
            )

            async def shopper() -> list[int]:
                codes = []
                for _ in range(15):
                    r = await client.post(
                        f"{CONCERTS}/{c['id']}/holds", json={"quantity": 1}, headers=buyer(app)
                    )
                    codes.append(r.status_code)
                    await asyncio.sleep(0.02)
                return codes

            async def flap() -> None:
                await asyncio.sleep(0.1)
                server.kill()
                await asyncio.sleep(0.3)
                server.start()

            results = await asyncio.gather(*(shopper() for _ in range(10)), flap())
            codes = [code for r in results[:-1] if isinstance(r, list) for code in r]
            assert 500 not in codes
            assert set(codes) <= {201, 409, 503}
            assert 503 in codes
            assert 201 in codes
    finally:
        server.stop()
