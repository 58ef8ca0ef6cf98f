"""Group commit: concurrent callers' small Redis writes sent together, one round trip a batch.

On the hot path every request makes a few tiny Redis calls that do not depend on each other
across requests: its rate-limit windows, its domain events. redis-py's client-side work per
command (connection checkout, a timeout context, packing, parsing) costs more CPU than Redis
spends running it (docs/performance.md, "Figures moved out of code comments"). `GroupCommit`
lets each caller `await submit(item)` as if it made its own call, while at most one flush per
process is in flight: what arrives during a flush waits for the next one and goes out with
everyone else's in a single call. With one request at a time this is one call per request, as
before (plus one event-loop hop); under a stampede the batch grows with the load and the
per-request cost falls (docs/performance.md).

Each caller still sees its own outcome when its item is written (or the flush's error), so
the semantics of the call it replaces do not change. A caller that gives up (a timeout
cancels its `submit`) leaves its item in the batch; its result is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence, Sized
from typing import Generic, TypeVar

__all__ = ["GroupCommit", "regroup"]

T = TypeVar("T")
R = TypeVar("R")

Flush = Callable[[Sequence[T]], Awaitable[Sequence[R]]]


class GroupCommit(Generic[T, R]):
    """`flush(items)` writes a batch and returns one result per item, in order; it is called
    with at most `max_batch` items, never twice at the same time."""

    def __init__(self, flush: Flush[T, R], *, max_batch: int = 256) -> None:
        self._flush = flush
        self._max_batch = max_batch
        self._waiting: list[tuple[T, asyncio.Future[R]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> R:
        return await self.submit_nowait(item)

    def submit_nowait(self, item: T) -> asyncio.Future[R]:
        """Queue the item for the next flush; its result (or the flush's error) arrives in the
        returned future, which nobody has to await."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._waiting.append((item, future))
        flusher = self._flusher
        # A flusher of another (closed) event loop is gone for good: start one on this loop.
        if flusher is None or flusher.done() or flusher.get_loop() is not loop:
            if flusher is not None and flusher.get_loop() is not loop:
                self._waiting = [(i, f) for i, f in self._waiting if f.get_loop() is loop]
            self._flusher = asyncio.create_task(self._run())
        return future

    async def drain(self) -> None:
        """Wait until everything submitted so far has been flushed (shutdown, tests)."""
        while self._flusher is not None:
            await asyncio.shield(self._flusher)

    async def _run(self) -> None:
        try:
            while self._waiting:
                batch = self._waiting[: self._max_batch]
                del self._waiting[: self._max_batch]
                await self._send(batch)
        except asyncio.CancelledError:  # the loop is shutting down: nobody is left hanging
            for _, future in self._waiting:
                future.cancel()
            self._waiting.clear()
            raise
        finally:
            # Closed with its event loop gone (no current task to ask for): a later submit
            # replaces it anyway.
            with contextlib.suppress(RuntimeError):
                if self._flusher is asyncio.current_task():
                    self._flusher = None

    async def _send(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            results = await self._flush([item for item, _ in batch])
        except asyncio.CancelledError:
            for _, future in batch:
                future.cancel()
            raise
        except Exception as exc:  # every caller of this batch gets the flush's error
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)


def regroup(groups: Sequence[Sized], flat: Sequence[R]) -> list[list[R]]:
    """Split the results of a flattened batch back into one list per group, in order."""
    out: list[list[R]] = []
    start = 0
    for group in groups:
        out.append(list(flat[start : start + len(group)]))
        start += len(group)
    return out
