"""The consumer group: shared work, no duplicates, dead consumers' entries taken over."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import pytest

from app.events.consumer import BatchFailed, EventConsumer
from app.events.publisher import EventPublisher
from app.events.schemas import DomainEvent, OrderConfirmed, SeatReleased, from_fields
from app.platform.redis import RedisClient, build_redis
from tests.events.conftest import eventually, raw_entries
from tests.storage.factories import make_order

GROUP = "test-group"


def released(n: int) -> SeatReleased:
    return SeatReleased(
        concert_id="c1", hold_id=f"c1.h{n}", user_id="u1", seat_ids=["A-1"], reason="expired"
    )


class Recorder:
    """A handler that records what it handled (and can be told to fail)."""

    def __init__(self, fail: bool = False) -> None:
        self.handled: list[DomainEvent] = []
        self.fail = fail

    async def __call__(self, event: DomainEvent) -> None:
        if self.fail:
            raise RuntimeError("handler down")
        self.handled.append(event)

    @property
    def ids(self) -> list[str]:
        return [e.id or "" for e in self.handled]


def consumer(
    redis: RedisClient,
    stream: str,
    handler: Recorder,
    name: str,
    *,
    block_ms: int = 10,
    claim_min_idle_ms: int = 100,
    max_deliveries: int = 5,
    prune_idle_ms: int = 3_600_000,
    dead_letter: str | None = None,
) -> EventConsumer:
    return EventConsumer(
        redis,
        stream=stream,
        group=GROUP,
        handler=handler,
        name=name,
        block_ms=block_ms,
        count=3,
        claim_min_idle_ms=claim_min_idle_ms,
        max_deliveries=max_deliveries,
        prune_idle_ms=prune_idle_ms,
        dead_letter=dead_letter,
    )


@pytest.fixture
async def publisher(redis: RedisClient, stream: str) -> AsyncIterator[EventPublisher]:
    yield EventPublisher(redis, stream, maxlen=10_000)
    await redis.delete(stream)


async def pending(redis: RedisClient, stream: str) -> int:
    return int((await redis.xpending(stream, GROUP))["pending"])


async def test_creating_the_group_is_idempotent_and_starts_at_new_entries(
    redis: RedisClient, stream: str, publisher: EventPublisher
) -> None:
    await publisher.publish(released(0))  # before the group: not for it
    one = consumer(redis, stream, Recorder(), "one")
    await one.ensure_group()
    await one.ensure_group()
    await consumer(redis, stream, Recorder(), "two").ensure_group()
    groups = await redis.xinfo_groups(stream)
    assert [g["name"] for g in groups] == [GROUP.encode()]
    assert await one.read_new() == 0


async def test_two_consumers_share_the_entries_without_duplicates(
    redis: RedisClient, stream: str, publisher: EventPublisher
) -> None:
    first, second = Recorder(), Recorder()
    a = consumer(redis, stream, first, "a")
    b = consumer(redis, stream, second, "b")
    await a.ensure_group()
    ids = await publisher.publish(*(released(n) for n in range(20)))
    while len(first.handled) + len(second.handled) < 20:
        assert await a.read_new() + await b.read_new() > 0
    assert first.handled
    assert second.handled
    assert not set(first.ids) & set(second.ids)
    assert sorted(first.ids + second.ids) == sorted(ids)
    assert await pending(redis, stream) == 0
    assert await a.read_new() + await b.read_new() == 0


async def test_a_dead_consumers_entries_are_taken_over(
    redis: RedisClient, stream: str, publisher: EventPublisher
) -> None:
    survivor = Recorder()
    # Idle for a second before reclaiming: long enough that the "not yet" check below holds on
    # a loaded machine.
    live = consumer(redis, stream, survivor, "live", claim_min_idle_ms=1000)
    await live.ensure_group()
    ids = await publisher.publish(*(released(n) for n in range(5)))
    # "dead" reads them and dies before acknowledging.
    await redis.xreadgroup(GROUP, "dead", {stream: ">"}, count=10)
    assert await pending(redis, stream) == 5
    assert await live.read_new() == 0  # nothing new for the group
    assert await live.reclaim() == 0  # not idle long enough yet: "dead" may be slow, not dead
    await asyncio.sleep(1.1)
    assert await live.reclaim() == 5
    assert survivor.ids == ids
    assert await pending(redis, stream) == 0
    # Handled and acknowledged: never delivered again, to anyone.
    await asyncio.sleep(1.1)
    assert await live.reclaim() == 0
    late = Recorder()
    newcomer = consumer(redis, stream, late, "newcomer")
    assert await newcomer.read_new() == 0
    assert await newcomer.reclaim() == 0
    assert late.handled == []


async def test_a_failing_handler_leaves_the_entry_pending_until_it_succeeds(
    redis: RedisClient, stream: str, publisher: EventPublisher
) -> None:
    handler = Recorder(fail=True)
    worker = consumer(redis, stream, handler, "w")
    await worker.ensure_group()
    [entry_id] = await publisher.publish(released(1))
    assert await worker.read_new() == 0
    assert await pending(redis, stream) == 1
    handler.fail = False
    await asyncio.sleep(0.15)
    assert await worker.reclaim() == 1
    assert handler.ids == [entry_id]
    assert await pending(redis, stream) == 0


async def test_an_entry_that_keeps_failing_is_given_up(
    redis: RedisClient, stream: str, publisher: EventPublisher
) -> None:
    handler = Recorder(fail=True)
    worker = consumer(redis, stream, handler, "w", claim_min_idle_ms=10, max_deliveries=3)
    await worker.ensure_group()
    await publisher.publish(released(1))
    await worker.read_new()  # delivery 1
    for _ in range(5):
        await asyncio.sleep(0.03)
        await worker.reclaim()  # deliveries 2, 3, then given up
        if await pending(redis, stream) == 0:
            break
    assert await pending(redis, stream) == 0
    assert handler.handled == []


async def test_an_entry_given_up_goes_to_the_dead_letter_stream_as_it_was(
    redis: RedisClient, stream: str, publisher: EventPublisher
) -> None:
    dead = f"{stream}:dead"
    handler = Recorder(fail=True)
    worker = consumer(
        redis, stream, handler, "w", claim_min_idle_ms=10, max_deliveries=2, dead_letter=dead
    )
    await worker.ensure_group()
    [entry_id] = await publisher.publish(released(1))
    try:
        await worker.read_new()  # delivery 1
        for _ in range(5):
            await asyncio.sleep(0.03)
            await worker.reclaim()  # delivery 2, then given up
            if await pending(redis, stream) == 0:
                break
        assert await pending(redis, stream) == 0
        [(_, original)] = await raw_entries(redis, stream)
        [(_, buried)] = await raw_entries(redis, dead)
        assert buried == {
            **original,
            b"group": GROUP.encode(),
            b"entry_id": entry_id.encode(),
            b"deliveries": b"3",
        }
        # Added back once the cause is fixed, it is handled like any new entry.
        handler.fail = False
        [again] = await publisher.publish(from_fields("0-1", original))
        assert await worker.read_new() == 1
        assert handler.ids == [again]
    finally:
        await redis.delete(dead)


async def test_unreadable_entries_are_acknowledged_and_skipped(
    redis: RedisClient, stream: str, publisher: EventPublisher
) -> None:
    handler = Recorder()
    worker = consumer(redis, stream, handler, "w")
    await worker.ensure_group()
    await redis.xadd(stream, {"v": "1", "type": "seat.held", "data": "{broken"})
    await redis.xadd(stream, {"v": "9", "type": "seat.held", "data": "{}"})
    [good] = await publisher.publish(released(1))
    assert await worker.read_new() == 3
    assert handler.ids == [good]
    assert await pending(redis, stream) == 0


async def test_entries_of_other_types_are_acknowledged_unread(
    redis: RedisClient, stream: str, publisher: EventPublisher
) -> None:
    """A group that acts on some types only (the order-driven groups, under a stampede of
    seat.held): the others are acknowledged without being decoded or handed to the handler."""
    handler = Recorder()
    worker = EventConsumer(
        redis, stream=stream, group=GROUP, handler=handler, name="w", block_ms=10,
        types=frozenset({"order.confirmed"}),
    )  # fmt: skip
    await worker.ensure_group()
    await publisher.publish(released(1))
    await redis.xadd(stream, {"v": "1", "type": "seat.held", "data": "{not even JSON"})
    order = make_order(payment_intent_id="pi_1")
    [wanted] = await publisher.publish(OrderConfirmed.of(order, ticket_ids=["t1"]))
    await publisher.publish(released(2))
    assert await worker.read_new() == 4
    assert handler.ids == [wanted]
    assert isinstance(handler.handled[0], OrderConfirmed)
    assert await pending(redis, stream) == 0


async def test_idle_consumers_with_nothing_pending_are_removed(
    redis: RedisClient, stream: str, publisher: EventPublisher
) -> None:
    # Claims only after a minute: on a busy machine 100 ms pass before `reclaim`, which then
    # took "gone-with-work"'s entry, left it with nothing pending and pruned it (a flake).
    worker = consumer(redis, stream, Recorder(), "w", prune_idle_ms=50, claim_min_idle_ms=60_000)
    await worker.ensure_group()
    await redis.xreadgroup(GROUP, "gone", {stream: ">"}, count=1)  # joins, reads nothing
    await publisher.publish(released(1))
    await redis.xreadgroup(GROUP, "gone-with-work", {stream: ">"}, count=1)
    await asyncio.sleep(0.08)
    await worker.reclaim()  # below claim_min_idle: "gone-with-work" keeps its entry
    names = {c["name"] for c in await redis.xinfo_consumers(stream, GROUP)}
    assert b"gone" not in names
    assert b"gone-with-work" in names


async def test_run_recreates_a_deleted_stream_and_keeps_consuming(
    redis: RedisClient, stream: str, publisher: EventPublisher
) -> None:
    handler = Recorder()
    task = asyncio.create_task(consumer(redis, stream, handler, "w", block_ms=50).run())
    try:

        async def group_exists() -> bool:
            return bool(await redis.exists(stream)) and bool(await redis.xinfo_groups(stream))

        await eventually(group_exists)
        [first] = await publisher.publish(released(1))
        await eventually(lambda: _handled(handler, first))
        await redis.delete(stream)  # FLUSHALL, a failover to an empty replica...
        await eventually(group_exists)
        [second] = await publisher.publish(released(2))
        await eventually(lambda: _handled(handler, second))
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def _handled(handler: Recorder, entry_id: str) -> bool:
    return entry_id in handler.ids


async def test_run_survives_redis_being_unreachable_and_stops_when_cancelled(
    stream: str,
) -> None:
    broken = build_redis("redis://127.0.0.1:1/0", timeout=0.2)
    task = asyncio.create_task(consumer(broken, stream, Recorder(), "w").run())
    try:
        await asyncio.sleep(1.0)
        assert not task.done()  # retrying with backoff, not dead
        task.cancel()
        done, _ = await asyncio.wait([task], timeout=2)
        assert done
        assert task.cancelled()
    finally:
        task.cancel()
        await broken.aclose()


class BatchRecorder:
    """A batch handler: records each call's events; fails those in `refuse` (or all)."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.refuse: set[str] = set()
        self.down = False

    async def __call__(self, events: Sequence[DomainEvent]) -> None:
        self.calls.append([e.id or "" for e in events])
        if self.down:
            raise RuntimeError("handler down")
        failed = self.refuse & {e.id or "" for e in events}
        if failed:
            raise BatchFailed(failed, "refused")


def batch_consumer(redis: RedisClient, stream: str, handler: BatchRecorder) -> EventConsumer:
    return EventConsumer(
        redis,
        stream=stream,
        group=GROUP,
        batch_handler=handler,
        name="b",
        block_ms=10,
        count=10,
        claim_min_idle_ms=100,
    )


async def test_a_batch_handler_gets_a_read_at_once_and_only_what_it_names_stays_pending(
    redis: RedisClient, stream: str, publisher: EventPublisher
) -> None:
    handler = BatchRecorder()
    worker = batch_consumer(redis, stream, handler)
    await worker.ensure_group()
    ids = await publisher.publish(*(released(n) for n in range(4)))
    handler.refuse = {ids[1]}
    assert await worker.read_new() == 3
    assert handler.calls == [ids]
    [row] = await redis.xpending_range(stream, GROUP, min="-", max="+", count=10)
    assert row["message_id"] == ids[1].encode()

    handler.refuse = set()
    await asyncio.sleep(0.15)
    assert await worker.reclaim() == 1
    assert handler.calls[-1] == [ids[1]]
    assert await pending(redis, stream) == 0


async def test_a_batch_handler_that_raises_leaves_the_whole_batch_pending(
    redis: RedisClient, stream: str, publisher: EventPublisher
) -> None:
    handler = BatchRecorder()
    handler.down = True
    worker = batch_consumer(redis, stream, handler)
    await worker.ensure_group()
    await publisher.publish(*(released(n) for n in range(3)))
    assert await worker.read_new() == 0
    assert await pending(redis, stream) == 3


def test_a_consumer_takes_one_kind_of_handler(redis: RedisClient, stream: str) -> None:
    with pytest.raises(ValueError, match="either a handler or a batch handler"):
        EventConsumer(redis, stream=stream, group=GROUP)
    with pytest.raises(ValueError, match="either a handler or a batch handler"):
        EventConsumer(
            redis, stream=stream, group=GROUP, handler=Recorder(), batch_handler=BatchRecorder()
        )
