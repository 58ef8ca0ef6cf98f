"""The reconciliation scripts (audit.lua, reconcile.lua) against a real Redis: every repair is
re-checked atomically, the S -> A repair is guarded, and no script frees a repaired seat."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import pytest

from app.platform.redis import RedisClient
from app.seats.engine import Held, NotLoaded, SeatEngine, concert_keys

TTL = 60_000
LATER = int(time.time() * 1000) + 3_600_000  # an expiry far in the future (ms)


def hid() -> str:
    return uuid.uuid4().hex


async def seats(engine: SeatEngine, concert: str) -> str:
    return (await engine.snapshot(concert)).seats


async def user_count(redis: RedisClient, concert: str, user: str) -> int:
    return int(await redis.hget(concert_keys(concert)[3], user) or 0)


async def test_audit_reads_state_guard_and_holds(engine: SeatEngine, concert: str) -> None:
    h = hid()
    held = await engine.hold(concert, h, "u1", [3, 4], cap=8, ttl_ms=TTL)
    assert isinstance(held, Held)
    audit = await engine.audit(concert)
    assert audit.version == held.version
    assert audit.sells == 0
    assert audit.seats[:6] == "AAAHHA"
    assert list(audit.holds) == [h]
    assert audit.holds[h].user_id == "u1"
    assert audit.holds[h].indexes == (3, 4)
    await engine.sell(concert, h, "u1", [3, 4])
    assert (await engine.audit(concert)).sells == 1


async def test_sold_in_the_store_becomes_s_once(engine: SeatEngine, concert: str) -> None:
    await engine.hold(concert, hid(), "u1", [2], cap=8, ttl_ms=TTL)
    audit = await engine.audit(concert)
    done = await engine.repair(concert, audit, sold=[1, 2], unsold=[], orphans=[], hold_ids=[])
    assert done.sold == (1, 2)
    assert done.version == audit.version + 1
    assert (await seats(engine, concert))[:4] == "ASSA"
    counts = (await engine.counts([concert]))[concert]
    assert (counts.available, counts.held, counts.sold) == (98, 0, 2)
    again = await engine.repair(
        concert, await engine.audit(concert), sold=[1, 2], unsold=[], orphans=[], hold_ids=[]
    )
    assert not again.changed
    assert again.version == done.version  # nothing changed: no bump, nothing published


async def test_unsold_s_becomes_available_or_goes_back_to_its_hold(
    engine: SeatEngine, concert: str, redis: RedisClient
) -> None:
    await engine.sell(concert, "", "ghost", [5, 6])
    # Seat 6 is listed by a hold (state loaded that way): it goes back to that hold, not to A.
    h = hid()
    await redis.hset(concert_keys(concert)[1], h, json.dumps({"u": "u2", "e": LATER, "s": [6]}))
    audit = await engine.audit(concert)
    done = await engine.repair(concert, audit, sold=[], unsold=[5, 6], orphans=[], hold_ids=[])
    assert done.unsold == ((5, "A"), (6, "H"))
    assert done.deferred == ()
    assert (await seats(engine, concert))[5:7] == "AH"


async def test_unsold_repair_is_deferred_when_anything_changed_since_the_audit(
    engine: SeatEngine, concert: str
) -> None:
    await engine.sell(concert, "", "ghost", [5])
    audit = await engine.audit(concert)
    await engine.hold(concert, hid(), "u1", [9], cap=8, ttl_ms=TTL)  # live traffic
    done = await engine.repair(concert, audit, sold=[], unsold=[5], orphans=[], hold_ids=[])
    assert done.unsold == ()
    assert done.deferred == (5,)
    assert (await seats(engine, concert))[5] == "S"
    # The next pass, with a fresh audit, repairs it.
    done = await engine.repair(
        concert, await engine.audit(concert), sold=[], unsold=[5], orphans=[], hold_ids=[]
    )
    assert done.unsold == ((5, "A"),)


async def test_a_sale_of_a_seat_already_s_defers_the_unsold_repair(
    engine: SeatEngine, concert: str
) -> None:
    """The dangerous direction: the seat was S without a sale when audited, then a buyer's
    payment claimed it in the store and `sell` ran. Selling an S seat changes no state, so the
    version stays the same: only the sell count tells the script to keep its hands off."""
    await engine.sell(concert, "", "ghost", [5])
    audit = await engine.audit(concert)
    await engine.sell(concert, "", "buyer", [5])  # the store recorded this sale meanwhile
    after = await engine.audit(concert)
    assert after.version == audit.version  # a version-only guard would not have noticed
    done = await engine.repair(concert, audit, sold=[], unsold=[5], orphans=[], hold_ids=[])
    assert done.deferred == (5,)
    assert (await seats(engine, concert))[5] == "S"


async def test_orphaned_h_becomes_available_but_a_listed_one_stays(
    engine: SeatEngine, concert: str, redis: RedisClient
) -> None:
    lost, kept = hid(), hid()
    await engine.hold(concert, lost, "u1", [1, 2], cap=8, ttl_ms=TTL)
    await engine.hold(concert, kept, "u2", [3], cap=8, ttl_ms=TTL)
    keys = concert_keys(concert)
    await redis.hdel(keys[1], lost)  # the hold record is gone, its seats still say H
    await redis.zrem(keys[2], lost)
    audit = await engine.audit(concert)
    # A stale proposal naming seat 3 too: the script sees that a hold lists it.
    done = await engine.repair(concert, audit, sold=[], unsold=[], orphans=[1, 2, 3], hold_ids=[])
    assert done.orphans == (1, 2)
    assert (await seats(engine, concert))[:4] == "AAAH"


async def test_a_hold_whose_order_is_over_is_released(
    engine: SeatEngine, concert: str, redis: RedisClient
) -> None:
    h = hid()
    await engine.hold(concert, h, "u1", [7, 8], cap=8, ttl_ms=TTL)
    audit = await engine.audit(concert)
    done = await engine.repair(concert, audit, sold=[], unsold=[], orphans=[], hold_ids=[h])
    assert done.released == (h,)
    assert (await seats(engine, concert))[7:9] == "AA"
    assert await engine.get_hold(concert, h, "u1") is None
    assert await user_count(redis, concert, "u1") == 0
    again = await engine.repair(
        concert, await engine.audit(concert), sold=[], unsold=[], orphans=[], hold_ids=[h]
    )
    assert not again.changed


async def test_releasing_a_hold_never_frees_a_seat_another_hold_lists(
    engine: SeatEngine,
) -> None:
    concert = f"test-{uuid.uuid4().hex}"
    # Two holds listing seat 1 (only drift can do this): releasing one must not free it.
    holds = {"h1": {"u": "u1", "e": LATER, "s": [0, 1]}, "h2": {"u": "u2", "e": LATER, "s": [1]}}
    assert await engine.load(concert, "HHAA", holds, {"u1": 2, "u2": 1})
    done = await engine.repair(
        concert, await engine.audit(concert), sold=[], unsold=[], orphans=[], hold_ids=["h1"]
    )
    assert done.released == ("h1",)
    assert await seats(engine, concert) == "AHAA"


@pytest.mark.parametrize("ending", ["release", "expire"])
async def test_a_seat_repaired_to_s_stays_s_when_its_old_hold_ends(
    engine: SeatEngine, concert: str, ending: str
) -> None:
    """A hold lists seats 1 and 2; the store says seat 1 was sold (to another order, whose
    `sell` was lost) and reconciliation marks it S. When the hold is released or expires,
    only seat 2 may become available again."""
    h = hid()
    ttl = TTL if ending == "release" else 300
    await engine.hold(concert, h, "u1", [1, 2], cap=8, ttl_ms=ttl)
    done = await engine.repair(
        concert, await engine.audit(concert), sold=[1], unsold=[], orphans=[], hold_ids=[]
    )
    assert done.sold == (1,)
    if ending == "release":
        assert await engine.release(concert, h, "u1")
    else:
        await asyncio.sleep(0.35)
        # This call or a sweeper running in the same test session releases it.
        assert await engine.expire(concert) is not None
        assert await engine.live_holds(concert) == 0
    assert (await seats(engine, concert))[:3] == "ASA"


async def test_repairs_are_published_with_a_new_version(
    engine: SeatEngine, concert: str, redis: RedisClient
) -> None:
    await engine.sell(concert, "", "ghost", [4])
    pubsub = redis.pubsub()
    await pubsub.subscribe(concert_keys(concert)[5])
    try:
        audit = await engine.audit(concert)
        done = await engine.repair(concert, audit, sold=[2], unsold=[4], orphans=[], hold_ids=[])
        message = None
        for _ in range(50):
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
            if message is not None:
                break
        assert message is not None
        payload = json.loads(message["data"])
        assert payload == {"v": str(done.version), "c": [2, "S", 4, "A"]}
    finally:
        await pubsub.aclose()  # type: ignore[no-untyped-call,unused-ignore]


async def test_reconcile_scripts_say_not_loaded(engine: SeatEngine, concert: str) -> None:
    audit = await engine.audit(concert)
    await engine.reset(concert)
    with pytest.raises(NotLoaded):
        await engine.audit(concert)
    with pytest.raises(NotLoaded):
        await engine.repair(concert, audit, sold=[1], unsold=[], orphans=[], hold_ids=[])
