"""Holds of concurrent requests share a pipeline (SeatEngine on a single Redis server): each
script still decides alone and atomically, a failing call fails only its caller, and a Redis
that lost its scripts (a restart) is recovered within the batch."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from redis.exceptions import ResponseError

from app.platform.redis import RedisClient
from app.seats.engine import Held, SeatEngine, Taken

HOUR_MS = 3_600_000


def hold_id(concert: str) -> str:
    return f"{concert}.{uuid.uuid4().hex}"


async def test_concurrent_holds_are_batched_and_each_seat_goes_once(
    engine: SeatEngine, concert: str
) -> None:
    assert engine._holds is not None  # a single server: the batching path
    # 300 buyers, 3 per seat, all at once: 100 win, 200 find their seat taken.
    results = await asyncio.gather(
        *(
            engine.hold(concert, hold_id(concert), f"u{n}", [n % 100], cap=8, ttl_ms=HOUR_MS)
            for n in range(300)
        )
    )
    held = [r for r in results if isinstance(r, Held)]
    assert len(held) == 100
    assert sorted(i for r in held for i in r.indexes) == list(range(100))
    assert all(isinstance(r, Taken) for r in results if not isinstance(r, Held))
    versions = [r.version for r in held]
    assert len(set(versions)) == 100  # every hold its own atomic step
    snapshot = await engine.snapshot(concert)
    assert snapshot.seats == "H" * 100


async def test_a_failing_call_fails_only_its_caller(engine: SeatEngine, concert: str) -> None:
    good = [
        engine.hold(concert, hold_id(concert), f"g{n}", [n], cap=8, ttl_ms=HOUR_MS)
        for n in range(20)
    ]
    # A ttl the script cannot read: Redis raises for this call alone.
    bad = engine.hold(concert, hold_id(concert), "bad", [50], cap=8, ttl_ms="soon")  # type: ignore[arg-type]
    results = await asyncio.gather(*good, bad, return_exceptions=True)
    assert all(isinstance(r, Held) for r in results[:20])
    assert isinstance(results[20], ResponseError)


async def test_holds_recover_when_redis_lost_its_scripts(
    engine: SeatEngine, concert: str, redis: RedisClient
) -> None:
    await redis.script_flush()
    results = await asyncio.gather(
        *(
            engine.hold(concert, hold_id(concert), f"r{n}", [n], cap=8, ttl_ms=HOUR_MS)
            for n in range(30)
        )
    )
    assert all(isinstance(r, Held) for r in results)


@pytest.mark.parametrize("n", [1, 2])
async def test_small_batches_behave_the_same(engine: SeatEngine, concert: str, n: int) -> None:
    results = await asyncio.gather(
        *(
            engine.hold(concert, hold_id(concert), f"s{k}", [k], cap=8, ttl_ms=HOUR_MS)
            for k in range(n)
        )
    )
    assert all(isinstance(r, Held) for r in results)
