"""Everything in this directory runs on a real three-master Redis Cluster.

The cluster (tests/servers/cluster.py) is started when the first test here needs it and
stopped at the end of the session; without redis-server/redis-cli these tests are skipped, or
fail with REQUIRE_CLUSTER=1. The fixtures the other suites use are overridden here, so their
tests imported into this directory (see reuse.py) run unchanged against the cluster:

- `redis`: a client of the cluster, built by `build_redis` as the app builds its own;
- `store_overrides`: the settings the app tests add to `make_settings`: a fresh SQLite file
  and REDIS_URL=redis+cluster://... (so `limited_app`, `events_app` etc. use the cluster);
- `settings`, `app`, `client`: the whole app, background jobs included, on the cluster. They
  are new fixtures, not the session's others: a cached single-Redis app is never reused here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.platform.redis import RedisClient, build_redis
from app.settings import Settings
from tests.conftest import http_client, make_settings, running_app
from tests.servers.cluster import RedisClusterServers


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisClusterServers]:
    servers = RedisClusterServers()
    servers.start()
    try:
        yield servers
    finally:
        servers.stop()


@pytest.fixture(scope="session")
async def redis(redis_cluster: RedisClusterServers) -> AsyncIterator[RedisClient]:
    client = build_redis(redis_cluster.url, timeout=5.0)
    await client.ping()
    yield client
    await client.aclose()


@pytest.fixture(scope="session")
def store_overrides(
    redis_cluster: RedisClusterServers, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    db = tmp_path_factory.mktemp("cluster-store") / "store.db"
    return {"database_url": f"sqlite+aiosqlite:///{db}", "redis_url": redis_cluster.url}


@pytest.fixture(scope="session")
def settings(store_overrides: dict[str, Any]) -> Settings:
    return make_settings(**store_overrides)


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    async with running_app(settings) as application:
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with http_client(app) as c:
        yield c
