"""The waiting room after Redis loses its state (FLUSHALL, as after a failover to an empty
replica), under a running app, with no restart: the registry and admission resume by
themselves, a buyer whose place was lost is told to re-join and gets in, and a pass issued
before the loss keeps working (issue 16, item 13).

Each test runs the real app (background jobs included) on a private redis-server of its own,
so emptying it touches nobody else's data.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.platform.redis import RedisClient, build_redis
from app.waiting_room.engine import ACTIVE_QUEUES
from tests.checkout.test_api import pay
from tests.conftest import make_settings
from tests.faults.conftest import admin_headers, running
from tests.helpers import CONCERTS, buyer, create_concert
from tests.servers.restartable import RedisServer


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[RedisServer]:
    redis_server = RedisServer(tmp_path)
    redis_server.start()
    try:
        yield redis_server
    finally:
        redis_server.stop()


@pytest.fixture
async def direct(server: RedisServer) -> AsyncIterator[RedisClient]:
    """The test's own connection to the private Redis, to empty it."""
    client = build_redis(server.url, timeout=5.0)
    yield client
    await client.aclose()


def _queue(**overrides: Any) -> dict[str, Any]:
    return {"enabled": True, "admit_per_minute": 600, "max_active": 100, **overrides}


async def _until(moment: datetime) -> None:
    await asyncio.sleep(max(0.0, (moment - datetime.now(UTC)).total_seconds()) + 0.1)


async def _admitted(
    client: httpx.AsyncClient, concert_id: str, who: dict[str, str], within: float = 15.0
) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        r = await client.get(f"{CONCERTS}/{concert_id}/queue", headers=who)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        if body["state"] == "admitted":
            return body
        assert time.monotonic() < deadline, f"not admitted within {within}s: {body}"
        await asyncio.sleep(0.2)


async def _stats(
    client: httpx.AsyncClient, concert_id: str, organiser: dict[str, str]
) -> dict[str, Any]:
    r = await client.get(f"{CONCERTS}/{concert_id}/queue/stats", headers=organiser)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def _hold(
    client: httpx.AsyncClient, concert_id: str, who: dict[str, str], pass_: str, seat: str
) -> httpx.Response:
    return await client.post(
        f"{CONCERTS}/{concert_id}/holds",
        json={"seat_ids": [seat]},
        headers={**who, "X-Queue-Pass": pass_},
    )


def _told_to_rejoin(r: httpx.Response) -> None:
    assert r.status_code == 404, r.text
    assert r.json()["error"] == "QueueNotJoined"
    assert "join again" in r.json()["detail"].lower()


async def test_a_buyer_who_joined_before_the_flush_rejoins_and_gets_in(
    tmp_path: Path, server: RedisServer, direct: RedisClient
) -> None:
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path}/store.db", redis_url=server.url)
    async with running(settings) as (app, client):
        organiser = await admin_headers(client)
        on_sale = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=4)
        c = await create_concert(client, organiser, on_sale_at=on_sale.isoformat(), queue=_queue())
        me = buyer(app)
        joined = await client.post(f"{CONCERTS}/{c['id']}/queue", headers=me)
        assert joined.status_code == 200, joined.text
        assert joined.json()["position"] is None  # before the on-sale

        await direct.flushall()
        await _until(on_sale)

        # The place is gone: the buyer is told so, and what to do.
        _told_to_rejoin(await client.get(f"{CONCERTS}/{c['id']}/queue", headers=me))
        again = await client.post(f"{CONCERTS}/{c['id']}/queue", headers=me)
        assert again.status_code == 200, again.text
        status = await _admitted(client, c["id"], me)
        held = await _hold(client, c["id"], me, status["pass"], "floor-A-1")
        assert held.status_code == 201, held.text
        stats = await _stats(client, c["id"], organiser)
        assert stats["admitted_total"] == 1
        assert stats["active_shoppers"] == 1


async def test_a_pass_issued_before_the_flush_keeps_working_and_admission_resumes(
    tmp_path: Path, server: RedisServer, direct: RedisClient
) -> None:
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path}/store.db", redis_url=server.url)
    async with running(settings) as (app, client):
        organiser = await admin_headers(client)
        c = await create_concert(client, organiser, queue=_queue(max_active=2))
        early, waiting, late = buyer(app), buyer(app), buyer(app)
        await client.post(f"{CONCERTS}/{c['id']}/queue", headers=early)
        early_pass = (await _admitted(client, c["id"], early))["pass"]

        await direct.flushall()

        # The pass predates the loss: its holder is restored, not refused.
        held = await _hold(client, c["id"], early, early_pass, "floor-A-1")
        assert held.status_code == 201, held.text
        assert (await _stats(client, c["id"], organiser))["active_shoppers"] == 1
        # A buyer who was waiting is told to re-join and gets in; so does a newcomer.
        _told_to_rejoin(await client.get(f"{CONCERTS}/{c['id']}/queue", headers=waiting))
        for who in (waiting, late):
            r = await client.post(f"{CONCERTS}/{c['id']}/queue", headers=who)
            assert r.status_code == 200, r.text
        first = await _admitted(client, c["id"], waiting)
        assert (
            await _hold(client, c["id"], waiting, first["pass"], "floor-A-2")
        ).status_code == 201
        stats = await _stats(client, c["id"], organiser)
        assert stats["admitted_total"] >= 1
        assert stats["active_shoppers"] == 2  # the restored buyer and one more: max_active


async def test_admission_resumes_when_only_the_registry_is_lost(
    tmp_path: Path, server: RedisServer, direct: RedisClient
) -> None:
    """On a cluster the registry lives on another node than the queue: that node alone can
    come back empty while the line is intact. Nobody re-joins; the admission loop finds the
    queue from the store."""
    settings = make_settings(
        f"sqlite+aiosqlite:///{tmp_path}/store.db",
        redis_url=server.url,
        queue_discover_interval_seconds=1,
    )
    async with running(settings) as (app, client):
        organiser = await admin_headers(client)
        on_sale = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=3)
        c = await create_concert(client, organiser, on_sale_at=on_sale.isoformat(), queue=_queue())
        me = buyer(app)
        assert (await client.post(f"{CONCERTS}/{c['id']}/queue", headers=me)).status_code == 200
        assert await direct.delete(ACTIVE_QUEUES) == 1
        await _until(on_sale)
        await _admitted(client, c["id"], me, within=30)


async def test_a_slot_freed_before_the_flush_is_not_restored(
    tmp_path: Path, server: RedisServer, direct: RedisClient
) -> None:
    """Redis forgets that the slot was freed along with everything else; the store remembers
    the confirmed order, and the pass that bought it stays refused."""
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path}/store.db", redis_url=server.url)
    async with running(settings) as (app, client):
        organiser = await admin_headers(client)
        c = await create_concert(client, organiser, queue=_queue(max_active=2))
        me, other = buyer(app), buyer(app)
        await client.post(f"{CONCERTS}/{c['id']}/queue", headers=me)
        mine = (await _admitted(client, c["id"], me))["pass"]
        held = await _hold(client, c["id"], me, mine, "floor-A-1")
        assert held.status_code == 201, held.text
        auth = {**me, "X-Queue-Pass": mine}
        order = await client.post(
            "/api/v1/checkout", json={"hold_id": held.json()["id"]}, headers=auth
        )
        assert order.status_code == 201, order.text
        paid = await pay(client, order.json()["payment"]["payment_intent_id"], me)
        assert paid.status_code == 200, paid.text
        # Another buyer admitted before the flush, who has not bought yet: restored.
        await client.post(f"{CONCERTS}/{c['id']}/queue", headers=other)
        theirs = (await _admitted(client, c["id"], other))["pass"]

        await direct.flushall()

        again = await _hold(client, c["id"], me, mine, "floor-A-2")
        assert again.status_code == 403, again.text
        assert "freed" in again.json()["reason"]
        assert (await _hold(client, c["id"], other, theirs, "floor-A-3")).status_code == 201
        # Refused for good: the refusal is remembered in Redis now.
        assert (await _hold(client, c["id"], me, mine, "floor-A-4")).status_code == 403
        stats = await _stats(client, c["id"], organiser)
        assert stats["active_shoppers"] == 1
