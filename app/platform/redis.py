"""The Redis client, built once in the lifespan."""

from __future__ import annotations

from redis.asyncio import Redis, RedisCluster

RedisClient = Redis | RedisCluster


def build_redis(url: str, timeout: float) -> RedisClient:
    """A client for a single server or, with `?cluster=true` / a `redis+cluster://` URL, a
    cluster. Bounded timeouts: a dead Redis must fail a request fast, never hang it."""
    if url.startswith("redis+cluster://") or "cluster=true" in url:
        clean = url.replace("redis+cluster://", "redis://").replace("?cluster=true", "")
        clean = clean.replace("&cluster=true", "")
        return RedisCluster.from_url(
            clean, socket_timeout=timeout, socket_connect_timeout=timeout, decode_responses=False
        )
    return Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        decode_responses=False,
        health_check_interval=30,
    )
