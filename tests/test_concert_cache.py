from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from app.concerts.cache import ConcertCache
from app.storage.records import Concert, QueueSettings


def _concert(concert_id: str) -> Concert:
    now = datetime.now(UTC)
    return Concert(
        id=concert_id,
        title="t",
        artist="a",
        genre="g",
        description="",
        venue_name="v",
        venue_city="c",
        starts_at=now,
        on_sale_at=now,
        currency="EUR",
        max_tickets_per_user=8,
        queue=QueueSettings(),
        sections=(),
        created_at=now,
        updated_at=now,
    )


async def test_concurrent_misses_load_once() -> None:
    loads = 0

    async def load(concert_id: str) -> Concert | None:
        nonlocal loads
        loads += 1
        await asyncio.sleep(0.05)
        return _concert(concert_id)

    cache = ConcertCache(ttl_seconds=60)
    results = await asyncio.gather(*(cache.get("c1", load) for _ in range(100)))
    assert loads == 1
    assert {r.id for r in results if r} == {"c1"}
    assert await cache.get("c1", load) is results[0]
    assert loads == 1


async def test_a_failed_load_is_not_cached() -> None:
    calls = 0

    async def flaky(concert_id: str) -> Concert | None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("store blip")
        return _concert(concert_id)

    cache = ConcertCache(ttl_seconds=60)
    results = await asyncio.gather(
        *(cache.get("c2", flaky) for _ in range(3)), return_exceptions=True
    )
    assert all(isinstance(r, RuntimeError) for r in results)
    concert = await cache.get("c2", flaky)
    assert concert is not None
    assert calls == 2
