"""Scheduled warm-up: concerts whose on-sale is near are loaded into Redis and the cache."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta

import httpx

from app.container import Container
from app.storage.records import Concert
from app.workers.warmup import WarmUp, warm_up_forever
from tests.helpers import create_concert


async def new_concert(
    client: httpx.AsyncClient, headers: dict[str, str], on_sale_in: timedelta
) -> str:
    now = datetime.now(UTC).replace(microsecond=0)
    body = await create_concert(
        client,
        headers,
        on_sale_at=(now + on_sale_in).isoformat(),
        starts_at=(now + on_sale_in + timedelta(days=30)).isoformat(),
    )
    concert_id: str = body["id"]
    return concert_id


async def not_in_store(_: str) -> Concert | None:
    raise AssertionError("the warmed cache should have answered")


async def test_warms_a_concert_going_on_sale_soon_and_skips_a_far_one(
    wclient: httpx.AsyncClient, wadmin: dict[str, str], container: Container
) -> None:
    c = container
    soon = await new_concert(wclient, wadmin, timedelta(minutes=10))
    far = await new_concert(wclient, wadmin, timedelta(days=3))
    assert not await c.engine.is_loaded(soon)
    c.concerts.drop(soon)
    warmup = WarmUp(c.catalogue, c.seats, c.concerts, c.seat_state, lead_seconds=900)

    first = await warmup.run_once()
    assert soon in first.loaded
    assert far not in first.loaded
    assert await c.engine.is_loaded(soon)
    assert not await c.engine.is_loaded(far)
    assert (await c.engine.snapshot(soon)).seats == "A" * 10
    cached = await c.concerts.get(soon, not_in_store)
    assert cached is not None
    assert cached.id == soon

    version = (await c.engine.snapshot(soon)).version
    second = await warmup.run_once()
    assert second.loaded == []  # idempotent: a loaded concert is not loaded again
    assert second.already >= 1
    assert (await c.engine.snapshot(soon)).version == version


async def test_a_concert_on_sale_whose_state_was_lost_is_rebuilt(
    wclient: httpx.AsyncClient, wadmin: dict[str, str], container: Container
) -> None:
    c = container
    on_sale = await new_concert(wclient, wadmin, timedelta(hours=-1))
    await c.store.sales.claim(on_sale, ["floor-A-2"], "order-1", datetime.now(UTC))
    warmup = WarmUp(c.catalogue, c.seats, c.concerts, c.seat_state, lead_seconds=900)
    assert on_sale in (await warmup.run_once()).loaded
    assert (await c.engine.snapshot(on_sale)).seats == "ASAAAAAAAA"  # rebuilt from the store


async def test_the_wired_job_warms_and_can_be_turned_off(
    wclient: httpx.AsyncClient, wadmin: dict[str, str], container: Container
) -> None:
    c = container
    soon = await new_concert(wclient, wadmin, timedelta(minutes=1))
    off = dataclasses.replace(
        c, settings=c.settings.model_copy(update={"warmup_interval_seconds": 0})
    )
    await asyncio.wait_for(warm_up_forever(off), timeout=1)  # returns at once
    assert not await c.engine.is_loaded(soon)

    on = dataclasses.replace(
        c, settings=c.settings.model_copy(update={"warmup_interval_seconds": 0.05})
    )
    task = asyncio.create_task(warm_up_forever(on))
    try:
        for _ in range(100):
            if await c.engine.is_loaded(soon):
                break
            await asyncio.sleep(0.05)
        assert await c.engine.is_loaded(soon)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
