"""A periodic job loop that survives failures of its dependencies."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

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
            log.warning("job failed; retrying", extra={"job": name}, exc_info=True)
            await asyncio.sleep(1.0)
        await asyncio.sleep(interval_seconds)
