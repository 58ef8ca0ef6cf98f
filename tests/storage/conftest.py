"""The store contract suite runs once per backend (see tests/backends.py for each kind)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from app.storage.ports import Store
from tests.backends import Backend, _postgres_backend, _sqlite_backend, open_test_store


@pytest_asyncio.fixture(
    scope="session",
    loop_scope="session",
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ],
)
async def backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Backend]:
    """The SQL backends (for SQL-specific tests), built once per session."""
    if request.param == "sqlite":
        built = await _sqlite_backend(tmp_path_factory.mktemp("sqlite"))
    else:
        built = await _postgres_backend()
    try:
        yield built
    finally:
        await built.store.close()


@pytest_asyncio.fixture(
    scope="session",
    loop_scope="session",
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
        pytest.param("mongo", id="mongo", marks=pytest.mark.mongo),
        pytest.param("dynamodb", id="dynamodb", marks=pytest.mark.dynamodb),
    ],
)
async def any_store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Store]:
    """Every backend, built once per session; tests keep apart by using unique ids."""
    async with open_test_store(request.param, tmp_path_factory.mktemp(request.param)) as store:
        yield store


@pytest.fixture
def store(any_store: Store) -> Store:
    return any_store
