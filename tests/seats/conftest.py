from __future__ import annotations

import uuid

import pytest

from app.platform.redis import RedisClient
from app.seats.engine import SeatEngine


@pytest.fixture
async def engine(redis: RedisClient) -> SeatEngine:
    return SeatEngine(redis)


@pytest.fixture
async def concert(engine: SeatEngine) -> str:
    """A fresh concert of 100 free seats loaded into Redis."""
    concert_id = f"test-{uuid.uuid4().hex}"
    assert await engine.load(concert_id, "A" * 100, {}, {})
    return concert_id
