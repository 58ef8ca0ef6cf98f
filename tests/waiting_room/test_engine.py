"""The waiting room's Redis scripts, against real Redis, with real concurrency."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from app.platform.redis import RedisClient
from app.waiting_room.engine import QueueEngine, queue_keys

FUTURE = int(time.time() * 1000) + 3_600_000  # on-sale in an hour: joins are pre-sale
PAST = 1  # on-sale long ago: joins are first come, first served


@pytest.fixture
def engine(redis: RedisClient) -> QueueEngine:
    # Its own registry: an app's admission loop running on the same Redis (the API tests'
    # app) must not visit these queues, whose concerts it does not know.
    return QueueEngine(redis, registry=f"test:queues:{uuid.uuid4().hex}")


def _concert() -> str:
    return f"q-{uuid.uuid4().hex[:10]}"


async def _admit_one_by_one(engine: QueueEngine, concert: str, n: int) -> list[str]:
    """Admit n buyers with a bucket of one token, so the order is exactly the line's order."""
    order: list[str] = []
    deadline = time.monotonic() + 30
    while len(order) < n:
        assert time.monotonic() < deadline, f"admitted {len(order)} of {n}"
        step = await engine.admit(
            concert,
            on_sale_ms=PAST,
            per_minute=60_000_000,
            max_active=10**6,
            pass_ttl_ms=60_000,
            burst_seconds=0.000001,
        )
        order += list(step.admitted)
        if not step.admitted:
            await asyncio.sleep(0.002)  # let the bucket refill
    return order


def _spearman(order: list[str], joined: list[str]) -> float:
    n = len(joined)
    rank = {u: i for i, u in enumerate(order)}
    d2 = sum((rank[u] - i) ** 2 for i, u in enumerate(joined))
    return 1 - 6 * d2 / (n * (n * n - 1))


async def test_presale_joiners_are_admitted_in_random_order(engine: QueueEngine) -> None:
    """20 runs of 50 buyers joining in a known order before the sale: no run admits them in
    join order, and on average the admission order is unrelated to the join order."""
    correlations = []
    first_joiner_ranks = []
    for _ in range(20):
        concert = _concert()
        joined = [f"u{i:02d}" for i in range(50)]
        for user in joined:
            await engine.join(concert, user, FUTURE)
        order = await _admit_one_by_one(engine, concert, len(joined))
        assert sorted(order) == joined
        assert order != joined
        correlations.append(_spearman(order, joined))
        first_joiner_ranks.append(order.index("u00"))
        await engine.forget(concert)
    mean = sum(correlations) / len(correlations)
    assert abs(mean) < 0.2, correlations
    assert len(set(first_joiner_ranks)) > 5  # the earliest joiner lands all over the line


async def test_after_the_sale_opens_it_is_first_come_first_served(engine: QueueEngine) -> None:
    concert = _concert()
    early = [f"early{i}" for i in range(5)]
    late = [f"late{i}" for i in range(20)]
    for user in early:
        await engine.join(concert, user, FUTURE)
    for user in late:
        await engine.join(concert, user, PAST)
    order = await _admit_one_by_one(engine, concert, len(early) + len(late))
    assert sorted(order[:5]) == sorted(early)  # pre-sale joiners first, in a drawn order
    assert order[5:] == late  # then strictly in arrival order


async def test_joining_twice_keeps_the_first_place(engine: QueueEngine) -> None:
    concert = _concert()
    for user in ("a", "b", "c"):
        await engine.join(concert, user, PAST)
    again = await engine.join(concert, "a", PAST)
    assert (again.state, again.rank) == ("waiting", 0)
    assert (await engine.status(concert, "c")).rank == 2
    assert (await engine.status(concert, "nobody")).state == "none"


async def test_two_admission_loops_respect_the_rate_under_polling(engine: QueueEngine) -> None:
    """600/min with a 2 s burst, two loops stepping every 20 ms for 3 s while 200 clients
    poll: together they admit no more than one loop may (rate x time + burst)."""
    concert = _concert()
    users = [f"u{i}" for i in range(1000)]
    for user in users:
        await engine.join(concert, user, PAST)
    per_minute, seconds, burst_s = 600, 3.0, 2.0
    admitted: dict[str, int] = {}
    stop = time.monotonic() + seconds

    async def loop() -> None:
        while time.monotonic() < stop:
            step = await engine.admit(
                concert,
                on_sale_ms=PAST,
                per_minute=per_minute,
                max_active=10**6,
                pass_ttl_ms=600_000,
                burst_seconds=burst_s,
            )
            for user in step.admitted:
                assert user not in admitted  # never admitted twice
            admitted.update(step.admitted)
            await asyncio.sleep(0.02)

    async def poller(user: str) -> None:
        while time.monotonic() < stop:
            status = await engine.status(concert, user)
            assert status.state in ("waiting", "admitted")
            await asyncio.sleep(0.05)

    started = time.monotonic()
    await asyncio.gather(loop(), loop(), *(poller(u) for u in users[:200]))
    elapsed = time.monotonic() - started
    ceiling = per_minute / 60 * elapsed + per_minute / 60 * burst_s + 1
    assert len(admitted) <= ceiling, (len(admitted), ceiling)
    assert len(admitted) >= per_minute / 60 * seconds * 0.6  # and it does admit at the rate
    # Admitted in line order: the first N joiners.
    assert set(admitted) == set(users[: len(admitted)])
    await engine.forget(concert)


async def test_max_active_is_never_exceeded_and_slots_free_up(engine: QueueEngine) -> None:
    concert = _concert()
    for i in range(30):
        await engine.join(concert, f"u{i}", PAST)

    async def step(ttl_ms: int = 600_000) -> dict[str, int]:
        result = await engine.admit(
            concert, on_sale_ms=PAST, per_minute=6_000_000, max_active=5, pass_ttl_ms=ttl_ms
        )
        assert result.active <= 5
        return result.admitted

    first: dict[str, int] = {}
    for _ in range(2000):  # a fast bucket: let the steps race for the 5 slots
        results = await asyncio.gather(*(step() for _ in range(8)))
        for r in results:
            first.update(r)
        if len(first) >= 5:
            break
    assert len(first) == 5
    assert await step() == {}  # full
    # An order completes: that slot goes to the next in line.
    assert await engine.leave(concert, "u0")
    await asyncio.sleep(0.01)
    assert list(await step()) == ["u5"]
    # Passes that run out stop counting.
    await engine.forget(concert)
    concert = _concert()
    for i in range(10):
        await engine.join(concert, f"v{i}", PAST)
    got: dict[str, int] = {}
    while len(got) < 5:
        got.update(await step(ttl_ms=1000))
        assert len(got) <= 5
    await asyncio.sleep(1.1)
    later: dict[str, int] = {}
    deadline = time.monotonic() + 30
    while len(later) < 5:
        assert time.monotonic() < deadline, later
        later.update(await step(ttl_ms=1000))
    assert set(later) == {f"v{i}" for i in range(5, 10)}


async def _admit_all(engine: QueueEngine, concert: str, max_active: int = 10**6) -> list[str]:
    # The token bucket refills by Redis's clock, in whole milliseconds: a second step within
    # the same millisecond as the one before finds it empty and admits nobody (seen in CI).
    await asyncio.sleep(0.002)
    step = await engine.admit(
        concert, on_sale_ms=PAST, per_minute=6_000_000, max_active=max_active, pass_ttl_ms=60_000
    )
    return list(step.admitted)


async def _pass_of(engine: QueueEngine, concert: str, user: str) -> tuple[str, int]:
    """What the pass of an admitted buyer carries: the state's epoch and its expiry."""
    position = await engine.status(concert, user)
    assert position.state == "admitted"
    assert position.epoch
    return position.epoch, position.pass_expires_ms


async def _lose_state(redis: RedisClient, concert: str) -> None:
    """What a FLUSHALL or a failover to an empty replica does to one queue."""
    for key in queue_keys(concert):
        await redis.delete(key)


async def test_a_pass_holds_only_while_its_holder_is_active(engine: QueueEngine) -> None:
    """Issue 16, item 7: one slot; the first buyer's order frees it for the second, and the
    first buyer's pass no longer lets them shop."""
    concert = _concert()
    for user in ("u0", "u1"):
        await engine.join(concert, user, PAST)
    assert await _admit_all(engine, concert, max_active=1) == ["u0"]
    epoch, expires = await _pass_of(engine, concert, "u0")
    assert await engine.check(concert, "u0", epoch=epoch, expires_ms=expires) == "active"
    assert await engine.leave(concert, "u0")  # order confirmed
    assert await engine.check(concert, "u0", epoch=epoch, expires_ms=expires) == "freed"
    assert await _admit_all(engine, concert, max_active=1) == ["u1"]
    assert await engine.check(concert, "u0", epoch=epoch, expires_ms=expires) == "freed"
    assert await engine.check(concert, "u1", epoch="", expires_ms=expires) == "active"
    past = int(time.time() * 1000) - 1000
    assert await engine.check(concert, "u1", epoch=epoch, expires_ms=past) == "expired"
    assert (await engine.stats(concert)).active == 1
    await engine.forget(concert)


async def test_a_pass_from_before_a_loss_is_restored_once(
    engine: QueueEngine, redis: RedisClient
) -> None:
    concert = _concert()
    await engine.join(concert, "u0", PAST)
    assert await _admit_all(engine, concert) == ["u0"]
    epoch, expires = await _pass_of(engine, concert, "u0")
    await _lose_state(redis, concert)
    # The pass predates the loss: its holder is admitted again until the pass's expiry (or,
    # asked not to restore, the script says so and changes nothing).
    lost = await engine.check(concert, "u0", epoch=epoch, expires_ms=expires, restore=False)
    assert lost == "lost"
    assert (await engine.stats(concert)).active == 0
    assert await engine.check(concert, "u0", epoch=epoch, expires_ms=expires) == "restored"
    assert (await engine.stats(concert)).active == 1
    new_epoch, new_expires = await _pass_of(engine, concert, "u0")
    assert (new_epoch != epoch, new_expires) == (True, expires)
    assert await engine.check(concert, "u0", epoch=epoch, expires_ms=expires) == "active"
    # Freed after the restore: neither the old pass nor the one issued since works again.
    assert await engine.leave(concert, "u0")
    assert await engine.check(concert, "u0", epoch=epoch, expires_ms=expires) == "freed"
    assert await engine.check(concert, "u0", epoch=new_epoch, expires_ms=expires) == "freed"
    # A pass without an epoch (from before epochs existed) is never restored.
    await engine.join(concert, "u1", PAST)
    assert await _admit_all(engine, concert) == ["u1"]
    _, expires = await _pass_of(engine, concert, "u1")
    await _lose_state(redis, concert)
    assert await engine.check(concert, "u1", epoch="", expires_ms=expires) == "inactive"
    await engine.forget(concert)


async def test_a_freed_slot_stays_freed_across_a_later_loss(
    engine: QueueEngine, redis: RedisClient
) -> None:
    """Admitted before a loss, admitted again after it (re-joined), order confirmed: the pass
    from before the loss must not bring the slot back."""
    concert = _concert()
    await engine.join(concert, "u0", PAST)
    assert await _admit_all(engine, concert) == ["u0"]
    old_epoch, old_expires = await _pass_of(engine, concert, "u0")
    await _lose_state(redis, concert)
    await engine.join(concert, "u0", PAST)
    assert await _admit_all(engine, concert) == ["u0"]
    assert await engine.leave(concert, "u0")
    assert await engine.check(concert, "u0", epoch=old_epoch, expires_ms=old_expires) == "freed"
    assert (await engine.stats(concert)).active == 0
    await engine.forget(concert)


async def test_an_admission_a_lagging_replica_lost_is_restored(
    engine: QueueEngine, redis: RedisClient
) -> None:
    """A failover to a replica that had not caught up: the same epoch, but the admission and
    the horizon it set are missing, and the buyer is back in the line."""
    concert = _concert()
    await engine.join(concert, "u0", PAST)
    assert await _admit_all(engine, concert) == ["u0"]
    epoch, expires = await _pass_of(engine, concert, "u0")
    line, admitted, meta, _ = queue_keys(concert)
    await redis.zrem(admitted, "u0")
    await redis.zadd(line, {"u0": 1})
    await redis.hset(meta, "horizon", str(expires - 1))
    assert await engine.check(concert, "u0", epoch=epoch, expires_ms=expires) == "restored"
    assert await redis.zscore(line, "u0") is None  # one slot, not a slot and a place
    assert (await engine.status(concert, "u0")).state == "admitted"
    await engine.forget(concert)


async def test_a_queue_is_registered_again_after_a_loss(
    engine: QueueEngine, redis: RedisClient
) -> None:
    """Issue 16, item 13: the first join after Redis lost the queue registers it again at once
    (the admission loop visits only registered queues), and a line whose registry entry alone
    was lost is found again from the concert ids the store lists."""
    concert, empty = _concert(), _concert()
    await engine.join(concert, "u0", FUTURE)
    assert concert in await engine.active_queues()
    await _lose_state(redis, concert)
    await redis.srem(engine.registry, concert)  # the registry is lost too
    await engine.join(concert, "u0", FUTURE)
    assert concert in await engine.active_queues()
    await engine.forget(empty)
    await redis.srem(engine.registry, concert)  # only the registry is lost
    assert await engine.rediscover([empty, concert]) == [concert]
    assert concert in await engine.active_queues()
    assert await engine.rediscover([empty, concert]) == []
    await engine.forget(concert)


async def test_a_pass_the_store_says_was_used_is_forfeited(
    engine: QueueEngine, redis: RedisClient
) -> None:
    """After a loss Redis no longer knows the slot was freed; the service asks the store and
    forfeits the pass, which is then refused without asking again."""
    concert = _concert()
    await engine.join(concert, "u0", PAST)
    assert await _admit_all(engine, concert) == ["u0"]
    epoch, expires = await _pass_of(engine, concert, "u0")
    await _lose_state(redis, concert)
    await engine.forfeit(concert, "u0", expires)
    assert await engine.check(concert, "u0", epoch=epoch, expires_ms=expires) == "freed"
    assert (await engine.stats(concert)).active == 0
    await engine.forget(concert)
