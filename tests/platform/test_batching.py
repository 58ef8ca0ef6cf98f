"""GroupCommit (app/platform/batching.py): one flush in flight, batches that grow with the
load, each caller its own result or the flush's error, nobody left waiting."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Sequence

import pytest

from app.platform.batching import GroupCommit, regroup


class Recorder:
    def __init__(self, delay: float = 0.01, fail_on: int | None = None) -> None:
        self.batches: list[list[int]] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self.delay = delay
        self.fail_on = fail_on

    async def flush(self, items: Sequence[int]) -> list[int]:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
            if self.fail_on is not None and self.fail_on in items:
                raise ConnectionError("down")
            self.batches.append(list(items))
            return [item * 10 for item in items]
        finally:
            self.in_flight -= 1


async def test_concurrent_callers_share_flushes_and_get_their_own_results() -> None:
    recorder = Recorder()
    commit: GroupCommit[int, int] = GroupCommit(recorder.flush, max_batch=64)
    results = await asyncio.gather(*(commit.submit(n) for n in range(500)))
    assert results == [n * 10 for n in range(500)]
    assert recorder.most_in_flight == 1
    flushed = [item for batch in recorder.batches for item in batch]
    assert sorted(flushed) == list(range(500))  # each item exactly once
    assert len(recorder.batches) < 500
    assert max(map(len, recorder.batches)) <= 64
    assert flushed == list(range(500))  # in submission order


async def test_a_lone_caller_is_flushed_at_once() -> None:
    recorder = Recorder(delay=0)
    commit: GroupCommit[int, int] = GroupCommit(recorder.flush)
    for n in range(3):
        assert await commit.submit(n) == n * 10
    assert recorder.batches == [[0], [1], [2]]


async def test_a_failed_flush_fails_its_callers_only() -> None:
    recorder = Recorder(fail_on=7)
    commit: GroupCommit[int, int] = GroupCommit(recorder.flush, max_batch=5)
    results = await asyncio.gather(*(commit.submit(n) for n in range(15)), return_exceptions=True)
    failed = [n for n, r in enumerate(results) if isinstance(r, ConnectionError)]
    assert failed == [5, 6, 7, 8, 9]  # the batch holding 7
    assert [r for r in results if not isinstance(r, BaseException)] == [
        n * 10 for n in range(15) if n not in failed
    ]
    assert await commit.submit(1) == 10  # and the next flush works


async def test_a_caller_that_gives_up_does_not_disturb_the_others() -> None:
    recorder = Recorder(delay=0.05)
    commit: GroupCommit[int, int] = GroupCommit(recorder.flush)
    quitter = asyncio.ensure_future(asyncio.wait_for(commit.submit(1), timeout=0.01))
    stayer = asyncio.ensure_future(commit.submit(2))
    with pytest.raises(TimeoutError):
        await quitter
    assert await stayer == 20
    await commit.drain()


async def test_drain_waits_for_everything_submitted() -> None:
    recorder = Recorder(delay=0.02)
    commit: GroupCommit[int, int] = GroupCommit(recorder.flush)
    pending = [asyncio.ensure_future(commit.submit(n)) for n in range(10)]
    await asyncio.sleep(0)
    await commit.drain()
    assert sorted(i for b in recorder.batches for i in b) == list(range(10))
    assert all(p.done() for p in pending)


def test_regroup_splits_flat_results_per_group() -> None:
    assert regroup([(1, 2), (), (3,)], ["a", "b", "c"]) == [["a", "b"], [], ["c"]]


def test_a_batcher_outlives_its_first_event_loop() -> None:
    """A flush left behind by a loop that was shut down does not block the next loop."""
    recorder = Recorder(delay=0.2)
    commit: GroupCommit[int, int] = GroupCommit(recorder.flush)

    async def abandon() -> None:
        asyncio.ensure_future(commit.submit(1))
        await asyncio.sleep(0.01)  # the flush has started; the loop ends under it

    async def later() -> int:
        return await asyncio.wait_for(commit.submit(2), timeout=2)

    quiet = logging.getLogger("asyncio")
    quiet.disabled = True  # "Task was destroyed but it is pending": the point of this test
    try:
        loop = asyncio.new_event_loop()
        loop.run_until_complete(abandon())
        loop.close()  # its pending tasks are dropped, not finished
        assert asyncio.run(later()) == 20
        gc.collect()
    finally:
        quiet.disabled = False
