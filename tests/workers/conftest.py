"""An app of its own for the worker tests: a fresh SQLite store, so a reconciliation or warm-up
run sees exactly the concerts and orders these tests made (real Redis, shared)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from app.container import Container
from tests.conftest import admin_login, http_client, make_settings, running_app


@pytest.fixture(scope="module")
async def worker_app(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[FastAPI]:
    db = Path(tmp_path_factory.mktemp("workers")) / "workers.db"
    # No background jobs in this app: the tests run them, one step at a time.
    settings = make_settings(database_url=f"sqlite+aiosqlite:///{db}", sweeper_in_process=False)
    async with running_app(settings) as application:
        yield application


@pytest.fixture
def container(worker_app: FastAPI) -> Container:
    c: Container = worker_app.state.container
    return c


@pytest.fixture
async def wclient(worker_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with http_client(worker_app) as c:
        yield c


@pytest.fixture
async def wadmin(wclient: httpx.AsyncClient) -> dict[str, str]:
    return await admin_login(wclient)
