"""Two HTTP/1.1 load clients behind one small interface.

`RawHttp` is a minimal keep-alive client on asyncio streams: one request at a time per
connection, Content-Length bodies only (what this service sends for the benchmarked routes).
It exists because httpx's connection pool costs several milliseconds of CPU per request at 64
concurrent requests (about 1 ms at 1), which on a 2-core machine would make the benchmark
measure httpx rather than the service. `HttpxHttp` is kept for comparison (--client httpx).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping
from typing import Protocol

import httpx


class HttpClient(Protocol):
    async def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        token: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, bytes]:
        """(status, body) of one request; `body` is JSON, `token` a bearer access token,
        `headers` any others (e.g. X-Queue-Pass)."""
        ...

    async def aclose(self) -> None: ...


class ProtocolError(Exception):
    pass


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.idle_since = 0.0

    def close(self) -> None:
        self.writer.close()

    async def exchange(self, request: bytes) -> tuple[int, bytes, bool]:
        """Send one request, read one response: (status, body, server keeps the connection)."""
        self.writer.write(request)
        return await self.read_response()

    async def read_response(self) -> tuple[int, bytes, bool]:
        """Read one response (the next one of pipelined requests)."""
        head = await self.reader.readuntil(b"\r\n\r\n")
        status_line, _, header_block = head.partition(b"\r\n")
        parts = status_line.split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
            raise ProtocolError(f"bad status line {status_line[:80]!r}")
        status = int(parts[1])
        length: int | None = None
        keep_alive = True
        for line in header_block.split(b"\r\n"):
            name, _, value = line.partition(b":")
            lowered = name.strip().lower()
            if lowered == b"content-length":
                length = int(value)
            elif lowered == b"connection" and value.strip().lower() == b"close":
                keep_alive = False
            elif lowered == b"transfer-encoding":
                raise ProtocolError("chunked responses are not supported by this client")
        if length is None:
            if status in (204, 304) or 100 <= status < 200:
                length = 0  # no body by definition (RFC 9110 6.4.1)
            else:
                raise ProtocolError(f"HTTP {status} response without Content-Length")
        body = await self.reader.readexactly(length) if length else b""
        return status, body, keep_alive


class RawHttp:
    """Keep-alive connections to one host, at most `size` of them, reused LIFO.

    A closed loop keeps every connection busy. An open loop (requests on timers) leaves some
    idle, and the server closes those after its keep-alive timeout (uvicorn: 5 s); give
    `max_idle_seconds` below that timeout and older idle connections are closed here instead
    of failing the next request. Connections the server already closed are never reused."""

    def __init__(
        self,
        host: str,
        port: int,
        size: int,
        timeout_seconds: float = 30.0,
        max_idle_seconds: float | None = None,
    ) -> None:
        self._host = host
        self._port = port
        self._timeout = timeout_seconds
        self._max_idle = max_idle_seconds
        self._idle: list[_Connection] = []
        self._slots = asyncio.Semaphore(size)
        self._host_header = f"Host: {host}:{port}\r\n".encode()

    async def _connect(self) -> _Connection:
        reader, writer = await asyncio.open_connection(self._host, self._port, limit=1 << 22)
        return _Connection(reader, writer)

    def _reusable(self) -> _Connection | None:
        """The most recently used idle connection that is still open and fresh enough."""
        while self._idle:
            connection = self._idle.pop()
            stale = self._max_idle is not None and (
                time.monotonic() - connection.idle_since > self._max_idle
            )
            if not stale and not connection.reader.at_eof():
                return connection
            connection.close()
        return None

    async def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        token: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, bytes]:
        head = [f"{method} {path} HTTP/1.1\r\n".encode(), self._host_header]
        if token is not None:
            head.append(f"Authorization: Bearer {token}\r\n".encode())
        if headers:
            head.extend(f"{name}: {value}\r\n".encode() for name, value in headers.items())
        if body is not None:
            head.append(b"Content-Type: application/json\r\n")
            head.append(f"Content-Length: {len(body)}\r\n".encode())
        head.append(b"\r\n")
        if body is not None:
            head.append(body)
        request = b"".join(head)
        async with self._slots:
            connection = self._reusable() or await self._connect()
            try:
                async with asyncio.timeout(self._timeout):
                    status, payload, keep_alive = await connection.exchange(request)
            except BaseException:
                connection.close()
                raise
            if keep_alive:
                connection.idle_since = time.monotonic()
                self._idle.append(connection)
            else:
                connection.close()
            return status, payload

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()
            with contextlib.suppress(Exception):
                await connection.writer.wait_closed()


class HttpxHttp:
    """The same interface over one httpx.AsyncClient with a pool of `size` connections."""

    def __init__(self, base_url: str, size: int, timeout_seconds: float = 30.0) -> None:
        limits = httpx.Limits(max_connections=size, max_keepalive_connections=size)
        self._client = httpx.AsyncClient(base_url=base_url, limits=limits, timeout=timeout_seconds)

    async def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        token: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, bytes]:
        sent = dict(headers or {})
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        if body is not None:
            sent["Content-Type"] = "application/json"
        response = await self._client.request(method, path, content=body, headers=sent)
        return response.status_code, response.content

    async def aclose(self) -> None:
        await self._client.aclose()


def make_client(kind: str, host: str, port: int, size: int) -> HttpClient:
    if kind == "raw":
        return RawHttp(host, port, size)
    if kind == "httpx":
        return HttpxHttp(f"http://{host}:{port}", size)
    raise ValueError(f"unknown client {kind!r}")
