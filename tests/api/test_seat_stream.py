"""The live seat stream (SSE) through a real HTTP server: snapshot, changes, heartbeats."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from tests.api.helpers import CONCERTS, create_concert
from tests.conftest import token_headers


@pytest.fixture(scope="module")
async def live_url(app: FastAPI) -> AsyncIterator[str]:
    """The session's app served by uvicorn on a free port (lifespan already running)."""
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
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await asyncio.wait_for(task, timeout=10)


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
    seats = [s for sec in c["sections"] for row in sec["rows"] for s in row["seats"]]
    stream_url = f"{live_url}{CONCERTS}/{c['id']}/seats/stream"
    async with (
        httpx.AsyncClient(timeout=10) as http,
        http.stream("GET", stream_url) as response,
    ):
        events = EventReader(response)
        snapshot = json.loads((await events.next_event())["data"])
        state = {
            seat: status
            for sec, snap_sec in zip(c["sections"], snapshot["sections"], strict=True)
            for row, snap_row in zip(sec["rows"], snap_sec["rows"], strict=True)
            for seat, status in zip(row["seats"], snap_row["status"], strict=True)
        }

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
