"""A periodic job loop that survives failures of its dependencies."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

log = logging.getLogger(__name__)


async def every(name: str, interval_seconds: float, job: Callable[[], Awaitable[object]]) -> None:
    """Run `job` every `interval_seconds` until cancelled; a failure is logged and retried
    after a short pause (a dependency blip must not kill the loop)."""
    log.info("job started", extra={"job": name, "interval_s": interval_seconds})
    while True:
        try:
            await job()
        except asyncio.CancelledError:
            raise
        except Exception:
            _stop_if_cancelled()
            log.warning("job failed; retrying", extra={"job": name}, exc_info=True)
            await asyncio.sleep(1.0)
        _stop_if_cancelled()
        await asyncio.sleep(interval_seconds)


def _stop_if_cancelled() -> None:
    """Some client libraries swallow a cancellation that lands mid-call (returning normally or
    raising their own error); a loop that carried on would never stop and hang shutdown."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def stop_all(tasks: Sequence[asyncio.Task[None]], grace_seconds: float = 5.0) -> None:
    """Cancel the jobs and wait for them, but never longer than the grace period: shutdown
    must not hang on a job stuck in a call that ignores cancellation."""
    for task in tasks:
        task.cancel()
    if not tasks:
        return
    _, pending = await asyncio.wait(tasks, timeout=grace_seconds)
    for task in pending:
        log.warning("job did not stop in time", extra={"job": task.get_name()})
