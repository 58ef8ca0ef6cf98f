"""Live seat changes over Server-Sent Events.

One Redis pub/sub connection per process, shared by every listener of every concert: the
hub subscribes to a concert's channel while it has listeners and fans each message out to
in-process queues. A listener that falls behind (full queue) or a state reload gets a fresh
snapshot instead of a gap.

Changes are coalesced per concert (SSE_COALESCE_SECONDS): the first change of a quiet concert
is held for that long, every change arriving meanwhile is merged into it (the latest state of
each seat, the highest version), and the merged change goes to every listener as one event.
In an on-sale the hold rate, not the listener count, would otherwise set the work: a thousand
holds a second to 5,000 open seat maps is five million events a second; coalesced at 0.25 s it
is four per listener per second, whatever the rate (docs/performance.md, fan-out).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import RedisCluster
from redis.asyncio.client import PubSub

from app.platform.redis import RedisClient
from app.reservations.engine import events_channel

log = logging.getLogger(__name__)

QUEUE_SIZE = 256


@dataclass(frozen=True, slots=True)
class Change:
    version: int
    changes: dict[int, str]  # seat index -> new state
    # The encoded SSE frame, made by the first listener and sent as is by the others: every
    # listener of a concert gets this same object (docs/performance.md, fan-out).
    frame: list[bytes] = field(default_factory=list, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Resync:
    """Start again from a snapshot: the state was reloaded (at `version`), or events may have
    been lost (version None: a full queue, a lost subscription)."""

    version: int | None = None


RESYNC = Resync()

Item = Change | Resync


@dataclass(slots=True)
class _Topic:
    listeners: set[asyncio.Queue[Item]] = field(default_factory=set)
    subscribed: asyncio.Event = field(default_factory=asyncio.Event)
    pending: Change | None = None  # changes being coalesced, sent when the window closes
    flush: asyncio.TimerHandle | None = None

    def send(self, item: Item) -> None:
        for queue in self.listeners:
            _offer(queue, item)

    def send_pending(self) -> None:
        if self.flush is not None:
            self.flush.cancel()
            self.flush = None
        if self.pending is not None:
            pending, self.pending = self.pending, None
            self.send(pending)


class SeatEventHub:
    def __init__(self, redis: RedisClient, coalesce_seconds: float = 0.0) -> None:
        self._redis = redis
        self._coalesce = coalesce_seconds
        self._pubsub: PubSub | None = None
        self._topics: dict[str, _Topic] = {}
        self._reader: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def listen(self, concert_id: str) -> AsyncIterator[asyncio.Queue[Item]]:
        """A queue of this concert's changes, from the moment the subscription is live."""
        queue: asyncio.Queue[Item] = asyncio.Queue(QUEUE_SIZE)
        channel = events_channel(concert_id)
        async with self._lock:
            topic = self._topics.get(channel)
            if topic is None:
                topic = self._topics[channel] = _Topic()
                await (await self._ensure_pubsub()).subscribe(channel)
                self._ensure_reader()
            topic.listeners.add(queue)
        try:
            await asyncio.wait_for(topic.subscribed.wait(), timeout=5)
            yield queue
        finally:
            async with self._lock:
                topic.listeners.discard(queue)
                if not topic.listeners and self._topics.get(channel) is topic:
                    topic.send_pending()  # to nobody: just stops the timer
                    del self._topics[channel]
                    if self._pubsub is not None:
                        await self._pubsub.unsubscribe(channel)

    def listener_count(self) -> int:
        return sum(len(t.listeners) for t in self._topics.values())

    async def _ensure_pubsub(self) -> PubSub:
        if self._pubsub is None:
            if isinstance(self._redis, RedisCluster):
                # A cluster's pub/sub connection goes to the node serving the first channel's
                # slot, looked up in the client's slot map: load it if nothing has yet. Plain
                # PUBLISH reaches subscribers on every node, so one connection serves all.
                await self._redis.initialize()
            self._pubsub = self._redis.pubsub()
        return self._pubsub

    def _ensure_reader(self) -> None:
        if self._reader is None or self._reader.done():
            self._reader = asyncio.create_task(self._read(), name="seat-event-hub")

    async def _read(self) -> None:
        pubsub = await self._ensure_pubsub()
        while self._topics:
            try:
                message = await pubsub.get_message(timeout=1.0)
            except Exception:
                # Redis went away: tell every listener to resnapshot, then keep trying.
                log.warning("seat event subscription lost; listeners resync", exc_info=True)
                self._broadcast_resync()
                await asyncio.sleep(1.0)
                continue
            if message is not None:
                self._dispatch(message)

    def _broadcast_resync(self) -> None:
        for topic in self._topics.values():
            topic.pending = None
            topic.send_pending()
            topic.send(RESYNC)

    def _dispatch(self, message: dict[str, Any]) -> None:
        channel = message["channel"]
        channel = channel.decode() if isinstance(channel, bytes) else str(channel)
        topic = self._topics.get(channel)
        if topic is None:
            return
        if message["type"] == "subscribe":
            topic.subscribed.set()
            return
        if message["type"] != "message":
            return
        payload = json.loads(message["data"])
        if payload.get("reload"):
            topic.send_pending()  # in order: what came before the reload, then the reload
            topic.send(Resync(int(payload["v"])))
            return
        flat = payload["c"]
        change = Change(
            version=int(payload["v"]),
            changes={int(flat[i]): str(flat[i + 1]) for i in range(0, len(flat), 2)},
        )
        if self._coalesce <= 0:
            topic.send(change)
        elif topic.pending is None:
            topic.pending = change
            loop = asyncio.get_running_loop()
            topic.flush = loop.call_later(self._coalesce, topic.send_pending)
        else:
            merged = topic.pending.changes | change.changes  # the later state of a seat wins
            version = max(topic.pending.version, change.version)
            topic.pending = Change(version=version, changes=merged)

    async def close(self) -> None:
        for topic in self._topics.values():
            topic.send_pending()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._pubsub is not None:
            await self._pubsub.aclose()  # type: ignore[no-untyped-call,unused-ignore]


def _offer(queue: asyncio.Queue[Item], item: Item) -> None:
    try:
        queue.put_nowait(item)
    except asyncio.QueueFull:
        # Too slow to keep up: drop what is queued and make it start over from a snapshot.
        while not queue.empty():
            queue.get_nowait()
        queue.put_nowait(RESYNC)


def sse(event: str, data: str, event_id: int | None = None) -> bytes:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {data}\n\n".encode()


async def seat_events(
    hub: SeatEventHub,
    concert_id: str,
    snapshot: Callable[[], Awaitable[tuple[int, bytes]]],
    seat_ids: tuple[str, ...],
    heartbeat_seconds: float,
) -> AsyncIterator[bytes]:
    """The SSE stream: a snapshot, then changes newer than it; heartbeats while idle.

    A client reconnecting with Last-Event-ID simply gets a fresh snapshot: it is cheap
    (cached per version) and can't miss anything, unlike replaying a change log.
    """
    async with hub.listen(concert_id) as queue:
        version, body = await snapshot()
        yield b"retry: 2000\n\n" + sse("snapshot", body.decode(), version)
        while True:
            try:
                async with asyncio.timeout(heartbeat_seconds):  # no task per wait, unlike wait_for
                    items = [await queue.get()]
            except TimeoutError:
                yield b": heartbeat\n\n"
                continue
            # What else is queued goes out in the same write: the same events, one send (a
            # listener that fell behind during a burst of changes catches up at once).
            while not queue.empty():
                items.append(queue.get_nowait())
            out: list[bytes] = []
            for item in items:
                if isinstance(item, Resync):
                    # A reload our own snapshot already shows (the first read of a concert
                    # rebuilds it) needs no second snapshot.
                    if item.version is None or item.version > version:
                        version, body = await snapshot()
                        out.append(sse("snapshot", body.decode(), version))
                elif item.version > version:
                    version = item.version
                    if not item.frame:
                        seats = {seat_ids[i]: state for i, state in item.changes.items()}
                        data = json.dumps(
                            {"version": version, "seats": seats}, separators=(",", ":")
                        )
                        item.frame.append(sse("change", data, version))
                    out.append(item.frame[0])
            if out:
                yield out[0] if len(out) == 1 else b"".join(out)
