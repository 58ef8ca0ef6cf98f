"""The pipelining lane (app/platform/redis_lane.py) against a real Redis: replies reach the batch
that asked, in order, also with hundreds of batches in flight and callers that give up; error
replies stay in their place; a dead or silent server fails fast and the lane reconnects."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvloop
from fastapi import FastAPI
from redis.asyncio import Redis, RedisCluster
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from app.platform.redis import RedisClient, build_redis
from app.platform.redis_lane import RedisLane
from tests.conftest import TEST_REDIS_URL
from tests.helpers import CONCERTS, buyer, container_of, create_concert


@pytest.fixture
async def lane(redis: RedisClient) -> AsyncIterator[RedisLane]:
    made = RedisLane.of(redis)
    assert made is not None
    yield made
    await made.aclose()


def key() -> str:
    return f"lane-test:{uuid.uuid4().hex}"


async def test_replies_come_back_in_order_with_errors_in_their_place(
    lane: RedisLane, redis: RedisClient
) -> None:
    k = key()
    replies = await lane.execute(
        [
            ("SET", k, "v"),
            ("GET", k),
            ("INCR", k),  # not an integer: an error reply, not an exception
            ("EVALSHA", "0" * 40, 0),
            ("ECHO", b"\x00\xffbytes"),
            ("GET", key()),
        ]
    )
    assert replies[:2] == [b"OK", b"v"]
    assert isinstance(replies[2], ResponseError)
    assert "not an integer" in str(replies[2])
    assert isinstance(replies[3], NoScriptError)
    assert replies[4:] == [b"\x00\xffbytes", None]
    assert await redis.get(k) == b"v"
    await redis.delete(k)


async def test_hundreds_of_concurrent_batches_each_get_their_own_replies(
    lane: RedisLane,
) -> None:
    async def batch(n: int) -> list[bytes]:
        size = 1 + n % 7
        replies = await lane.execute([("ECHO", f"{n}:{i}") for i in range(size)])
        return [bytes(r) for r in replies]

    results = await asyncio.gather(*(batch(n) for n in range(500)))
    for n, replies in enumerate(results):
        assert replies == [f"{n}:{i}".encode() for i in range(1 + n % 7)]
    assert lane.batches >= 500


async def test_a_caller_that_gives_up_does_not_shift_the_next_replies(
    lane: RedisLane, redis: RedisClient
) -> None:
    k = key()
    await redis.rpush(k, "x")
    # A batch stuck behind a blocking pop; its caller is cancelled while it waits.
    stuck = asyncio.create_task(lane.execute([("BLPOP", key(), 1), ("ECHO", "stuck")]))
    await asyncio.sleep(0.1)
    stuck.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await stuck
    # Sent after it on the same connection: its replies are its own once the pop times out.
    assert await lane.execute([("ECHO", "mine"), ("LPOP", k)]) == [b"mine", b"x"]


async def test_the_lane_selects_its_database() -> None:
    other = build_redis(TEST_REDIS_URL.rsplit("/", 1)[0] + "/14", timeout=5.0)
    lane = RedisLane.of(other)
    assert lane is not None
    k = key()
    try:
        assert await lane.execute([("SET", k, "db14")]) == [b"OK"]
        assert await other.get(k) == b"db14"
    finally:
        await other.delete(k)
        await lane.aclose()
        await other.aclose()


async def test_a_wrong_password_is_a_connection_error(redis: RedisClient) -> None:
    user = f"lane-{uuid.uuid4().hex[:8]}"
    await redis.execute_command("ACL", "SETUSER", user, "on", ">right", "~*", "+@all")
    host, port = TEST_REDIS_URL.removeprefix("redis://").split("/")[0].split(":")
    try:
        good = RedisLane(host, int(port), username=user, password="right", timeout=2.0)
        assert await good.execute([("ACL", "WHOAMI")]) == [user.encode()]
        await good.aclose()
        bad = RedisLane(host, int(port), username=user, password="wrong", timeout=2.0)
        with pytest.raises(RedisConnectionError, match="refused"):
            await bad.execute([("PING",)])
        await bad.aclose()
    finally:
        await redis.execute_command("ACL", "DELUSER", user)


async def test_a_silent_server_times_out_and_a_dead_one_fails_fast() -> None:
    answered = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1 << 16)  # reads the request, never answers
        await answered.wait()
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    lane = RedisLane("127.0.0.1", port, timeout=0.3)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(RedisTimeoutError):
        await lane.execute([("PING",)])
    assert loop.time() - started < 2
    answered.set()
    server.close()
    await server.wait_closed()
    await lane.aclose()
    dead = RedisLane("127.0.0.1", port, timeout=0.3)  # nothing listens there any more
    with pytest.raises(RedisConnectionError):
        await dead.execute([("PING",)])
    await dead.aclose()


async def test_a_killed_connection_fails_its_batch_and_the_next_reconnects(
    lane: RedisLane, redis: RedisClient
) -> None:
    [client_id] = await lane.execute([("CLIENT", "ID")])
    waiting = asyncio.create_task(lane.execute([("BLPOP", key(), 5)]))
    await asyncio.sleep(0.1)
    await redis.execute_command("CLIENT", "KILL", "ID", client_id)
    with pytest.raises(RedisConnectionError):
        await waiting
    [new_id] = await lane.execute([("CLIENT", "ID")])
    assert new_id != client_id


def test_only_a_plain_single_server_gets_a_lane() -> None:
    assert RedisLane.of(Redis.from_url("redis://127.0.0.1:6379/2")) is not None
    assert RedisLane.of(Redis.from_url("unix:///tmp/redis.sock")) is None
    assert RedisLane.of(Redis.from_url("rediss://127.0.0.1:6379/0")) is None
    cluster = build_redis("redis+cluster://127.0.0.1:7000", timeout=1.0)
    assert RedisLane.of(cluster) is None


async def test_the_app_sends_its_holds_through_the_lane(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str], redis: RedisClient
) -> None:
    c = container_of(app)
    if isinstance(c.redis, RedisCluster):
        pytest.skip("a cluster has no lane")
    assert c.lane is not None
    concert = (await create_concert(client, admin_headers))["id"]
    await client.get(f"{CONCERTS}/{concert}/seats")  # loads its state
    before = c.lane.batches
    fans = [buyer(app) for _ in range(3)]
    answers = await asyncio.gather(
        *(
            client.post(f"{CONCERTS}/{concert}/holds", json={"seat_ids": [seat]}, headers=fan)
            for fan, seat in zip(fans, ("floor-A-1", "floor-A-2", "floor-A-3"), strict=True)
        )
    )
    assert [a.status_code for a in answers] == [201, 201, 201]
    assert c.lane.batches >= before + 1  # the holds (their events appended by the script)
    await c.events.drain()
    entries: Any = await redis.xrevrange(c.settings.events_stream, count=20)
    held = {fields[b"data"] for _, fields in entries if fields[b"type"] == b"seat.held"}
    for answer in answers:
        assert any(answer.json()["id"].encode() in data for data in held)


def test_the_lane_runs_on_uvloop_as_the_server_does() -> None:
    """uvicorn runs the app on uvloop, whose transports are not asyncio.Transport subclasses."""

    async def round_trip() -> list[list[Any]]:
        client = build_redis(TEST_REDIS_URL, timeout=5.0)
        lane = RedisLane.of(client)
        assert lane is not None
        try:
            both = asyncio.gather(
                lane.execute([("ECHO", "uv"), ("PING",)]), lane.execute([("ECHO", "loop")])
            )
            return list(await both)
        finally:
            await lane.aclose()
            await client.aclose()

    assert uvloop.run(round_trip()) == [[b"uv", b"PONG"], [b"loop"]]
