"""In-process cache of concert metadata.

Concert metadata is read on every seat-map read and hold, and changes rarely. Each process keeps
a copy for a short TTL; a change made by this process drops its copy at once, other processes
see it within the TTL (plus one reload).

Stale while revalidate: once a copy is older than the TTL, the next request starts one reload
in the background and is answered from the copy it has; requests never queue behind a reload
of a 50,000-seat layout in the middle of an on-sale (the p99 spikes every TTL seconds of
bench/openloop.py, docs/performance.md). Only a concert this process has no copy of (or a copy
more than `max_stale_seconds` old) is loaded while the request waits, once for all of them.

A reload first asks the store for the concert's version alone (`versions`, when given): every
change bumps it, so an unchanged version keeps the copy for another TTL, and the layout is read
and decoded again only when it did change. Decoding a stadium's layout stalled each worker's
event loop every TTL (docs/performance.md, "Figures moved out of code comments").
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from app.storage.records import Concert

Loader = Callable[[str], Awaitable[Concert | None]]
VersionLoader = Callable[[str], Awaitable[int | None]]

log = logging.getLogger(__name__)


class ConcertCache:
    def __init__(
        self,
        ttl_seconds: float,
        max_entries: int = 10_000,
        max_stale_seconds: float = 60.0,
        versions: VersionLoader | None = None,
    ) -> None:
        self._ttl = ttl_seconds
        self._versions = versions
        self._max = max_entries
        self._max_stale = max(max_stale_seconds, ttl_seconds)
        self._entries: dict[str, tuple[float, Concert]] = {}  # id -> (loaded at, concert)
        self._loading: dict[str, asyncio.Future[Concert | None]] = {}

    async def get(self, concert_id: str, load: Loader) -> Concert | None:
        hit = self._entries.get(concert_id)
        if hit is not None:
            age = time.monotonic() - hit[0]
            if age < self._ttl:
                return hit[1]
            if age < self._max_stale:
                self._refresh(concert_id, load)
                return hit[1]
        return await asyncio.shield(self._refresh(concert_id, load))

    def _refresh(self, concert_id: str, load: Loader) -> asyncio.Future[Concert | None]:
        """One load per concert at a time: when an entry expires mid on-sale, hundreds of
        requests would otherwise all reload a 50,000-seat layout at once."""
        pending = self._loading.get(concert_id)
        if pending is None:
            pending = asyncio.ensure_future(self._load(concert_id, load))
            self._loading[concert_id] = pending
            pending.add_done_callback(lambda done: self._loaded(concert_id, done))
        return pending

    def _loaded(self, concert_id: str, done: asyncio.Future[Concert | None]) -> None:
        self._loading.pop(concert_id, None)
        if not done.cancelled() and done.exception() is not None:
            # Nobody may be waiting (a background refresh): the stale copy keeps serving
            # until `max_stale_seconds`, then requests wait for (and see) the error.
            log.warning("concert reload failed", extra={"concert_id": concert_id})

    async def _load(self, concert_id: str, load: Loader) -> Concert | None:
        held = self._entries.get(concert_id)
        if held is not None and self._versions is not None:
            unchanged = await self._versions(concert_id) == held[1].version
            # (A change made here meanwhile dropped the copy: then read it all again.)
            if unchanged and self._entries.get(concert_id) is held:
                self.put(held[1])  # the copy serves another TTL
                return held[1]
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
        self._entries[concert.id] = (now or time.monotonic(), concert)

    def drop(self, concert_id: str) -> None:
        self._entries.pop(concert_id, None)
