"""The live seat stream (SSE) through a real HTTP server: snapshot, changes, heartbeats."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from prometheus_client import REGISTRY

from app.seats.stream import SeatEventHub, StreamSlots
from tests.conftest import make_settings, running_app, token_headers
from tests.helpers import CONCERTS, create_concert, seat_ids


@asynccontextmanager
async def served(app: FastAPI) -> AsyncIterator[str]:
    """`app` (its lifespan already running) served by uvicorn on a free port."""
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        lifespan="off",
        log_config=None,
        log_level="warning",
        timeout_graceful_shutdown=1,  # open SSE streams never end by themselves
        proxy_headers=False,  # as every launcher (tests/security/test_forwarded_headers.py)
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started:
            break
        await asyncio.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=10)


@pytest.fixture(scope="module")
async def live_url(app: FastAPI) -> AsyncIterator[str]:
    """The session's app served by uvicorn on a free port."""
    async with served(app) as url:
        yield url


class EventReader:
    def __init__(self, response: httpx.Response) -> None:
        self._lines = response.aiter_lines()

    async def next(self, wait: float = 5.0) -> dict[str, str]:
        """The next event or comment block, as its fields ('comment' for `:` lines)."""

        async def read() -> dict[str, str]:
            fields: dict[str, str] = {}
            async for line in self._lines:
                if line == "":
                    if fields:
                        return fields
                    continue
                name, _, value = line.partition(":")
                fields[name or "comment"] = value.removeprefix(" ")
            raise AssertionError("stream ended")

        return await asyncio.wait_for(read(), wait)

    async def rest(self, wait: float = 10.0) -> list[str]:
        """Every line until the server ends the stream."""

        async def read() -> list[str]:
            return [line async for line in self._lines]

        return await asyncio.wait_for(read(), wait)

    async def next_event(self, wait: float = 5.0) -> dict[str, str]:
        """The next real event, skipping heartbeats; `wait` bounds the whole search."""
        async with asyncio.timeout(wait):
            while True:
                fields = await self.next(wait)
                if "event" in fields:
                    return fields


async def test_snapshot_then_changes_then_fresh_snapshot_on_reconnect(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str], live_url: str
) -> None:
    c = await create_concert(client, admin_headers)
    me = token_headers(app, f"sse-{uuid.uuid4().hex[:8]}")
    stream_url = f"{live_url}{CONCERTS}/{c['id']}/seats/stream"
    async with (
        httpx.AsyncClient(timeout=10) as http,
        http.stream("GET", stream_url) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = EventReader(response)
        snapshot = await events.next_event()
        assert snapshot["event"] == "snapshot"
        first: dict[str, Any] = json.loads(snapshot["data"])
        assert first["concert_id"] == c["id"]
        assert first["counts"] == {"available": 10, "held": 0, "sold": 0}
        assert int(snapshot["id"]) == first["version"]

        r = await http.post(
            f"{live_url}{CONCERTS}/{c['id']}/holds",
            json={"seat_ids": ["floor-A-1", "floor-B-3"]},
            headers=me,
        )
        assert r.status_code == 201
        change = await events.next_event()
        assert change["event"] == "change"
        held = json.loads(change["data"])
        assert held["seats"] == {"floor-A-1": "H", "floor-B-3": "H"}
        assert held["version"] > first["version"]

        await http.delete(f"{live_url}/api/v1/holds/{r.json()['id']}", headers=me)
        released = json.loads((await events.next_event())["data"])
        assert released["seats"] == {"floor-A-1": "A", "floor-B-3": "A"}
        assert released["version"] > held["version"]
        last_id = str(released["version"])

        heartbeat = await events.next(wait=3)  # the test app beats every 0.5 s
        assert heartbeat == {"comment": "heartbeat"}

    async with (
        httpx.AsyncClient(timeout=10) as http,
        http.stream("GET", stream_url, headers={"Last-Event-ID": last_id}) as again,
    ):
        fresh = await EventReader(again).next_event()
        assert fresh["event"] == "snapshot"
        assert json.loads(fresh["data"])["version"] == int(last_id)


async def test_stream_of_unknown_concert_is_404(client: httpx.AsyncClient) -> None:
    r = await client.get(f"{CONCERTS}/{uuid.uuid4()}/seats/stream")
    assert r.status_code == 404
    assert r.json()["error"] == "ConcertNotFound"


async def test_a_rebuild_sends_listeners_a_fresh_snapshot(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str], live_url: str
) -> None:
    c = await create_concert(client, admin_headers)
    engine = app.state.container.engine
    async with (
        httpx.AsyncClient(timeout=10) as http,
        http.stream("GET", f"{live_url}{CONCERTS}/{c['id']}/seats/stream") as response,
    ):
        events = EventReader(response)
        assert (await events.next_event())["event"] == "snapshot"
        await engine.reset(c["id"])
        await client.post(f"{CONCERTS}/{c['id']}/warm", headers=admin_headers)  # reloads
        assert (await events.next_event())["event"] == "snapshot"


async def test_changes_close_together_arrive_coalesced_and_complete(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str], live_url: str
) -> None:
    """Eight holds at once reach a listener as fewer events (the app coalesces a concert's
    changes for SSE_COALESCE_SECONDS; without it this is eight events), and applying what
    arrived to the snapshot gives exactly the seat map the API reads."""
    assert app.state.settings.sse_coalesce_seconds > 0
    c = await create_concert(client, admin_headers)
    seats = seat_ids(c)
    stream_url = f"{live_url}{CONCERTS}/{c['id']}/seats/stream"
    async with (
        httpx.AsyncClient(timeout=10) as http,
        http.stream("GET", stream_url) as response,
    ):
        events = EventReader(response)
        snapshot = json.loads((await events.next_event())["data"])
        statuses = "".join(r["status"] for s in snapshot["sections"] for r in s["rows"])
        state = dict(zip(seats, statuses, strict=True))

        async def hold(seat: str) -> httpx.Response:
            who = token_headers(app, f"sse-{uuid.uuid4().hex[:8]}")
            r = await http.post(
                f"{live_url}{CONCERTS}/{c['id']}/holds", json={"seat_ids": [seat]}, headers=who
            )
            assert r.status_code == 201, r.text
            return r

        await asyncio.gather(*(hold(s) for s in seats[:8]))
        changes = 0
        version = snapshot["version"]
        final = (await client.get(f"{CONCERTS}/{c['id']}/seats")).json()["version"]
        while version < final:
            change = json.loads((await events.next_event(wait=3))["data"])
            changes += 1
            version = change["version"]
            state.update(change["seats"])
        assert changes < 8
        assert all(state[s] == "H" for s in seats[:8])
        assert all(state[s] == "A" for s in seats[8:])


# --- Caps and lifetime (issue 16, item 3) ----------------------------------------------------
# One client held 2,500 streams (2,593 file descriptors, 420 MB): a stream is unauthenticated,
# exempt from the in-flight cap and never ended. Now each process serves at most
# SSE_MAX_STREAMS_PER_IP per client address and SSE_MAX_STREAMS in all (429 `RateLimited`
# with Retry-After beyond), and a stream ends after about SSE_MAX_STREAM_SECONDS with a
# `retry:` hint, the browser reconnecting to a fresh snapshot. Clients connect from distinct
# loopback addresses (127.0.0.x) to be distinct clients, as the server sees them.

PER_IP = 2
TOTAL = 3
PROXY = "127.0.0.200"  # the capped server's TRUSTED_PROXIES


@pytest.fixture(scope="module")
async def capped(store_overrides: dict[str, Any]) -> AsyncIterator[tuple[FastAPI, str]]:
    settings = make_settings(
        sse_max_streams_per_ip=PER_IP,
        sse_max_streams=TOTAL,
        sse_max_stream_seconds=0,
        trusted_proxies=PROXY,
        sweeper_in_process=False,
        **store_overrides,
    )
    async with running_app(settings) as app, served(app) as url:
        yield app, url


def open_streams(app: FastAPI) -> float:
    return REGISTRY.get_sample_value("sse_streams_open") or 0.0


def refused(reason: str) -> float:
    return REGISTRY.get_sample_value("sse_streams_refused_total", {"reason": reason}) or 0.0


async def until(condition: Callable[[], bool], what: str) -> None:
    """Wait (bounded) for the server to notice what the client did."""
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never happened: {what}")


def slots(app: FastAPI) -> StreamSlots:
    hub: SeatEventHub = app.state.container.seat_events
    return hub.slots


@asynccontextmanager
async def stream_from(
    address: str, url: str, forwarded_for: str | None = None
) -> AsyncIterator[httpx.Response]:
    """A seat stream opened from `address` (a 127.0.0.x address of this machine); yields the
    response once its first event (the snapshot) arrived, or at once when it is refused."""
    transport = httpx.AsyncHTTPTransport(local_address=address)
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    async with (
        httpx.AsyncClient(transport=transport, timeout=10) as http,
        http.stream("GET", url, headers=headers) as response,
    ):
        # Kept for the whole block: a reader dropped early closes the connection with it
        # (its line iterator, collected, closes httpx's stream).
        events = EventReader(response)
        if response.status_code == 200:
            assert (await events.next_event())["event"] == "snapshot"
        else:
            await response.aread()
        yield response


@pytest.fixture
async def capped_stream(
    capped: tuple[FastAPI, str], client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> str:
    """The seat stream URL of a fresh concert on the capped server, no stream open."""
    app, url = capped
    await until(lambda: slots(app).total_open == 0, "the earlier tests' streams closed")
    c = await create_concert(client, admin_headers)
    return f"{url}{CONCERTS}/{c['id']}/seats/stream"


async def test_streams_beyond_the_per_address_cap_are_refused_with_retry_after(
    capped: tuple[FastAPI, str], capped_stream: str
) -> None:
    app, _ = capped
    before = refused("per_ip")
    async with contextlib.AsyncExitStack() as stack:
        for _ in range(PER_IP):
            ok = await stack.enter_async_context(stream_from("127.0.0.2", capped_stream))
            assert ok.status_code == 200
        async with stream_from("127.0.0.2", capped_stream) as over:
            assert over.status_code == 429
            assert int(over.headers["Retry-After"]) >= 1
            body = over.json()
            assert body["error"] == "RateLimited"
            assert "live seat maps" in body["detail"]
        assert refused("per_ip") == before + 1
        # Another address is another client.
        async with stream_from("127.0.0.3", capped_stream) as other:
            assert other.status_code == 200
            assert slots(app).open_for("127.0.0.2") == PER_IP
            assert open_streams(app) == PER_IP + 1


async def test_behind_a_trusted_proxy_the_forwarded_client_is_the_one_counted(
    capped: tuple[FastAPI, str], capped_stream: str
) -> None:
    """The cap is per client, not per proxy: through our proxy each forwarded client has its
    own places; from anyone else `X-Forwarded-For` changes nothing."""
    app, _ = capped
    async with contextlib.AsyncExitStack() as stack:
        for client in ("198.18.0.1", "198.18.0.1", "198.18.0.2"):
            ok = await stack.enter_async_context(stream_from(PROXY, capped_stream, client))
            assert ok.status_code == 200
        assert slots(app).open_for("198.18.0.1") == PER_IP
        async with stream_from(PROXY, capped_stream, "198.18.0.1") as over:
            assert over.status_code == 429
    await until(lambda: slots(app).total_open == 0, "every place freed")
    async with contextlib.AsyncExitStack() as stack:
        for client in ("198.18.0.3", "198.18.0.4"):  # not our proxy: the header is ignored
            ok = await stack.enter_async_context(stream_from("127.0.0.6", capped_stream, client))
            assert ok.status_code == 200
        async with stream_from("127.0.0.6", capped_stream, "198.18.0.5") as over:
            assert over.status_code == 429


async def test_a_closed_stream_gives_its_place_back_even_when_the_client_vanishes(
    capped: tuple[FastAPI, str], capped_stream: str
) -> None:
    app, url = capped
    address = "127.0.0.4"
    for _ in range(3):  # closed politely: the place is free again, every time
        async with stream_from(address, capped_stream) as first:
            assert first.status_code == 200
            async with stream_from(address, capped_stream) as second:
                assert second.status_code == 200
        await until(lambda: slots(app).open_for(address) == 0, "the streams' places freed")
    # Abruptly: the connection is reset (RST) right after the snapshot, a few times over.
    target = urlsplit(capped_stream)
    for _ in range(PER_IP + 2):
        reader, writer = await asyncio.open_connection(
            target.hostname, target.port, local_addr=(address, 0)
        )
        writer.write(f"GET {target.path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        got = b""
        while b"event: snapshot" not in got:
            chunk = await asyncio.wait_for(reader.read(65536), 10)
            assert chunk, got
            got += chunk
        assert got.startswith(b"HTTP/1.1 200")
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()  # no FIN: a reset, as from a client that vanished
        await until(lambda: slots(app).open_for(address) == 0, "a reset stream's place freed")
    assert slots(app).total_open == 0
    assert open_streams(app) == 0


async def test_streams_beyond_the_process_cap_are_refused(
    capped: tuple[FastAPI, str], capped_stream: str
) -> None:
    app, _ = capped
    before = refused("total")
    async with contextlib.AsyncExitStack() as stack:
        for n in range(TOTAL):
            ok = await stack.enter_async_context(stream_from(f"127.0.1.{n + 1}", capped_stream))
            assert ok.status_code == 200
        async with stream_from("127.0.1.100", capped_stream) as over:
            assert over.status_code == 429
            assert over.json()["error"] == "RateLimited"
            assert int(over.headers["Retry-After"]) >= 1
        assert refused("total") == before + 1
    await until(lambda: slots(app).total_open == 0, "every place freed")
    async with stream_from("127.0.1.100", capped_stream) as now:
        assert now.status_code == 200


async def test_a_refused_or_unknown_concert_takes_no_place(
    capped: tuple[FastAPI, str], capped_stream: str
) -> None:
    app, url = capped
    missing = f"{url}{CONCERTS}/{uuid.uuid4()}/seats/stream"
    for _ in range(PER_IP + 1):
        async with stream_from("127.0.0.5", missing) as r:
            assert r.status_code == 404
    assert slots(app).open_for("127.0.0.5") == 0
    async with stream_from("127.0.0.5", capped_stream) as ok:
        assert ok.status_code == 200


@pytest.fixture(scope="module")
async def short_lived(store_overrides: dict[str, Any]) -> AsyncIterator[tuple[FastAPI, str]]:
    settings = make_settings(
        sse_max_stream_seconds=1.0, sweeper_in_process=False, **store_overrides
    )
    async with running_app(settings) as app, served(app) as url:
        yield app, url


async def test_a_stream_ends_after_its_lifetime_with_a_retry_hint_and_reconnects(
    short_lived: tuple[FastAPI, str], client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    app, url = short_lived
    c = await create_concert(client, admin_headers)
    stream_url = f"{url}{CONCERTS}/{c['id']}/seats/stream"
    before = REGISTRY.get_sample_value("sse_streams_expired_total") or 0.0
    async with httpx.AsyncClient(timeout=10) as http:
        async with http.stream("GET", stream_url) as response:
            blocks = EventReader(response)
            snapshot = await blocks.next_event()
            assert snapshot["event"] == "snapshot"
            last_id = snapshot["id"]
            # Heartbeats (every 0.5 s here) until the end: a `retry` hint, then the end of
            # the body, cleanly (no error, no cut chunk).
            rest = await blocks.rest()
        hint = [line for line in rest if line.startswith("retry:")]
        assert len(hint) == 1
        assert 0 < int(hint[0].partition(":")[2]) <= 5000
        assert (REGISTRY.get_sample_value("sse_streams_expired_total") or 0.0) == before + 1
        await until(lambda: slots(app).total_open == 0, "the ended stream's place freed")
        # What a browser does next: the same URL with Last-Event-ID, a fresh snapshot.
        headers = {"Last-Event-ID": last_id}
        async with http.stream("GET", stream_url, headers=headers) as again:
            fresh = await EventReader(again).next_event()
            assert fresh["event"] == "snapshot"
            assert int(fresh["id"]) >= int(last_id)


def test_lifetimes_are_spread_so_a_crowd_does_not_come_back_at_once() -> None:
    limits = StreamSlots(per_client=0, total=0, max_seconds=600.0)
    lifetimes = [limits.lifetime() for _ in range(2000)]
    assert all(lifetime is not None and 450.0 <= lifetime <= 600.0 for lifetime in lifetimes)
    assert max(x or 0 for x in lifetimes) - min(x or 0 for x in lifetimes) > 100.0
    assert StreamSlots(per_client=0, total=0, max_seconds=0).lifetime() is None
