"""The Redis client, built once in the lifespan."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextvars import ContextVar
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis, RedisCluster
from redis.asyncio.cluster import ClusterPipeline
from redis.exceptions import ConnectionError as RedisConnectionError

RedisClient = Redis | RedisCluster

# Connections per cluster node beyond the command permits: the seat stream's pub/sub
# connection (one per process) takes one from its node's pool for as long as it listens.
_CLUSTER_SPARE_CONNECTIONS = 4
_CLUSTER_SCHEMES = {"redis+cluster://": "redis://", "rediss+cluster://": "rediss://"}
# Set while a task holds a command permit: redis-py re-enters execute_command from inside a
# pipeline (redirections) and a script call; those must not wait for a second permit.
_HOLDS_PERMIT: ContextVar[bool] = ContextVar("redis_cluster_permit", default=False)


def is_cluster_url(url: str) -> bool:
    return url.startswith(tuple(_CLUSTER_SCHEMES)) or "cluster=true" in url


class BoundedRedisCluster(RedisCluster):
    """RedisCluster that waits for a free connection, as the single-server client does.

    redis-py's cluster nodes have plain (non-blocking) pools: with more commands in flight on
    one node than `max_connections`, the extra ones fail at once with MaxConnectionsError,
    which a burst of buyers turns into 503s. Here at most `permits` commands (or pipelines)
    are in flight per client, each using at most one connection per node, and a command waits
    up to `permit_wait` seconds for a permit (then ConnectionError, like BlockingConnectionPool).
    """

    def __init__(
        self, *args: Any, permits: int = 64, permit_wait: float = 2.0, **kwargs: Any
    ) -> None:
        kwargs.setdefault("max_connections", permits + _CLUSTER_SPARE_CONNECTIONS)
        super().__init__(*args, **kwargs)
        self._permits = asyncio.Semaphore(permits)
        self._permit_wait = permit_wait

    @contextlib.asynccontextmanager
    async def permit(self) -> AsyncIterator[None]:
        if _HOLDS_PERMIT.get():
            yield
            return
        try:
            async with asyncio.timeout(self._permit_wait):
                await self._permits.acquire()
        except TimeoutError:
            raise RedisConnectionError("No connection available.") from None
        token = _HOLDS_PERMIT.set(True)
        try:
            yield
        finally:
            _HOLDS_PERMIT.reset(token)
            self._permits.release()

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        async with self.permit():
            return await super().execute_command(*args, **kwargs)

    def pipeline(
        self, transaction: Any | None = None, shard_hint: Any | None = None
    ) -> ClusterPipeline:
        if shard_hint:
            return super().pipeline(transaction, shard_hint)  # raises, as RedisCluster does
        return _BoundedPipeline(self, transaction)  # type: ignore[abstract]  # as redis-py does


class _BoundedPipeline(ClusterPipeline):
    """A cluster pipeline that runs under one permit of its client."""

    async def execute(
        self, raise_on_error: bool = True, allow_redirections: bool = True
    ) -> list[Any]:
        client = self.cluster_client
        assert isinstance(client, BoundedRedisCluster)
        async with client.permit():
            return await super().execute(raise_on_error, allow_redirections)


def build_redis(
    url: str,
    timeout: float,
    max_connections: int = 64,
    *,
    cluster: bool = False,
    pool_wait: float | None = None,
) -> RedisClient:
    """A client for a single server or, with `cluster=True` (REDIS_CLUSTER=true), a
    `redis+cluster://` URL or `?cluster=true`, a cluster. Bounded timeouts: a dead Redis must
    fail a request fast, never hang it; a burst beyond `max_connections` commands in flight
    waits up to `pool_wait` (default `timeout`) for a free connection instead of failing."""
    wait = timeout if pool_wait is None else pool_wait
    if cluster or is_cluster_url(url):
        clean = url
        for scheme, plain in _CLUSTER_SCHEMES.items():
            if clean.startswith(scheme):
                clean = plain + clean.removeprefix(scheme)
        clean = clean.replace("?cluster=true&", "?").replace("?cluster=true", "")
        clean = clean.replace("&cluster=true", "")
        return BoundedRedisCluster.from_url(
            clean,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            decode_responses=False,
            permits=max_connections,
            permit_wait=wait,
        )
    # A blocking pool: a burst of requests beyond `max_connections` waits (up to `wait`) for a
    # free connection instead of failing with "Too many connections".
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=wait,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        decode_responses=False,
        health_check_interval=30,
    )
    return Redis.from_pool(pool)  # from_pool: closing the client closes the pool too
