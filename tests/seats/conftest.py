from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from app.platform.redis import RedisClient
from app.platform.redis_lane import RedisLane
from app.seats.engine import SeatEngine


@pytest.fixture(params=["redis-py", "lane"])
async def engine(redis: RedisClient, request: pytest.FixtureRequest) -> AsyncIterator[SeatEngine]:
    """Both ways a single server's batches go out: redis-py pipelines, and the lane
    (app/platform/redis_lane.py) the app uses by default. Function-scoped: a parametrized
    session fixture makes pytest regroup the whole run by parameter, moving these tests (and
    their short-lived holds, which the shared app's sweeper then expires) among others."""
    lane = None
    if request.param == "lane":
        lane = RedisLane.of(redis)
        if lane is None:
            pytest.skip("this Redis gets no lane (a cluster): the redis-py run covers it")
    yield SeatEngine(redis, lane=lane)
    if lane is not None:
        await lane.aclose()


@pytest.fixture
async def concert(engine: SeatEngine) -> str:
    """A fresh concert of 100 free seats loaded into Redis."""
    concert_id = f"test-{uuid.uuid4().hex}"
    assert await engine.load(concert_id, "A" * 100, {}, {})
    return concert_id
