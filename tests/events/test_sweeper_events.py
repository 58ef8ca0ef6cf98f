"""Holds the sweeper expires are reported as seat.released (reason expired)."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import CollectorRegistry, Counter

from app.events.publisher import EventPublisher
from app.events.schemas import SeatReleased
from app.platform.redis import RedisClient
from app.seats.engine import ACTIVE_CONCERTS_KEY, Held, SeatEngine
from app.seats.index import seat_index
from app.storage.records import Concert
from app.workers import sweeper as sweeper_module
from app.workers.sweeper import HoldSweeper
from tests.events.conftest import read_stream
from tests.storage.factories import make_concert


class OneConcertEngine(SeatEngine):
    """Sweeps only this test's concert, which other sweepers (the apps' jobs) don't see:
    whichever sweeper expires a hold reports it, and only this one publishes to our stream."""

    def __init__(self, redis: RedisClient, concert_id: str) -> None:
        super().__init__(redis)
        self._only = concert_id

    async def active_concerts(self) -> list[str]:
        return [self._only]


async def loaded(redis: RedisClient) -> tuple[Concert, OneConcertEngine]:
    concert = make_concert()
    engine = OneConcertEngine(redis, concert.id)
    assert await engine.load(concert.id, "A" * seat_index(concert).size, {}, {})
    return concert, engine


async def hold(
    redis: RedisClient, engine: SeatEngine, concert: Concert, hold_id: str, seats: list[int]
) -> None:
    held = await engine.hold(concert.id, hold_id, "u1", seats, cap=8, ttl_ms=50)
    assert isinstance(held, Held)
    await redis.zrem(ACTIVE_CONCERTS_KEY, concert.id)  # hidden from the other sweepers


async def test_expired_holds_become_seat_released_events(
    redis: RedisClient, stream: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # This sweeper's count alone: the shared app's own sweeper may expire other tests' holds
    # meanwhile, and the process-wide counter would count those too.
    registry = CollectorRegistry()
    counter = Counter("seat_holds_released", "test copy", ["reason"], registry=registry)
    monkeypatch.setattr(sweeper_module, "HOLDS_RELEASED", counter)
    concert, engine = await loaded(redis)
    await hold(redis, engine, concert, "h1", [0, 1])
    await hold(redis, engine, concert, "h2", [5])

    async def lookup(concert_id: str) -> Concert | None:
        return concert if concert_id == concert.id else None

    sweeper = HoldSweeper(
        engine, 0.1, events=EventPublisher(redis, stream, maxlen=100), concerts=lookup
    )
    await asyncio.sleep(0.1)
    assert await sweeper.sweep_once() == 2
    assert await sweeper.sweep_once() == 0  # reported once

    events = [e for e in await read_stream(redis, stream) if isinstance(e, SeatReleased)]
    assert len(events) == len(await read_stream(redis, stream)) == 2
    released = {(e.hold_id, tuple(e.seat_ids), e.reason, e.user_id) for e in events}
    assert released == {
        ("h1", ("floor-A-1", "floor-A-2"), "expired", "u1"),
        ("h2", ("balcony-AA-10",), "expired", "u1"),
    }
    assert registry.get_sample_value("seat_holds_released_total", {"reason": "expired"}) == 2
    await redis.delete(stream)


async def test_the_expire_script_still_answers_counts_and_reports_each_hold_once(
    redis: RedisClient,
) -> None:
    concert, engine = await loaded(redis)
    await hold(redis, engine, concert, "h1", [2])
    await asyncio.sleep(0.1)
    result = await engine.expire(concert.id)
    assert result is not None
    assert (result.released, result.live_holds) == (1, 0)
    assert list(result.holds) == ["h1"]
    assert (result.holds["h1"].user_id, result.holds["h1"].indexes) == ("u1", (2,))
    again = await engine.expire(concert.id)
    assert again is not None
    assert (again.released, again.holds) == (0, {})
    assert (await engine.snapshot(concert.id)).seats[2] == "A"


async def test_without_a_publisher_the_sweeper_only_counts(redis: RedisClient) -> None:
    concert, engine = await loaded(redis)
    await hold(redis, engine, concert, "h1", [3])
    await asyncio.sleep(0.1)
    assert await HoldSweeper(engine, 0.1).sweep_once() == 1
