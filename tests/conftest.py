"""Shared fixtures: a real Redis, a real store, the app with its lifespan, an HTTP client.

Environment:
- TEST_REDIS_URL: the Redis to use (default redis://127.0.0.1:6379/15). `make test` starts a
  private server and points this at it.
- TEST_STORE: the store the app uses in API tests: sqlite (default, a fresh file), postgres,
  mongo or dynamodb (servers started by the tests; see tests/backends.py).
- TEST_DATABASE_URL: with TEST_STORE=sqlite, another SQL database for the API tests.
"""

from __future__ import annotations

import os

os.environ.setdefault("APP_ENV", "test")
os.environ.setdefault("LOG_JSON", "false")
os.environ.setdefault("LOG_LEVEL", "WARNING")

import atexit
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.main import create_app
from app.platform.redis import RedisClient, build_redis
from app.settings import Settings
from tests.backends import store_settings

ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "admin-password-123"
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
# DATA_DIR of the test apps: the mails of their confirmed orders go to its outbox/, not ./data.
TEST_DATA_DIR = tempfile.mkdtemp(prefix="encore-test-data-")
atexit.register(shutil.rmtree, TEST_DATA_DIR, True)


@pytest.fixture(scope="session")
async def store_overrides(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[dict[str, Any]]:
    """Settings that put the app on the store of TEST_STORE (sqlite, postgres, mongo,
    dynamodb; default sqlite), with any server it needs running for the session."""
    kind = os.environ.get("TEST_STORE", "sqlite")
    if kind == "sqlite" and os.environ.get("TEST_DATABASE_URL"):
        yield {"database_url": os.environ["TEST_DATABASE_URL"]}
        return
    async with store_settings(kind, tmp_path_factory.mktemp("store")) as overrides:
        yield overrides


def make_settings(database_url: str | None = None, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "app_env": "test",
        "redis_url": TEST_REDIS_URL,
        "data_dir": TEST_DATA_DIR,
        "admin_email": ADMIN_EMAIL,
        "admin_password": ADMIN_PASSWORD,
        "log_json": False,
        "log_level": "WARNING",
        "sse_heartbeat_seconds": 0.5,
        "rate_limit_enabled": False,  # tests/platform/test_ratelimit.py turns them on
        # Off in the shared test app: tests seed drift on purpose (and expect it to stay), and
        # tests/workers runs these jobs explicitly.
        "reconcile_interval_seconds": 0,
        "warmup_interval_seconds": 0,
    }
    if database_url is not None:
        values["database_url"] = database_url
    values.update(overrides)
    return Settings(**values)


@asynccontextmanager
async def running_app(settings: Settings) -> AsyncIterator[FastAPI]:
    """The app built from `settings`, with its lifespan (background jobs included) running."""
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@asynccontextmanager
async def http_client(app: FastAPI, **options: Any) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client calling `app` in process; `options` go to httpx.AsyncClient."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test", **options) as c:
        yield c


async def admin_login(client: httpx.AsyncClient) -> dict[str, str]:
    """Headers of the seeded admin, logged in through the API."""
    r = await client.post(
        "/api/v1/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
    )
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


@pytest.fixture(scope="session")
async def redis() -> AsyncIterator[RedisClient]:
    """A client of the test Redis, for tests that talk to Redis below the HTTP API."""
    client = build_redis(TEST_REDIS_URL, timeout=5.0)
    yield client
    await client.aclose()


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


def unique_email(prefix: str = "fan") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}@example.com"


class Account:
    """A signed-up user and the headers to act as them."""

    def __init__(self, body: dict[str, Any], password: str) -> None:
        self.body = body
        self.password = password
        self.id: str = body["user"]["id"]
        self.email: str = body["user"]["email"]
        self.access_token: str = body["access_token"]
        self.refresh_token: str = body["refresh_token"]

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


async def signup(client: httpx.AsyncClient, password: str = "correct-horse-1") -> Account:
    email = unique_email()
    r = await client.post(
        "/api/v1/auth/signup", json={"email": email, "password": password, "name": "Fan"}
    )
    assert r.status_code == 201, r.text
    return Account(r.json(), password)


@pytest.fixture
async def user(client: httpx.AsyncClient) -> Account:
    return await signup(client)


def token_headers(app: FastAPI, user_id: str, role: str = "user") -> dict[str, str]:
    """Headers of a user that needs no account row (holds only read the token): lets tests
    act as hundreds of distinct buyers without hashing hundreds of passwords."""
    token = app.state.container.tokens.issue("access", user_id, role).token
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def admin_headers(client: httpx.AsyncClient) -> dict[str, str]:
    return await admin_login(client)
