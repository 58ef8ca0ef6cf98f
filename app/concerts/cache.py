"""In-process cache of concert metadata.

Concert metadata is read on every seat-map read and hold, and changes rarely. Each process keeps
a copy for a short TTL; a change made by this process drops its copy at once, other processes
see it within the TTL.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from app.storage.records import Concert

Loader = Callable[[str], Awaitable[Concert | None]]


class ConcertCache:
    def __init__(self, ttl_seconds: float, max_entries: int = 10_000) -> None:
        self._ttl = ttl_seconds
        self._max = max_entries
        self._entries: dict[str, tuple[float, Concert]] = {}
        self._loading: dict[str, asyncio.Future[Concert | None]] = {}

    async def get(self, concert_id: str, load: Loader) -> Concert | None:
        hit = self._entries.get(concert_id)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        # One load per concert at a time: when an entry expires mid on-sale, hundreds of
        # requests would otherwise all reload a 50,000-seat layout at once.
        pending = self._loading.get(concert_id)
        if pending is None:
            pending = asyncio.ensure_future(self._load(concert_id, load))
            self._loading[concert_id] = pending
            pending.add_done_callback(lambda _: self._loading.pop(concert_id, None))
        return await asyncio.shield(pending)

    async def _load(self, concert_id: str, load: Loader) -> Concert | None:
        concert = await load(concert_id)
        if concert is None:
            self._entries.pop(concert_id, None)
        else:
            self.put(concert)
        return concert

    def put(self, concert: Concert, now: float | None = None) -> None:
        if self._ttl <= 0:
            return
        if len(self._entries) >= self._max:
            self._entries.clear()  # crude but bounded; a cache miss only costs one store read
        self._entries[concert.id] = ((now or time.monotonic()) + self._ttl, concert)

    def drop(self, concert_id: str) -> None:
        self._entries.pop(concert_id, None)
