from __future__ import annotations

import asyncio
from dataclasses import replace
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


async def test_an_expired_copy_answers_at_once_while_one_reload_runs() -> None:
    loads = 0
    release = asyncio.Event()

    async def slow(concert_id: str) -> Concert | None:
        nonlocal loads
        loads += 1
        if loads > 1:
            await release.wait()  # the reload: as slow as we like
        return _concert(concert_id)

    cache = ConcertCache(ttl_seconds=0.05, max_stale_seconds=60)
    first = await cache.get("c3", slow)
    await asyncio.sleep(0.06)  # expired
    served = await asyncio.wait_for(
        asyncio.gather(*(cache.get("c3", slow) for _ in range(50))), timeout=1
    )
    assert all(c is first for c in served)  # the stale copy, nobody waited
    assert loads == 2  # one reload for all of them
    release.set()
    await asyncio.sleep(0.01)
    fresh = await cache.get("c3", slow)
    assert fresh is not first
    assert loads == 2


async def test_a_copy_too_old_to_serve_is_reloaded_while_the_request_waits() -> None:
    loads = 0

    async def load(concert_id: str) -> Concert | None:
        nonlocal loads
        loads += 1
        return _concert(concert_id)

    cache = ConcertCache(ttl_seconds=0.02, max_stale_seconds=0.05)
    first = await cache.get("c4", load)
    await asyncio.sleep(0.06)
    assert await cache.get("c4", load) is not first
    assert loads == 2


async def test_a_failed_background_reload_keeps_the_stale_copy() -> None:
    calls = 0

    async def flaky(concert_id: str) -> Concert | None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("store blip")
        return _concert(concert_id)

    cache = ConcertCache(ttl_seconds=0.02, max_stale_seconds=60)
    first = await cache.get("c5", flaky)
    await asyncio.sleep(0.03)
    assert await cache.get("c5", flaky) is first  # starts the reload that fails
    await asyncio.sleep(0.01)
    assert await cache.get("c5", flaky) is first  # still served; the next reload starts
    await asyncio.sleep(0.01)
    assert calls == 3
    assert await cache.get("c5", flaky) is not first


class _VersionedStore:
    """A concert whose version the test moves; counts full reads and version reads."""

    def __init__(self) -> None:
        self.version = 1
        self.reads = 0
        self.version_reads = 0
        self.version_gate: asyncio.Event | None = None

    async def load(self, concert_id: str) -> Concert | None:
        self.reads += 1
        return replace(_concert(concert_id), version=self.version)

    async def versions(self, concert_id: str) -> int | None:
        self.version_reads += 1
        if self.version_gate is not None:
            await self.version_gate.wait()
        return self.version


async def _expire_and_refresh(cache: ConcertCache, store: _VersionedStore) -> Concert | None:
    await asyncio.sleep(0.03)  # past the TTL
    await cache.get("c6", store.load)  # the stale copy; the refresh starts
    await asyncio.sleep(0.01)
    return await cache.get("c6", store.load)


async def test_an_unchanged_version_keeps_the_copy_without_reading_the_layout() -> None:
    store = _VersionedStore()
    cache = ConcertCache(ttl_seconds=0.02, max_stale_seconds=60, versions=store.versions)
    first = await cache.get("c6", store.load)
    for _ in range(3):
        assert await _expire_and_refresh(cache, store) is first
    assert (store.reads, store.version_reads) == (1, 3)


async def test_a_new_version_is_read_in_full() -> None:
    store = _VersionedStore()
    cache = ConcertCache(ttl_seconds=0.02, max_stale_seconds=60, versions=store.versions)
    first = await cache.get("c6", store.load)
    store.version = 2  # another process changed it
    fresh = await _expire_and_refresh(cache, store)
    assert fresh is not None
    assert fresh is not first
    assert fresh.version == 2
    assert (store.reads, store.version_reads) == (2, 1)


async def test_a_copy_dropped_during_the_version_check_is_not_put_back() -> None:
    """This process changed the concert (and dropped its copy) while the check was reading
    the old version: the refresh reads the concert in full instead of keeping the old copy."""
    store = _VersionedStore()
    store.version_gate = asyncio.Event()
    cache = ConcertCache(ttl_seconds=0.02, max_stale_seconds=60, versions=store.versions)
    first = await cache.get("c6", store.load)
    await asyncio.sleep(0.03)
    assert await cache.get("c6", store.load) is first  # the refresh waits at the gate
    cache.drop("c6")
    store.version_gate.set()
    await asyncio.sleep(0.01)
    assert store.reads == 2
    again = await cache.get("c6", store.load)
    assert again is not first
