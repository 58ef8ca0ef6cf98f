"""Commands packed by hiredis (app/platform/redis.py) are byte for byte what redis-py packs,
and the app's client really uses that packer against a real Redis."""

from __future__ import annotations

from typing import Any

import pytest
from redis.asyncio import Redis
from redis.asyncio.connection import Connection
from redis.utils import HIREDIS_AVAILABLE

from app.platform.redis import build_redis
from tests.conftest import TEST_REDIS_URL

SAMPLES: list[tuple[Any, ...]] = [
    ("SET", "k", "v"),
    ("CONFIG GET", "maxmemory"),
    (b"ZADD", "k", 0.1234567890123, "m", 3.0, b"n", 1e-20, "o"),
    ("XADD", "s", "MAXLEN", "~", 10_000, "*", "type", "seat.held", "data", '{"a":"é"}'),
    ("EVALSHA", "0" * 40, 2, "{c}:a", "{c}:b", 12345678901234567890, -7),
    ("SET", "k", bytearray(b"raw"), "PX", 100),
    ("SET", "k", memoryview(b"view")),
]


@pytest.mark.skipif(not HIREDIS_AVAILABLE, reason="hiredis is not installed")
@pytest.mark.parametrize("args", SAMPLES)
async def test_hiredis_packing_matches_redis_py(args: tuple[Any, ...]) -> None:
    client = build_redis(TEST_REDIS_URL, 2.0)
    try:
        assert isinstance(client, Redis)
        fast = client.connection_pool.connection_class()
        assert type(fast).__name__.startswith("Hiredis")
        assert b"".join(fast.pack_command(*args)) == b"".join(Connection().pack_command(*args))
        # Pipelines go through the same packer.
        batch = [args, ("PING",)]
        assert b"".join(fast.pack_commands(batch)) == b"".join(Connection().pack_commands(batch))
    finally:
        await client.aclose()


async def test_the_client_talks_to_redis_with_it() -> None:
    client = build_redis(TEST_REDIS_URL, 2.0)
    try:
        await client.set("packing-check", "é" * 3, px=10_000)
        assert await client.get("packing-check") == "é".encode() * 3
        pipe = client.pipeline(transaction=False)
        pipe.incrbyfloat("packing-float", 0.25)
        pipe.delete("packing-check", "packing-float")
        assert await pipe.execute() == [0.25, 2]
    finally:
        await client.aclose()
