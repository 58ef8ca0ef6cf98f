"""Reading the event stream with a consumer group.

Any number of processes run a consumer of the same group; Redis hands each new entry to one
of them (XREADGROUP `>`). An entry is acknowledged (XACK) only after its handler returned, so
one whose consumer died (or whose handler failed) stays pending; once it has been pending for
`claim_min_idle_ms`, a live consumer takes it over (XAUTOCLAIM) and handles it again. Delivery
is therefore at least once: handlers must be idempotent.

A group's handler takes one event at a time, or (`batch_handler`) every event of one read at
once: for a handler whose work costs one call per batch (app/events/eventbridge.py). A batch
handler that raises leaves all of them pending; one that raises `BatchFailed` only those it
names, and the others are acknowledged.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from collections.abc import Awaitable, Callable, Collection, Sequence
from typing import Any

from redis.exceptions import ResponseError

from app.events.metrics import (
    EVENTS_DEAD_LETTERED,
    EVENTS_DROPPED,
    EVENTS_HANDLED,
    EVENTS_HANDLER_FAILED,
    EVENTS_RECLAIMED,
)
from app.events.schemas import DomainEvent, UnreadableEvent, from_fields
from app.platform.redis import RedisClient

log = logging.getLogger(__name__)

Handler = Callable[[DomainEvent], Awaitable[None]]
BatchHandler = Callable[[Sequence[DomainEvent]], Awaitable[None]]

_MIN_BACKOFF_SECONDS = 0.5
_MAX_BACKOFF_SECONDS = 30.0
# XAUTOCLAIM pages per reclaim pass: bounds one pass after a long outage; the rest waits.
_MAX_CLAIM_PAGES = 10
# Consumers idle this long with nothing pending are removed from the group: every process
# start adds a new name, and a live consumer polls at least every block timeout.
PRUNE_IDLE_MS = 3_600_000


def consumer_name() -> str:
    """Unique per process (and per start): two consumers sharing a name would share entries."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class BatchFailed(Exception):
    """Raised by a batch handler that handled only some of its events: those named here (by
    event id) stay pending, the others are acknowledged."""

    def __init__(self, failed_ids: Collection[str], why: str) -> None:
        super().__init__(why)
        self.failed_ids = frozenset(failed_ids)


class EventConsumer:
    def __init__(
        self,
        redis: RedisClient,
        *,
        stream: str,
        group: str,
        handler: Handler | None = None,
        batch_handler: BatchHandler | None = None,
        name: str | None = None,
        block_ms: int = 5_000,
        count: int = 100,
        claim_min_idle_ms: int = 60_000,
        max_deliveries: int = 5,
        start_id: str = "$",
        prune_idle_ms: int = PRUNE_IDLE_MS,
        linger_s: float = 0.05,
        types: frozenset[str] | None = None,
        dead_letter: str | None = None,
        dead_letter_maxlen: int = 100_000,
    ) -> None:
        self._redis = redis
        self._stream = stream
        self._group = group
        if (handler is None) == (batch_handler is None):
            raise ValueError("give the consumer either a handler or a batch handler")
        self._handler = handler
        self._batch_handler = batch_handler
        self.name = name or consumer_name()
        # BLOCK 0 would mean "forever": a stuck read could never notice it was cancelled.
        self._block_ms = max(1, block_ms)
        self._count = count
        self._claim_min_idle_ms = claim_min_idle_ms
        self._max_deliveries = max_deliveries
        # "$": a new group starts with the entries added after its creation, not the history.
        self._start_id = start_id
        self._prune_idle_ms = prune_idle_ms
        # After a read that was not full, wait this long before the next: under a stampede
        # every hold adds an entry, and reading them a few at a time costs each process a
        # round trip, a parse and an XACK per handful (docs/performance.md). An event waits at
        # most this much longer; a full read is followed at once.
        self._linger_s = linger_s
        # The event types the handler acts on (None: all). An entry of another type is
        # acknowledged unread: in an on-sale nearly every entry is a seat.held that the
        # order-driven groups ignore, and decoding each one cost every process CPU per hold.
        self._types = None if types is None else frozenset(types) | {t.encode() for t in types}
        # Where an entry given up after `max_deliveries` goes (a stream, None: nowhere), with
        # its fields as they were (so it can be added back to the stream once the cause is
        # fixed) plus `group`, `entry_id`, `deliveries`.
        self._dead_letter = dead_letter
        self._dead_letter_maxlen = dead_letter_maxlen
        self._group_ready = False

    async def ensure_group(self) -> None:
        """Create the group (and the stream) unless it exists; safe to call from everywhere."""
        try:
            await self._redis.xgroup_create(
                self._stream, self._group, id=self._start_id, mkstream=True
            )
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    async def read_new(self) -> int:
        """Wait up to the block timeout for entries no consumer of the group has had yet,
        handle them and acknowledge those handled; the number handled."""
        reply = await self._redis.xreadgroup(
            self._group, self.name, {self._stream: ">"}, count=self._count, block=self._block_ms
        )
        handled = 0
        for entries in _entries_of(reply):
            done = await self._handle_all(entries)
            await self._ack(done)
            handled += len(done)
        return handled

    async def reclaim(self) -> int:
        """Take over entries pending longer than the min idle time (their consumer is dead or
        its handler failed) and handle them; the number taken over."""
        start: Any = "0-0"
        taken = 0
        for _ in range(_MAX_CLAIM_PAGES):
            reply = await self._redis.xautoclaim(
                self._stream,
                self._group,
                self.name,
                min_idle_time=self._claim_min_idle_ms,
                start_id=start,
                count=self._count,
            )
            start, entries = reply[0], [(i, f) for i, f in reply[1] if i is not None]
            if entries:
                taken += len(entries)
                EVENTS_RECLAIMED.labels(self._group).inc(len(entries))
                deliveries = await self._deliveries(entries)
                done = []
                retry = []
                for entry_id, fields in entries:
                    times = deliveries.get(_text(entry_id), 0)
                    if times > self._max_deliveries:
                        await self._bury(entry_id, fields, times)
                        EVENTS_DROPPED.labels(self._group, "max_deliveries").inc()
                        log.error(
                            "event given up after repeated handler failures",
                            extra={
                                "group": self._group,
                                "entry_id": _text(entry_id),
                                "dead_letter": self._dead_letter,
                            },
                        )
                        done.append(entry_id)
                    else:
                        retry.append((entry_id, fields))
                done += await self._handle_all(retry)
                await self._ack(done)
            if _text(start) == "0-0":
                break
        await self._prune()
        return taken

    async def run(self) -> None:
        """Consume until cancelled. Redis errors are logged and retried with a growing pause
        (a Redis outage must not end the job)."""
        log.info(
            "event consumer started",
            extra={"stream": self._stream, "group": self._group, "consumer": self.name},
        )
        loop = asyncio.get_running_loop()
        claim_every = max(self._claim_min_idle_ms / 2000, 0.05)
        next_claim = 0.0
        backoff = _MIN_BACKOFF_SECONDS
        while True:
            try:
                if not self._group_ready:
                    await self.ensure_group()
                if loop.time() >= next_claim:
                    await self.reclaim()
                    next_claim = loop.time() + claim_every
                # A cancel swallowed by an earlier call (redis-py's asyncio.wait_for on Python
                # 3.11; a new cluster client's setup is often hit) must not wait out a whole
                # blocking read before the loop notices it.
                _stop_if_cancelled()
                read = await self.read_new()
                backoff = _MIN_BACKOFF_SECONDS
                if 0 < read < self._count and self._linger_s > 0:
                    await asyncio.sleep(self._linger_s)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                _stop_if_cancelled()
                if isinstance(exc, ResponseError) and "NOGROUP" in str(exc):
                    self._group_ready = False  # the stream was deleted or flushed: recreate
                log.warning(
                    "event consumer failed; retrying",
                    extra={"group": self._group, "retry_in_s": backoff},
                    exc_info=True,
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF_SECONDS)
            _stop_if_cancelled()

    async def _handle_all(self, entries: Sequence[tuple[Any, Any]]) -> list[Any]:
        """Handle the entries (one by one, or as one batch); the ids that may be acknowledged."""
        if self._handler is not None:
            handler = self._handler
            return [e for e, fields in entries if await self._handle(handler, e, fields)]
        assert self._batch_handler is not None  # one of them is set (see __init__)
        done: list[Any] = []
        events: list[tuple[Any, DomainEvent]] = []
        for entry_id, fields in entries:
            event = self._readable(entry_id, fields)
            if event is None:
                done.append(entry_id)
            else:
                events.append((entry_id, event))
        if events:
            done += await self._handle_batch(self._batch_handler, events)
        return done

    async def _handle_batch(
        self, handler: BatchHandler, events: Sequence[tuple[Any, DomainEvent]]
    ) -> list[Any]:
        try:
            await handler([event for _, event in events])
            failed: frozenset[str] = frozenset()
        except asyncio.CancelledError:
            raise
        except BatchFailed as exc:
            failed = exc.failed_ids
            log.warning(
                "event handler failed on part of a batch; those entries stay pending",
                extra={"group": self._group, "failed": sorted(failed), "why": str(exc)},
            )
        except Exception:
            failed = frozenset(event.id or "" for _, event in events)
            log.warning(
                "event handler failed; the entries stay pending",
                extra={"group": self._group, "entry_ids": sorted(failed)},
                exc_info=True,
            )
        done = []
        for entry_id, event in events:
            if event.id in failed:
                EVENTS_HANDLER_FAILED.labels(self._group, event.type).inc()
            else:
                EVENTS_HANDLED.labels(self._group, event.type).inc()
                done.append(entry_id)
        return done

    def _readable(self, entry_id: Any, fields: dict[Any, Any] | None) -> DomainEvent | None:
        """The entry's event, or None when it is acknowledged without handling."""
        if fields is None:  # trimmed from the stream while pending: nothing left to handle
            return None
        if self._types is not None:
            kind = fields.get(b"type", fields.get("type"))
            if kind not in self._types:
                return None
        try:
            return from_fields(entry_id, fields)
        except UnreadableEvent as exc:
            # Retrying can't make it readable (or it is a type this version doesn't know).
            EVENTS_DROPPED.labels(self._group, "unreadable").inc()
            log.warning(
                "unreadable event skipped",
                extra={"group": self._group, "entry_id": _text(entry_id), "why": str(exc)},
            )
            return None

    async def _handle(self, handler: Handler, entry_id: Any, fields: dict[Any, Any] | None) -> bool:
        """Handle one entry; True when it may be acknowledged."""
        event = self._readable(entry_id, fields)
        if event is None:
            return True
        try:
            await handler(event)
        except asyncio.CancelledError:
            raise
        except Exception:
            EVENTS_HANDLER_FAILED.labels(self._group, event.type).inc()
            log.warning(
                "event handler failed; the entry stays pending",
                extra={"group": self._group, "entry_id": event.id, "type": event.type},
                exc_info=True,
            )
            return False
        EVENTS_HANDLED.labels(self._group, event.type).inc()
        return True

    async def _bury(self, entry_id: Any, fields: dict[Any, Any] | None, times: int) -> None:
        """Copy an entry given up on to the dead-letter stream (before it is acknowledged: if
        this fails, the entry stays pending and is tried again)."""
        if self._dead_letter is None or fields is None:
            return
        entry: dict[Any, Any] = {_text(k): v for k, v in fields.items()}
        entry.update(group=self._group, entry_id=_text(entry_id), deliveries=str(times))
        await self._redis.xadd(
            self._dead_letter, entry, maxlen=self._dead_letter_maxlen, approximate=True
        )
        EVENTS_DEAD_LETTERED.labels(self._group).inc()

    async def _ack(self, entry_ids: Sequence[Any]) -> None:
        if entry_ids:
            await self._redis.xack(self._stream, self._group, *entry_ids)

    async def _deliveries(self, entries: list[tuple[Any, Any]]) -> dict[str, int]:
        """How many times each claimed entry has been delivered (the claim counts as one)."""
        pending = await self._redis.xpending_range(
            self._stream,
            self._group,
            min=entries[0][0],
            max=entries[-1][0],
            count=len(entries) + self._count,
            consumername=self.name,
        )
        return {_text(p["message_id"]): int(p["times_delivered"]) for p in pending}

    async def _prune(self) -> None:
        for info in await self._redis.xinfo_consumers(self._stream, self._group):
            name = _text(info["name"])
            idle_ms = int(info["idle"])
            if name != self.name and int(info["pending"]) == 0 and idle_ms > self._prune_idle_ms:
                await self._redis.xgroup_delconsumer(self._stream, self._group, name)


def _entries_of(reply: Any) -> list[list[tuple[Any, Any]]]:
    """The entry lists of an XREADGROUP reply ([[stream, entries], ...]; None on timeout)."""
    return [entries for _stream, entries in reply or []]


def _stop_if_cancelled() -> None:
    """A client library may swallow a cancellation that lands mid-call; carrying on would
    keep the loop alive and hang shutdown (see app/workers/loop.py)."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
