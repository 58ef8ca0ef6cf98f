"""Live seat changes over Server-Sent Events.

One Redis pub/sub connection per process, shared by every listener of every concert: the
hub subscribes to a concert's channel while it has listeners and fans each message out to
in-process queues. A listener that falls behind (full queue) or a state reload gets a fresh
snapshot instead of a gap.

Changes are coalesced per concert (SSE_COALESCE_SECONDS): the first change of a quiet concert
is held for that long, every change arriving meanwhile is merged into it (the latest state of
each seat, the highest version), and the merged change goes to every listener as one event.
In an on-sale the hold rate, not the listener count, would otherwise set the work: every hold
would reach every open map; coalesced, each listener gets a few events a second whatever the
hold rate (docs/performance.md, "Figures moved out of code comments").

Streams are bounded (`StreamSlots`): a stream needs no login and lasts, so one client could
hold thousands, each with memory and a file descriptor (docs/performance.md, "Figures moved out
of code comments"; docs/security.md, finding 3). Each process serves at most
SSE_MAX_STREAMS_PER_IP streams per client address (the address from app/platform/client_ip.py,
TRUSTED_PROXIES aware; an IPv6 client per /64) and SSE_MAX_STREAMS in all (at most half its
file-descriptor limit, so the API keeps descriptors to answer with);
beyond either it answers 429 `RateLimited` with Retry-After before reading anything. The slot
is given back however the stream ends (`SlotResponse`), a client that vanishes included. A
stream also ends after its lifetime, a random 75-100 % of SSE_MAX_STREAM_SECONDS so that a
crowd which connected together does not reconnect together: a `retry:` hint, then the end of
the body; the browser's EventSource reconnects by itself (Last-Event-ID) and starts again from
a fresh snapshot, which costs no more than any snapshot (cached per version). Metrics:
`sse_streams_open`, `sse_streams_refused_total{reason}`, `sse_streams_expired_total`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import resource
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from prometheus_client import Counter, Gauge
from redis.asyncio import RedisCluster
from redis.asyncio.client import PubSub
from starlette.responses import ContentStream, StreamingResponse
from starlette.types import Receive, Scope, Send

from app.platform.client_ip import ClientAddress, client_key, parse_networks
from app.platform.ratelimit import RATE_LIMITED, RateLimited
from app.platform.redis import RedisClient
from app.seats.engine import events_channel
from app.settings import Settings

log = logging.getLogger(__name__)

QUEUE_SIZE = 256

STREAMS_OPEN = Gauge("sse_streams_open", "Seat streams (SSE) open in this process")
STREAMS_REFUSED = Counter(
    "sse_streams_refused_total",
    "Seat streams refused with 429, by the cap that refused them (per_ip, total)",
    ["reason"],
)
STREAMS_EXPIRED = Counter(
    "sse_streams_expired_total",
    "Seat streams ended by their lifetime (SSE_MAX_STREAM_SECONDS); the client reconnects",
)
STREAM_RETRY_AFTER_SECONDS = 10  # a refused stream: places free up as streams end
LIFETIME_SPREAD = 0.25  # a stream lives a random 75-100 % of SSE_MAX_STREAM_SECONDS
RECONNECT_MS = (250, 1250)  # the `retry:` hint when a lifetime ends (spread as well)


class StreamSlot:
    """One open stream's place; `release` gives it back (once, whoever calls it first)."""

    __slots__ = ("_key", "_owner")

    def __init__(self, owner: StreamSlots, key: str) -> None:
        self._owner: StreamSlots | None = owner
        self._key = key

    def release(self) -> None:
        owner, self._owner = self._owner, None
        if owner is not None:
            owner._release(self._key)


class StreamSlots:
    """The caps on the seat streams of this process and their lifetime (module docstring)."""

    def __init__(
        self,
        per_client: int = 0,
        total: int = 0,
        max_seconds: float = 0.0,
        client_address: Callable[[Scope], str] | None = None,
    ) -> None:
        self.per_client = per_client  # 0: no cap
        self.total = total  # 0: no cap
        self.max_seconds = max_seconds  # 0: streams never end by themselves
        self._client_address = client_address or ClientAddress(())
        self._open: dict[str, int] = {}
        self.total_open = 0

    @classmethod
    def from_settings(cls, settings: Settings) -> StreamSlots:
        total = settings.sse_max_streams
        descriptors = _descriptor_limit()
        if total and descriptors is not None and total > descriptors // 2:
            log.info(
                "SSE_MAX_STREAMS lowered to half the file-descriptor limit",
                extra={"sse_max_streams": total, "nofile": descriptors},
            )
            total = max(1, descriptors // 2)
        return cls(
            per_client=settings.sse_max_streams_per_ip,
            total=total,
            max_seconds=settings.sse_max_stream_seconds,
            client_address=ClientAddress(
                parse_networks(settings.trusted_proxies), settings.client_ip_header
            ),
        )

    def acquire(self, scope: Scope) -> StreamSlot:
        """A place for a new stream from this request's client, or RateLimited (429)."""
        key = client_key(self._client_address(scope))
        held = self._open.get(key, 0)
        if self.per_client and held >= self.per_client:
            raise _refused("per_ip", "streams")
        if self.total and self.total_open >= self.total:
            raise _refused("total", "streams_busy")
        self._open[key] = held + 1
        self.total_open += 1
        STREAMS_OPEN.inc()
        return StreamSlot(self, key)

    def _release(self, key: str) -> None:
        held = self._open.pop(key, 0) - 1
        if held > 0:
            self._open[key] = held
        self.total_open -= 1
        STREAMS_OPEN.dec()

    def open_for(self, address: str) -> int:
        """Streams open now from the client at `address`."""
        return self._open.get(client_key(address), 0)

    def lifetime(self) -> float | None:
        """How long a new stream may last (seconds), spread; None: as long as it likes."""
        if self.max_seconds <= 0:
            return None
        spread = random.uniform(1 - LIFETIME_SPREAD, 1.0)  # noqa: S311 - jitter, not a secret
        return self.max_seconds * spread


def _refused(
    reason: Literal["per_ip", "total"], scope: Literal["streams", "streams_busy"]
) -> RateLimited:
    STREAMS_REFUSED.labels(reason).inc()
    RATE_LIMITED.labels(scope).inc()
    return RateLimited(scope, STREAM_RETRY_AFTER_SECONDS)


def _descriptor_limit() -> int | None:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return None if soft == resource.RLIM_INFINITY else soft


class SlotResponse(StreamingResponse):
    """A stream that gives its slot back however it ends: the body ran out, the client went
    away (Starlette cancels the body), or the response never started. Released here rather
    than in the body's generator, whose `finally` never runs if it was never started."""

    def __init__(self, content: ContentStream, slot: StreamSlot, **kwargs: Any) -> None:
        super().__init__(content, **kwargs)
        self._slot = slot

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._slot.release()


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
    def __init__(
        self, redis: RedisClient, coalesce_seconds: float = 0.0, slots: StreamSlots | None = None
    ) -> None:
        self._redis = redis
        self._coalesce = coalesce_seconds
        self.slots = slots or StreamSlots()  # who may open a stream, and for how long
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
    lifetime: float | None = None,
) -> AsyncIterator[bytes]:
    """The SSE stream: a snapshot, then changes newer than it; heartbeats while idle; after
    `lifetime` seconds (if any) a `retry:` hint and the end.

    A client reconnecting with Last-Event-ID simply gets a fresh snapshot: it is cheap
    (cached per version) and can't miss anything, unlike replaying a change log.
    """
    loop = asyncio.get_running_loop()
    ends = None if lifetime is None else loop.time() + lifetime
    async with hub.listen(concert_id) as queue:
        version, body = await snapshot()
        yield b"retry: 2000\n\n" + sse("snapshot", body.decode(), version)
        while True:
            left = None if ends is None else ends - loop.time()
            if left is not None and left <= 0:
                break
            wait = heartbeat_seconds if left is None else min(heartbeat_seconds, left)
            try:
                async with asyncio.timeout(wait):  # no task per wait, unlike wait_for
                    items = [await queue.get()]
            except TimeoutError:
                if left is not None and left <= heartbeat_seconds:
                    break  # the lifetime, not the heartbeat, ran out
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
    # The lifetime is over: how soon to come back, then the end of the body. The browser
    # reconnects by itself after `retry` milliseconds and gets a fresh snapshot.
    STREAMS_EXPIRED.inc()
    retry_ms = random.randint(*RECONNECT_MS)  # noqa: S311 - jitter, not a secret
    yield f": lifetime over, reconnect\nretry: {retry_ms}\n\n".encode()
