from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from app.platform.redis import RedisClient, build_redis
from app.reservations.engine import SeatEngine
from tests.conftest import TEST_REDIS_URL


@pytest.fixture(scope="session")
async def redis() -> AsyncIterator[RedisClient]:
    client = build_redis(TEST_REDIS_URL, timeout=5.0)
    yield client
    await client.aclose()


@pytest.fixture(scope="session")
def engine(redis: RedisClient) -> SeatEngine:
    return SeatEngine(redis)


@pytest.fixture
async def concert(engine: SeatEngine) -> str:
    """A fresh concert of 100 free seats loaded into Redis."""
    concert_id = f"test-{uuid.uuid4().hex}"
    assert await engine.load(concert_id, "A" * 100, {}, {})
    return concert_id
