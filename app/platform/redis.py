"""The Redis client, built once in the lifespan."""

from __future__ import annotations

from redis.asyncio import BlockingConnectionPool, Redis, RedisCluster

RedisClient = Redis | RedisCluster


def build_redis(url: str, timeout: float, max_connections: int = 64) -> RedisClient:
    """A client for a single server or, with `?cluster=true` / a `redis+cluster://` URL, a
    cluster. Bounded timeouts: a dead Redis must fail a request fast, never hang it."""
    if url.startswith("redis+cluster://") or "cluster=true" in url:
        clean = url.replace("redis+cluster://", "redis://").replace("?cluster=true", "")
        clean = clean.replace("&cluster=true", "")
        return RedisCluster.from_url(
            clean,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            decode_responses=False,
            max_connections=max_connections,
        )
    # A blocking pool: a burst of requests beyond `max_connections` waits (up to `timeout`)
    # for a free connection instead of failing with "Too many connections".
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=timeout,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        decode_responses=False,
        health_check_interval=30,
    )
    return Redis.from_pool(pool)  # from_pool: closing the client closes the pool too
