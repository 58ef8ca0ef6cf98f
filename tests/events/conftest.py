"""Each test gets a stream of its own (and, for HTTP tests, an app publishing to it)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.events.schemas import DomainEvent, from_fields
from app.main import create_app
from app.platform.redis import RedisClient
from tests.conftest import make_settings


@pytest.fixture
def stream() -> str:
    return f"test:events:{uuid.uuid4().hex}"


@pytest.fixture
async def events_app(
    store_overrides: dict[str, Any], stream: str, redis: RedisClient
) -> AsyncIterator[FastAPI]:
    """An app of its own whose events go to this test's stream."""
    application = create_app(make_settings(**store_overrides, events_stream=stream))
    async with application.router.lifespan_context(application):
        yield application
    await redis.delete(stream)


@pytest.fixture
async def events_client(events_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=events_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


async def raw_entries(redis: RedisClient, stream: str) -> list[tuple[bytes, dict[bytes, bytes]]]:
    """The stream's entries as Redis sends them, oldest first."""
    entries: list[tuple[bytes, dict[bytes, bytes]]] = await redis.xrange(stream)  # type: ignore[assignment]
    return entries


async def read_stream(
    redis: RedisClient, stream: str, concert_id: str | None = None
) -> list[DomainEvent]:
    """The stream's events, oldest first; only one concert's with `concert_id` (another
    test's expired holds may be reported by this app's sweeper)."""
    events = [from_fields(i, f) for i, f in await raw_entries(redis, stream)]
    return [e for e in events if concert_id is None or e.concert_id == concert_id]


async def eventually(check: Callable[[], Awaitable[bool]], seconds: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not await check():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)
