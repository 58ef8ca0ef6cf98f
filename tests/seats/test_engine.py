"""The seat engine against a real Redis: atomicity, expiry, caps, sales, rebuild."""

from __future__ import annotations

import asyncio
import random
import uuid

import pytest

from app.platform.redis import RedisClient
from app.seats.engine import (
    Held,
    NotLoaded,
    OverCap,
    SeatEngine,
    SoldOut,
    Taken,
    concert_keys,
)
from app.workers.sweeper import HoldSweeper

TTL = 60_000


def hid() -> str:
    return uuid.uuid4().hex


async def test_hold_is_all_or_nothing(engine: SeatEngine, concert: str) -> None:
    first = await engine.hold(concert, hid(), "u1", [1, 2], cap=8, ttl_ms=TTL)
    assert isinstance(first, Held)
    overlapping = await engine.hold(concert, hid(), "u2", [3, 2, 4], cap=8, ttl_ms=TTL)
    assert overlapping == Taken((2,))
    snap = await engine.snapshot(concert)
    assert snap.seats[:6] == "AHHAAA"  # seats 3 and 4 were not held either
    assert snap.version == first.version


async def test_five_hundred_buyers_for_one_seat_get_exactly_one_hold(
    engine: SeatEngine, concert: str
) -> None:
    results = await asyncio.gather(
        *(engine.hold(concert, hid(), f"user-{n}", [7], cap=8, ttl_ms=TTL) for n in range(500))
    )
    held = [r for r in results if isinstance(r, Held)]
    assert len(held) == 1
    assert sum(isinstance(r, Taken) for r in results) == 499
    counts = (await engine.counts([concert]))[concert]
    assert (counts.available, counts.held, counts.sold) == (99, 1, 0)


def _overlaps(granted: list[tuple[int, ...]]) -> set[int]:
    seen: set[int] = set()
    doubled: set[int] = set()
    for seats in granted:
        doubled |= seen & set(seats)
        seen |= set(seats)
    return doubled


def _requests(buyers: int, venue: int, rng: random.Random) -> list[list[int]]:
    return [rng.sample(range(venue), rng.randint(1, 4)) for _ in range(buyers)]


async def test_overlapping_multi_seat_holds_never_overlap(engine: SeatEngine, concert: str) -> None:
    requests = _requests(300, 60, random.Random(7))
    results = await asyncio.gather(
        *(
            engine.hold(concert, hid(), f"buyer-{n}", seats, cap=8, ttl_ms=TTL)
            for n, seats in enumerate(requests)
        )
    )
    granted = [r.indexes for r in results if isinstance(r, Held)]
    assert granted, "some holds must succeed"
    assert _overlaps(granted) == set()
    held_seats = {s for seats in granted for s in seats}
    snap = await engine.snapshot(concert)
    assert {i for i, c in enumerate(snap.seats) if c == "H"} == held_seats
    counts = (await engine.counts([concert]))[concert]
    assert counts.held == len(held_seats)
    # Every refusal named at least one seat that really was held by someone.
    for result in results:
        if isinstance(result, Taken):
            assert set(result.indexes) <= held_seats


async def _naive_hold(redis: RedisClient, concert: str, seats: list[int]) -> tuple[int, ...] | None:
    """A deliberately non-atomic hold: check, then write, with a round trip in between."""
    key = concert_keys(concert)[0]
    for seat in seats:
        if await redis.getrange(key, seat, seat) != b"A":
            return None
    await asyncio.sleep(0)
    for seat in seats:
        await redis.setrange(key, seat, "H")
    return tuple(seats)


async def test_control_the_race_test_detects_a_non_atomic_hold(
    redis: RedisClient, concert: str
) -> None:
    """The same workload against a check-then-write hold must oversell; if it didn't, the test
    above could not tell an atomic engine from a broken one."""
    requests = _requests(300, 60, random.Random(7))
    results = await asyncio.gather(*(_naive_hold(redis, concert, seats) for seats in requests))
    granted = [r for r in results if r is not None]
    assert _overlaps(granted) != set()


async def test_release_frees_seats_at_once_and_only_for_the_owner(
    engine: SeatEngine, concert: str
) -> None:
    hold_id = hid()
    assert isinstance(await engine.hold(concert, hold_id, "u1", [0, 1], cap=8, ttl_ms=TTL), Held)
    assert await engine.release(concert, hold_id, "intruder") is False
    assert await engine.release(concert, hold_id, "u1") is True
    assert (await engine.snapshot(concert)).seats[:2] == "AA"
    assert await engine.release(concert, hold_id, "u1") is False
    assert await engine.get_hold(concert, hold_id, "u1") is None


async def test_per_user_cap_counts_held_and_bought_seats(engine: SeatEngine, concert: str) -> None:
    first = hid()
    assert isinstance(await engine.hold(concert, first, "u1", [0, 1, 2], cap=4, ttl_ms=TTL), Held)
    assert await engine.hold(concert, hid(), "u1", [3, 4], cap=4, ttl_ms=TTL) == OverCap(3)
    assert isinstance(await engine.hold(concert, hid(), "u2", [3, 4], cap=4, ttl_ms=TTL), Held)
    # Bought seats still count after the hold is consumed by the sale.
    await engine.sell(concert, first, "u1", [0, 1, 2])
    assert await engine.hold(concert, hid(), "u1", [5, 6], cap=4, ttl_ms=TTL) == OverCap(3)
    assert isinstance(await engine.hold(concert, hid(), "u1", [5], cap=4, ttl_ms=TTL), Held)


async def test_sell_marks_seats_sold_and_consumes_the_hold(
    engine: SeatEngine, concert: str
) -> None:
    hold_id = hid()
    held = await engine.hold(concert, hold_id, "u1", [10, 11], cap=8, ttl_ms=TTL)
    assert isinstance(held, Held)
    version = await engine.sell(concert, hold_id, "u1", [10, 11])
    assert version > held.version
    snap = await engine.snapshot(concert)
    assert snap.seats[10:12] == "SS"
    assert await engine.get_hold(concert, hold_id, "u1") is None
    assert await engine.hold(concert, hid(), "u2", [10], cap=8, ttl_ms=TTL) == Taken((10,))
    counts = (await engine.counts([concert]))[concert]
    assert (counts.held, counts.sold) == (0, 2)


async def test_extend_lengthens_but_never_shortens(engine: SeatEngine, concert: str) -> None:
    hold_id = hid()
    held = await engine.hold(concert, hold_id, "u1", [3], cap=8, ttl_ms=5_000)
    assert isinstance(held, Held)
    longer = await engine.extend(concert, hold_id, "u1", 600_000)
    assert longer is not None
    assert longer.expires_at_ms >= held.expires_at_ms + 590_000
    assert longer.indexes == (3,)
    shorter = await engine.extend(concert, hold_id, "u1", 1_000)
    assert shorter is not None
    assert shorter.expires_at_ms == longer.expires_at_ms
    assert await engine.extend(concert, hold_id, "someone-else", 600_000) is None


async def test_expired_holds_are_released_lazily_by_the_next_call(
    engine: SeatEngine, concert: str
) -> None:
    hold_id = hid()
    assert isinstance(await engine.hold(concert, hold_id, "u1", [5], cap=1, ttl_ms=50), Held)
    await asyncio.sleep(0.12)
    assert await engine.get_hold(concert, hold_id, "u1") is None  # past its time already
    # The next script call on the concert expires it first: seat free, cap freed.
    assert isinstance(await engine.hold(concert, hid(), "u1", [5], cap=1, ttl_ms=TTL), Held)


async def test_the_sweeper_frees_expired_seats_without_other_traffic(
    engine: SeatEngine, concert: str
) -> None:
    sweeper = HoldSweeper(engine, interval_seconds=0.1)
    task = asyncio.create_task(sweeper.run())
    try:
        held = await engine.hold(concert, hid(), "u1", [9], cap=8, ttl_ms=300)
        assert isinstance(held, Held)
        assert (await engine.snapshot(concert)).seats[9] == "H"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5
        while (await engine.snapshot(concert)).seats[9] != "A":
            assert loop.time() < deadline, "the sweeper never released the expired hold"
            await asyncio.sleep(0.05)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert await engine.live_holds(concert) == 0


async def test_best_available_takes_adjacent_seats_in_the_front_row(
    engine: SeatEngine, concert: str
) -> None:
    rows = [(0, 10), (10, 10)]  # two rows of ten
    held = await engine.hold_best(concert, hid(), "u1", 4, rows, cap=8, ttl_ms=TTL)
    assert isinstance(held, Held)
    assert held.indexes == (3, 4, 5, 6)  # centred in row one


async def test_best_available_avoids_leaving_a_single_orphan_seat(
    engine: SeatEngine, concert: str
) -> None:
    rows = [(0, 5), (5, 5)]
    # Row one: only seats 0-2 free (3 seats); taking 2 of them would strand one seat.
    assert isinstance(await engine.hold(concert, hid(), "x", [3, 4], cap=8, ttl_ms=TTL), Held)
    held = await engine.hold_best(concert, hid(), "u1", 2, rows, cap=8, ttl_ms=TTL)
    assert isinstance(held, Held)
    assert held.indexes in {(5, 6), (8, 9)}  # row two, flush against an edge: no orphan
    snap = await engine.snapshot(concert)
    row_two = snap.seats[5:10]
    assert "AHA" not in f"H{row_two}H"  # no lone free seat between taken ones


async def test_best_available_accepts_an_orphan_when_nothing_else_fits(
    engine: SeatEngine, concert: str
) -> None:
    rows = [(0, 5)]
    assert isinstance(await engine.hold(concert, hid(), "x", [3, 4], cap=8, ttl_ms=TTL), Held)
    held = await engine.hold_best(concert, hid(), "u1", 2, rows, cap=8, ttl_ms=TTL)
    assert isinstance(held, Held)
    assert len(held.indexes) == 2
    assert held.indexes[1] == held.indexes[0] + 1


async def test_best_available_splits_across_rows_only_when_no_row_fits(
    engine: SeatEngine, concert: str
) -> None:
    rows = [(0, 3), (3, 3)]
    assert isinstance(await engine.hold(concert, hid(), "x", [1, 4], cap=8, ttl_ms=TTL), Held)
    held = await engine.hold_best(concert, hid(), "u1", 3, rows, cap=8, ttl_ms=TTL)
    assert isinstance(held, Held)
    assert held.indexes == (0, 2, 3)
    assert await engine.hold_best(concert, hid(), "u2", 2, rows, cap=8, ttl_ms=TTL) == SoldOut()


async def test_best_available_respects_the_cap(engine: SeatEngine, concert: str) -> None:
    rows = [(0, 10)]
    assert await engine.hold_best(concert, hid(), "u1", 5, rows, cap=4, ttl_ms=TTL) == OverCap(0)


async def test_calls_on_a_missing_concert_say_not_loaded(engine: SeatEngine) -> None:
    ghost = f"ghost-{uuid.uuid4().hex}"
    with pytest.raises(NotLoaded):
        await engine.hold(ghost, hid(), "u1", [0], cap=8, ttl_ms=TTL)
    with pytest.raises(NotLoaded):
        await engine.snapshot(ghost)
    assert await engine.expire(ghost) is None


async def test_load_never_overwrites_live_state(engine: SeatEngine, concert: str) -> None:
    assert isinstance(await engine.hold(concert, hid(), "u1", [0], cap=8, ttl_ms=TTL), Held)
    assert await engine.load(concert, "S" * 100, {}, {}) is False
    assert (await engine.snapshot(concert)).seats[:2] == "HA"


async def test_load_installs_holds_that_still_expire(engine: SeatEngine) -> None:
    concert = f"test-{uuid.uuid4().hex}"
    soon = await _redis_time_ms(engine) + 200
    holds = {"h1": {"u": "u1", "e": soon, "s": [1, 2]}}
    assert await engine.load(concert, "SHHA", holds, {"u1": 2, "u2": 1})
    assert (await engine.counts([concert]))[concert].held == 2
    assert await engine.hold(concert, hid(), "u1", [3], cap=2, ttl_ms=TTL) == OverCap(2)
    await asyncio.sleep(0.3)
    assert await engine.expire(concert) is not None
    assert (await engine.snapshot(concert)).seats == "SAAA"


async def _redis_time_ms(engine: SeatEngine) -> int:
    seconds, micros = await engine._redis.time()
    return int(seconds) * 1000 + int(micros) // 1000


async def test_versions_never_go_backwards_across_a_reset(engine: SeatEngine, concert: str) -> None:
    held = await engine.hold(concert, hid(), "u1", [0], cap=8, ttl_ms=TTL)
    assert isinstance(held, Held)
    await engine.reset(concert)  # as after FLUSHALL: the counter itself is gone
    assert await engine.load(concert, "A" * 100, {}, {})
    assert (await engine.snapshot(concert)).version > held.version


async def test_unsell_puts_refunded_seats_back_on_sale(engine: SeatEngine, concert: str) -> None:
    hold_id = hid()
    assert isinstance(await engine.hold(concert, hold_id, "u1", [20, 21], cap=2, ttl_ms=TTL), Held)
    await engine.sell(concert, hold_id, "u1", [20, 21])
    await engine.unsell(concert, "u1", [20, 21])
    assert (await engine.snapshot(concert)).seats[20:22] == "AA"
    # The refunded seats no longer count against the buyer's cap.
    assert isinstance(await engine.hold(concert, hid(), "u1", [22, 23], cap=2, ttl_ms=TTL), Held)


async def test_snapshot_since_skips_the_seats_when_nothing_changed(
    engine: SeatEngine, concert: str
) -> None:
    from app.seats.engine import Snapshot, Unchanged

    first = await engine.snapshot(concert)
    assert await engine.snapshot_since(concert, first.version) == Unchanged(first.version)
    assert isinstance(await engine.hold(concert, hid(), "u1", [4], cap=8, ttl_ms=TTL), Held)
    changed = await engine.snapshot_since(concert, first.version)
    assert isinstance(changed, Snapshot)
    assert changed.version > first.version
    assert changed.seats[4] == "H"
