"""A pipelining lane to Redis for the hot path's batches: write a batch at once, parse in C.

The group-committed batches of the hot path (app/platform/batching.py: the limiter's windows,
the hold scripts, the domain events) each cost one redis-py pipeline call. On a 2-core machine
redis-py spends 270-350 us of client CPU per pipeline call (a pool checkout, timeout contexts,
one awaited read per reply, response callbacks) and 15-30 us more per command; a batch of ten
holds pays that three times (bench/ratio.py, docs/performance.md).

`RedisLane` is one connection shared by every batch of a process: `execute(commands)` writes a
batch's commands in one write and waits for its replies; replies come back in order, so each
batch is a slot in a FIFO that the protocol fills as hiredis parses what arrives. Batches from
the three flushers overlap on the one connection without a pool or a lock. About 110 us of CPU
per call and 1-3 us per command, measured the same way.

Only for a plain TCP connection to one server (`redis://`, optional user, password and db): a
cluster, TLS or a Unix socket get no lane (`RedisLane.of` answers None) and their callers use
redis-py as before; so does everyone with REDIS_LANE_ENABLED=false.

Failures behave as redis-py's do: an error reply is that command's ResponseError (NoScriptError
for NOSCRIPT), returned in its place like `pipeline.execute(raise_on_error=False)`; a batch not
answered within the timeout raises TimeoutError and drops the connection (failing the batches
still waiting on it with ConnectionError); the next batch connects again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import hiredis
from redis.asyncio import Redis
from redis.asyncio.connection import Connection, SSLConnection
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.typing import EncodableT

from app.platform.redis import RedisClient

__all__ = ["RedisLane"]

Command = Sequence[EncodableT]


def _packed(commands: Sequence[Command]) -> bytes:
    # hiredis's stub types the command as a 1-tuple; any tuple of arguments is what it takes.
    pack: Any = hiredis.pack_command
    return b"".join(pack(tuple(c)) for c in commands)


@dataclass(slots=True)
class _Batch:
    size: int
    future: asyncio.Future[list[Any]]
    replies: list[Any] = field(default_factory=list)


def _reply(value: Any) -> Any:
    if isinstance(value, hiredis.ReplyError):
        message = str(value)
        return NoScriptError(message) if message.startswith("NOSCRIPT") else ResponseError(message)
    return value


class _Protocol(asyncio.Protocol):
    def __init__(self, lane: RedisLane) -> None:
        self._lane = lane
        self._reader = hiredis.Reader()

    def data_received(self, data: bytes) -> None:
        self._reader.feed(data)
        while (reply := self._reader.gets()) is not False:
            self._lane._received(self, _reply(reply))

    def connection_lost(self, exc: Exception | None) -> None:
        self._lane._lost(self, exc)


class RedisLane:
    def __init__(
        self,
        host: str,
        port: int,
        *,
        db: int = 0,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 5.0,
        connect_timeout: float | None = None,
    ) -> None:
        self._address = (host, port)
        self._handshake: list[Command] = []
        if password is not None:
            self._handshake.append(("AUTH", username, password) if username else ("AUTH", password))
        if db:
            self._handshake.append(("SELECT", db))
        self._timeout = timeout
        self._connect_timeout = timeout if connect_timeout is None else connect_timeout
        self._transport: asyncio.Transport | None = None
        self._protocol: _Protocol | None = None
        self._connecting: asyncio.Task[None] | None = None
        self._pending: deque[_Batch] = deque()
        self.batches = 0  # batches sent (tests, metrics)

    @classmethod
    def of(cls, client: RedisClient) -> RedisLane | None:
        """A lane to `client`'s server with its timeouts, or None where only redis-py will do
        (a cluster, TLS, a Unix socket)."""
        if not isinstance(client, Redis):
            return None
        pool = client.connection_pool
        kind = pool.connection_class
        if not issubclass(kind, Connection) or issubclass(kind, SSLConnection):
            return None
        kw = pool.connection_kwargs
        timeout = kw.get("socket_timeout") or 5.0
        return cls(
            str(kw.get("host", "localhost")),
            int(kw.get("port", 6379)),
            db=int(kw.get("db") or 0),
            username=kw.get("username"),
            password=kw.get("password"),
            timeout=float(timeout),
            connect_timeout=float(kw.get("socket_connect_timeout") or timeout),
        )

    async def execute(self, commands: Sequence[Command]) -> list[Any]:
        """Each command's reply, in order (an error reply as its exception, not raised)."""
        if not commands:
            return []
        packed = _packed(commands)
        try:
            async with asyncio.timeout(self._timeout):
                transport = self._transport
                if transport is None or self._connecting is not None:
                    await self._connected()
                    transport = self._transport
                    assert transport is not None
                return await self._send(transport, len(commands), packed)
        except TimeoutError:
            self._drop(RedisTimeoutError("Timeout reading from Redis (lane)"))
            raise RedisTimeoutError(
                f"Redis did not answer within {self._timeout:g} s (lane)"
            ) from None

    async def scripts(
        self, calls: Sequence[tuple[AsyncScript, Sequence[str], Sequence[EncodableT]]]
    ) -> list[Any]:
        """Run (script, keys, args) calls by EVALSHA in one batch: each reply, or the error that
        call alone raised. A script Redis lost (NOSCRIPT: a restart) is run again through
        redis-py's Script, which loads it."""
        replies = await self.execute(
            [("EVALSHA", script.sha, len(keys), *keys, *args) for script, keys, args in calls]
        )
        out: list[Any] = []
        for (script, keys, args), reply in zip(calls, replies, strict=True):
            if isinstance(reply, NoScriptError):
                try:
                    reply = await script(keys=list(keys), args=list(args))
                except ResponseError as exc:
                    reply = exc
            out.append(reply)
        return out

    def _send(
        self, transport: asyncio.Transport, size: int, packed: bytes
    ) -> asyncio.Future[list[Any]]:
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._pending.append(_Batch(size, future))
        transport.write(packed)
        self.batches += 1
        return future

    async def _connected(self) -> None:
        if self._connecting is None:
            self._connecting = asyncio.create_task(self._connect())
        task = self._connecting
        try:
            await asyncio.shield(task)
        finally:
            if task.done() and self._connecting is task:
                self._connecting = None

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._connect_timeout):
                transport, protocol = await loop.create_connection(
                    lambda: _Protocol(self), *self._address
                )
        except (OSError, TimeoutError) as exc:
            raise RedisConnectionError(
                f"Error connecting to {self._address[0]}:{self._address[1]} (lane): {exc!r}"
            ) from exc
        # An asyncio.Transport, or uvloop's equivalent (not a subclass of it: no isinstance).
        self._transport, self._protocol = transport, protocol
        if self._handshake:
            replies = await self._send(
                self._transport, len(self._handshake), _packed(self._handshake)
            )
            failed = next((r for r in replies if isinstance(r, Exception)), None)
            if failed is not None:
                self._drop(RedisConnectionError(f"Redis refused the lane: {failed}"))
                raise RedisConnectionError(f"Redis refused the lane: {failed}")

    def _received(self, protocol: _Protocol, reply: Any) -> None:
        if protocol is not self._protocol or not self._pending:
            return  # a reply on a dropped connection, or one nobody asked for
        batch = self._pending[0]
        batch.replies.append(reply)
        if len(batch.replies) == batch.size:
            self._pending.popleft()
            if not batch.future.done():  # done: its caller gave up (cancelled)
                batch.future.set_result(batch.replies)

    def _lost(self, protocol: _Protocol, exc: Exception | None) -> None:
        if protocol is self._protocol:
            self._drop(RedisConnectionError(f"Connection to Redis lost (lane): {exc!r}"))

    def _drop(self, error: Exception) -> None:
        """Close the connection; every batch still waiting on it fails with `error`."""
        transport, self._transport, self._protocol = self._transport, None, None
        pending, self._pending = self._pending, deque()
        for batch in pending:
            if not batch.future.done():
                batch.future.set_exception(error)
        if transport is not None:
            transport.close()

    async def aclose(self) -> None:
        if self._connecting is not None:
            self._connecting.cancel()
            with contextlib.suppress(BaseException):
                await self._connecting
            self._connecting = None
        self._drop(RedisConnectionError("The lane is closed"))
