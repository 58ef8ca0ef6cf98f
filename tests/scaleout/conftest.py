"""Two separate app processes sharing Redis and the store, each with two workers (uvicorn's
supervisor for one, app.serve's for the other): four event loops that share nothing in memory,
so no in-process lock or cache can hide a race.

Deployments (module-scoped, one at a time):
- `redis`: the test Redis (TEST_REDIS_URL, database 5, emptied first) and a shared SQLite file
  (WAL) that all three workers write to;
- `cluster`: a Redis Cluster of three masters started for it (tests/servers/cluster.py) and
  the PostgreSQL of TEST_POSTGRES_URL when set (its own database, `encore_scaleout`), else
  another shared SQLite file.
Rate limits are off (RATE_LIMIT_ENABLED=false): the tests count 201s and 409s, not 429s.
"""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from pydantic import SecretStr
from sqlalchemy.engine import make_url

from app.auth.tokens import TokenService
from app.platform.redis import build_redis
from app.settings import Settings
from tests.backends import _reset_postgres
from tests.conftest import TEST_REDIS_URL
from tests.scaleout.launcher import AppProcess, app_env, two_processes
from tests.servers.cluster import RedisClusterServers

SCALEOUT_REDIS_DB = 5
SCALEOUT_DATABASE = "encore_scaleout"


@dataclass
class Deployment:
    redis_kind: str
    store_kind: str
    a: AppProcess  # `uvicorn --workers 2`: one socket, shared
    b: AppProcess  # `python -m app.serve --workers 2`: a socket per worker
    tokens: TokenService
    webhook_secret: str
    served: dict[str, int] = field(default_factory=dict)  # hold requests sent, per process

    @property
    def processes(self) -> tuple[AppProcess, AppProcess]:
        return (self.a, self.b)

    def url(self, n: int) -> str:
        """Process A for even n, B for odd: consecutive requests alternate between them."""
        return self.processes[n % 2].url

    def headers(self, user_id: str | None = None, role: str = "user") -> dict[str, str]:
        token = self.tokens.issue("access", user_id or f"buyer-{uuid.uuid4().hex}", role).token
        return {"Authorization": f"Bearer {token}"}


async def _postgres_database() -> str | None:
    """TEST_POSTGRES_URL's server, database `encore_scaleout`, emptied; None when not set."""
    base = os.environ.get("TEST_POSTGRES_URL")
    if not base:
        return None
    url = make_url(base).set(database=SCALEOUT_DATABASE)
    try:
        await _reset_postgres(url)
    except Exception as error:
        reason = f"PostgreSQL unreachable at {base}: {type(error).__name__}: {error}"
        if os.environ.get("REQUIRE_POSTGRES") == "1":
            pytest.fail(f"REQUIRE_POSTGRES=1 but {reason}")
        pytest.skip(reason)
    return url.render_as_string(hide_password=False)


@pytest.fixture(scope="module", params=["redis", "cluster"])
async def deployment(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Deployment]:
    workdir = tmp_path_factory.mktemp(f"scaleout-{request.param}")
    cluster: RedisClusterServers | None = None
    database_url: str | None = None
    if request.param == "cluster":
        cluster = RedisClusterServers()
        cluster.start()
        redis_url = cluster.url
        database_url = await _postgres_database()
    else:
        redis_url = f"{TEST_REDIS_URL.rsplit('/', 1)[0]}/{SCALEOUT_REDIS_DB}"
        client = build_redis(redis_url, 5.0)
        await client.flushdb()
        await client.aclose()
    store_kind = "postgres" if database_url else "sqlite"
    database_url = database_url or f"sqlite+aiosqlite:///{workdir / 'shared.db'}"

    jwt_secret, webhook_secret = secrets.token_urlsafe(48), f"whsec_{secrets.token_hex(16)}"
    env = app_env(
        workdir,
        redis_url,
        jwt_secret,
        DATABASE_URL=database_url,
        STRIPE_WEBHOOK_SECRET=webhook_secret,
        # Every worker creates the same admin at once at startup, as replicas of a release do.
        ADMIN_EMAIL="admin@example.com",
        ADMIN_PASSWORD="admin-password-123",
        SSE_HEARTBEAT_SECONDS="0.5",
    )
    try:
        with two_processes(workdir, env) as (a, b):
            tokens = TokenService(Settings(app_env="test", jwt_secret=SecretStr(jwt_secret)))
            yield Deployment(request.param, store_kind, a, b, tokens, webhook_secret)
    finally:
        if cluster is not None:
            cluster.stop()
