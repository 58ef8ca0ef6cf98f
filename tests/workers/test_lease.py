"""The Redis lease and singleton jobs, against a real Redis: one holder at a time, failover."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable

from app.platform.redis import RedisClient
from app.workers.lease import Lease, Singleton, lease_key


def name() -> str:
    return f"test-{uuid.uuid4().hex[:10]}"


async def test_take_renew_release_only_by_the_owner(redis: RedisClient) -> None:
    n = name()
    mine, theirs = Lease(redis, n, 5), Lease(redis, n, 5)
    assert await mine.acquire()
    assert await mine.acquire()  # already ours: renewed
    assert not await theirs.acquire()
    assert not await theirs.renew()
    assert not await theirs.release()
    assert await mine.holder() == mine.token
    assert await mine.renew()
    assert 4000 < await redis.pttl(lease_key(n)) <= 5000
    assert await mine.release()
    assert not await mine.release()
    assert await theirs.acquire()
    assert not await mine.renew()  # lost: renewing must not steal it back


async def test_a_lapsed_lease_can_be_taken_and_not_renewed_by_the_old_holder(
    redis: RedisClient,
) -> None:
    n = name()
    old, new = Lease(redis, n, 0.2), Lease(redis, n, 5)
    assert await old.acquire()
    await asyncio.sleep(0.3)
    assert await new.acquire()
    assert not await old.renew()
    assert await new.holder() == new.token


def test_lease_keys_are_one_hash_slot_each() -> None:
    assert lease_key("reconciliation") == "encore:lease:{reconciliation}"


class Probe:
    """A job that records who ran it and when, and whether two runs ever overlapped."""

    def __init__(self, duration: float = 0.05) -> None:
        self.inside: set[str] = set()
        self.overlaps = 0
        self.runs: list[str] = []
        self.cancelled: list[str] = []
        self.duration = duration

    def job(self, who: str) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            if self.inside:
                self.overlaps += 1
            self.inside.add(who)
            self.runs.append(who)
            try:
                await asyncio.sleep(self.duration)
            except asyncio.CancelledError:
                self.cancelled.append(who)
                raise
            finally:
                self.inside.discard(who)

        return run


async def wait_until(condition: Callable[[], object], within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_two_loops_never_run_the_job_at_once_and_fail_over_on_stop(
    redis: RedisClient,
) -> None:
    n, probe = name(), Probe()
    a = Singleton(redis, n, 0.01, probe.job("a"), lease_ttl_seconds=0.6)
    b = Singleton(redis, n, 0.01, probe.job("b"), lease_ttl_seconds=0.6)
    task_a = asyncio.create_task(a.run())
    await wait_until(lambda: probe.runs)  # a leads
    task_b = asyncio.create_task(b.run())
    await asyncio.sleep(1.5)  # several lease renewals: the leader keeps it
    assert set(probe.runs) == {"a"}
    assert len(probe.runs) > 10
    assert probe.overlaps == 0

    await stop(task_a)  # a clean stop releases the lease: b takes over within a poll
    stopped_at = time.monotonic()
    await wait_until(lambda: probe.runs[-1] == "b")
    assert time.monotonic() - stopped_at < 0.6
    await asyncio.sleep(0.3)
    await stop(task_b)
    assert probe.overlaps == 0
    assert await redis.get(lease_key(n)) is None


async def test_a_crashed_holder_is_replaced_once_its_lease_lapses(redis: RedisClient) -> None:
    n, probe = name(), Probe()
    a = Singleton(redis, n, 0.01, probe.job("a"), lease_ttl_seconds=0.6)
    b = Singleton(redis, n, 0.01, probe.job("b"), lease_ttl_seconds=0.6)

    async def vanish() -> bool:  # a killed process gives nothing back
        return True

    a.lease.release = vanish  # type: ignore[method-assign]
    task_a = asyncio.create_task(a.run())
    await wait_until(lambda: probe.runs)
    task_b = asyncio.create_task(b.run())
    await stop(task_a)
    crashed_at = time.monotonic()
    await wait_until(lambda: "b" in probe.runs, within=3)
    # Not before the lease lapsed (0.6 s), soon after (a poll is 0.2 s).
    assert 0.3 < time.monotonic() - crashed_at < 1.2
    await stop(task_b)
    assert probe.overlaps == 0


async def test_losing_the_lease_cancels_the_running_job_at_once(redis: RedisClient) -> None:
    n, probe = name(), Probe(duration=10)
    a = Singleton(redis, n, 0.01, probe.job("a"), lease_ttl_seconds=0.6)
    task = asyncio.create_task(a.run())
    await wait_until(lambda: probe.inside)
    await redis.set(lease_key(n), "someone else", px=5000)  # e.g. it lapsed during a pause
    taken_at = time.monotonic()
    await wait_until(lambda: not probe.inside)
    assert probe.cancelled == ["a"]
    assert time.monotonic() - taken_at < 0.5  # at the next renewal (every 0.2 s)
    await asyncio.sleep(0.3)
    assert probe.runs == ["a"]  # and it does not run again while another holds the lease
    await stop(task)
    assert await redis.get(lease_key(n)) == b"someone else"  # not ours to release


async def test_a_failing_job_keeps_the_lease_and_runs_again(redis: RedisClient) -> None:
    n, calls = name(), 0

    async def failing() -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError("store down")

    task = asyncio.create_task(Singleton(redis, n, 0.05, failing, lease_ttl_seconds=0.6).run())
    await wait_until(lambda: calls >= 3)
    await stop(task)
