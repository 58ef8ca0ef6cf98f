"""An app of its own for the worker tests: a fresh SQLite store, so a reconciliation or warm-up
run sees exactly the concerts and orders these tests made (real Redis, shared)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from app.container import Container
from app.main import create_app
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, make_settings


@pytest.fixture(scope="module")
async def worker_app(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[FastAPI]:
    db = Path(tmp_path_factory.mktemp("workers")) / "workers.db"
    # No background jobs in this app: the tests run them, one step at a time.
    settings = make_settings(database_url=f"sqlite+aiosqlite:///{db}", sweeper_in_process=False)
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
def container(worker_app: FastAPI) -> Container:
    c: Container = worker_app.state.container
    return c


@pytest.fixture
async def wclient(worker_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=worker_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


@pytest.fixture
async def wadmin(wclient: httpx.AsyncClient) -> dict[str, str]:
    r = await wclient.post(
        "/api/v1/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
    )
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}
