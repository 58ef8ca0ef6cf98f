from __future__ import annotations

import asyncio

from app.workers.loop import every, stop_all


async def test_a_job_that_swallows_cancellation_still_stops() -> None:
    """Client libraries sometimes eat a CancelledError mid-call; the loop must stop anyway."""
    calls = 0

    async def swallowing_job() -> None:
        nonlocal calls
        calls += 1
        try:
            await asyncio.sleep(0.05)
        except asyncio.CancelledError:
            return  # the bad habit under test

    task = asyncio.create_task(every("swallower", 0.01, swallowing_job))
    await asyncio.sleep(0.12)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await stop_all([task], grace_seconds=3)
    assert task.done()
    assert loop.time() - started < 1
    assert calls >= 2


async def test_a_failing_job_keeps_running() -> None:
    calls = 0

    async def failing_job() -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError("dependency down")

    task = asyncio.create_task(every("failing", 0.01, failing_job))
    await asyncio.sleep(1.2)  # failures pause 1 s before the next try
    await stop_all([task])
    assert task.done()
    assert calls == 2
