"""What is specific to running on Redis Cluster: one slot per script call, state spread over
every master, a client that waits for a connection instead of failing under a burst, the
seat stream's pub/sub across nodes, and the ways to ask for a cluster client."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from redis.asyncio import RedisCluster
from redis.crc import key_slot
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import MaxConnectionsError

from app.container import build_container
from app.payments.simulated import _idempotency_key, _intent_key
from app.platform.idempotency import _redis_key
from app.platform.ratelimit import KEY_PREFIX
from app.platform.redis import BoundedRedisCluster, RedisClient, build_redis, is_cluster_url
from app.seats.engine import (
    Held,
    SeatEngine,
    Taken,
    concert_keys,
    events_channel,
)
from app.seats.stream import Change, SeatEventHub
from app.waiting_room.engine import queue_keys
from app.workers.lease import lease_key
from app.workers.sweeper import HoldSweeper
from tests.conftest import make_settings
from tests.servers.cluster import RedisClusterServers

TTL = 60_000


def slots(*keys: str) -> set[int]:
    return {key_slot(k.encode()) for k in keys}


def cluster(client: RedisClient) -> RedisCluster:
    assert isinstance(client, RedisCluster)
    return client


def node_of(client: RedisClient, key: str) -> str:
    c = cluster(client)
    return str(c.nodes_manager.get_node_from_slot(c.keyslot(key)).name)


def concerts_on_every_master(client: RedisClient, per_node: int = 2) -> list[str]:
    """Fresh concert ids, `per_node` of them on each master."""
    found: dict[str, list[str]] = {}
    while len(found) < 3 or any(len(ids) < per_node for ids in found.values()):
        concert_id = f"spread-{uuid.uuid4().hex[:12]}"
        ids = found.setdefault(node_of(client, concert_keys(concert_id)[0]), [])
        if len(ids) < per_node:
            ids.append(concert_id)
    return [c for ids in found.values() for c in ids]


def test_every_script_call_touches_one_slot() -> None:
    """The key families each Lua script (or multi-key command) receives share one hash tag."""
    concert, user = uuid.uuid4().hex, uuid.uuid4().hex
    assert len(slots(*concert_keys(concert))) == 1  # seats, holds, exp, users, meta, channel
    assert events_channel(concert) in concert_keys(concert)
    assert len(slots(*queue_keys(concert))) == 1  # line, admitted, meta
    # One key per script call elsewhere; the tag keeps a user's / a window's keys together.
    assert len(slots(_redis_key(user, "a"), _redis_key(user, "b"))) == 1
    window = f"{KEY_PREFIX}:{{LIMITER/holds/{user}/2/1/minute}}"
    assert len(slots(window, f"{window}/-1")) == 1  # limits' current and previous window
    assert lease_key("reconciliation") == "encore:lease:{reconciliation}"
    assert _intent_key("pi_1").endswith("{pi_1}")
    assert _idempotency_key("k").startswith("sim:idem:{")


async def test_concerts_on_every_master_hold_count_and_sweep(redis: RedisClient) -> None:
    """Concerts whose keys live on three different nodes, driven through one client: scripts,
    a cross-node pipeline (counts) and the sweeper, whose registry sits on yet another slot."""
    engine = SeatEngine(redis)
    ids = concerts_on_every_master(redis)
    assert len({node_of(redis, concert_keys(c)[0]) for c in ids}) == 3
    for concert_id in ids:
        assert await engine.load(concert_id, "A" * 20, {}, {})
    results = await asyncio.gather(
        *(
            engine.hold(c, uuid.uuid4().hex, f"u{n}", [n % 3], cap=8, ttl_ms=TTL)
            for n in range(60)
            for c in ids
        )
    )
    assert sum(isinstance(r, Held) for r in results) == 3 * len(ids)  # seats 0, 1, 2 of each
    assert all(isinstance(r, Held | Taken) for r in results)
    counts = await engine.counts(ids)  # one pipeline, split per node by the client
    assert {c: (n.available, n.held) for c, n in counts.items()} == dict.fromkeys(ids, (17, 3))

    for concert_id in ids:  # short holds for the sweeper (this one, or the app's if it runs)
        short = await engine.hold(concert_id, uuid.uuid4().hex, "s", [10], cap=8, ttl_ms=200)
        assert isinstance(short, Held)
    assert set(ids) <= set(await engine.active_concerts())
    sweeper = HoldSweeper(engine, 0.1)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while [c for c in ids if (await engine.snapshot(c)).seats[10] != "A"]:
        assert loop.time() < deadline, "expired holds were not swept on every node"
        await asyncio.sleep(0.1)
        await sweeper.sweep_once()
    for concert_id in ids:
        assert (await engine.snapshot(concert_id)).seats == "HHH" + "A" * 17


async def test_a_burst_waits_for_connections_instead_of_failing(
    redis_cluster: RedisClusterServers,
) -> None:
    """redis-py's cluster nodes refuse a command beyond max_connections at once
    (MaxConnectionsError); the app's client makes it wait, as BlockingConnectionPool does."""
    client = build_redis(redis_cluster.url, timeout=5.0, max_connections=4)
    try:
        engine = SeatEngine(client)
        concert_id = f"burst-{uuid.uuid4().hex}"
        assert await engine.load(concert_id, "A" * 10, {}, {})
        results = await asyncio.gather(
            *(
                engine.hold(concert_id, uuid.uuid4().hex, f"u{n}", [3], cap=8, ttl_ms=TTL)
                for n in range(400)
            )
        )
        assert sum(isinstance(r, Held) for r in results) == 1
        assert sum(isinstance(r, Taken) for r in results) == 399
        nodes = cluster(client).get_nodes()
        assert all(len(node._connections) <= 4 for node in nodes)
    finally:
        await client.aclose()


async def test_control_a_plain_cluster_client_fails_that_burst(
    redis_cluster: RedisClusterServers,
) -> None:
    """Without the permits, the same burst gets MaxConnectionsError: the test above can tell."""
    plain = RedisCluster.from_url(
        redis_cluster.url.replace("redis+cluster://", "redis://"), max_connections=4
    )
    try:
        engine = SeatEngine(plain)
        concert_id = f"burst-{uuid.uuid4().hex}"
        assert await engine.load(concert_id, "A" * 10, {}, {})
        results = await asyncio.gather(
            *(
                engine.hold(concert_id, uuid.uuid4().hex, f"u{n}", [3], cap=8, ttl_ms=TTL)
                for n in range(400)
            ),
            return_exceptions=True,
        )
        assert any(isinstance(r, MaxConnectionsError) for r in results)
    finally:
        await plain.aclose()


async def test_waiting_for_a_connection_is_bounded(redis_cluster: RedisClusterServers) -> None:
    client = build_redis(redis_cluster.url, timeout=0.3, max_connections=1)
    try:
        assert isinstance(client, BoundedRedisCluster)
        await client.ping()
        taken, done = asyncio.Event(), asyncio.Event()

        async def hog() -> None:
            async with client.permit():  # the only permit, held by another task
                taken.set()
                await done.wait()

        hogging = asyncio.create_task(hog())
        await taken.wait()
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(RedisConnectionError, match="No connection available"):
            await client.get("k")
        assert 0.25 < loop.time() - started < 2
        done.set()
        await hogging
        assert await client.get("k") is None  # and free again
    finally:
        await client.aclose()


async def test_the_seat_stream_hears_concerts_on_every_node(
    redis_cluster: RedisClusterServers, redis: RedisClient
) -> None:
    """One pub/sub connection (on one node) hears the changes of concerts on all three: a plain
    PUBLISH is broadcast over the cluster bus. The hub's client is fresh, as in a process whose
    first Redis call is a stream subscription (the slot map must be loaded first)."""
    engine = SeatEngine(redis)
    ids = concerts_on_every_master(redis, per_node=1)
    for concert_id in ids:
        assert await engine.load(concert_id, "A" * 5, {}, {})
    fresh = build_redis(redis_cluster.url, timeout=5.0)
    hub = SeatEventHub(fresh)
    try:
        async with (
            hub.listen(ids[0]) as q0,
            hub.listen(ids[1]) as q1,
            hub.listen(ids[2]) as q2,
        ):
            for n, concert_id in enumerate(ids):
                assert isinstance(
                    await engine.hold(concert_id, uuid.uuid4().hex, "u", [n], cap=8, ttl_ms=TTL),
                    Held,
                )
            for n, queue in enumerate((q0, q1, q2)):
                item = await asyncio.wait_for(queue.get(), 5)
                assert isinstance(item, Change)
                assert item.changes == {n: "H"}
            assert hub.listener_count() == 3
    finally:
        await hub.close()
        await fresh.aclose()


async def test_the_ways_to_ask_for_a_cluster(redis_cluster: RedisClusterServers) -> None:
    plain = redis_cluster.url.replace("redis+cluster://", "redis://")
    assert is_cluster_url(redis_cluster.url)
    assert is_cluster_url(f"{plain}/0?cluster=true")
    assert not is_cluster_url(plain)
    for url, flag in (
        (plain, True),
        (f"{plain}/0?cluster=true", False),
        (redis_cluster.url, False),
    ):
        client = build_redis(url, 2.0, cluster=flag)
        try:
            assert isinstance(client, BoundedRedisCluster)
            assert await client.ping()
        finally:
            await client.aclose()
    # REDIS_CLUSTER=true: every client the app builds is a cluster client.
    container = build_container(make_settings(redis_url=plain, redis_cluster=True))
    try:
        assert isinstance(container.redis, BoundedRedisCluster)
        assert await container.redis.ping()
    finally:
        await container.close()
