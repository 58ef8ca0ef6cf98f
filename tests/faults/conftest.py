"""Fault tests: the app with its lifespan, over real servers the test stops and starts."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from app.settings import Settings
from tests.conftest import admin_login, http_client, running_app


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    async with running_app(settings) as app, http_client(app, timeout=60) as client:
        yield app, client


async def refused_checkouts(
    client: httpx.AsyncClient, hold_id: str, headers: dict[str, str], dependency: str, times: int
) -> list[float]:
    """Check out `hold_id` `times` times while `dependency` is down: each answer is a 503
    naming it, with a Retry-After. Answers how long each took (and prints it, for -s)."""
    timings = []
    for _ in range(times):
        started = time.perf_counter()
        r = await client.post("/api/v1/checkout", json={"hold_id": hold_id}, headers=headers)
        timings.append(time.perf_counter() - started)
        assert r.status_code == 503, r.text
        assert r.json()["error"] == "ServiceUnavailable"
        assert r.json()["dependency"] == dependency
        assert int(r.headers["Retry-After"]) >= 1
    print("503 after (s):", [round(t, 3) for t in timings])  # figures for people (-s)
    return timings


async def admin_headers(client: httpx.AsyncClient) -> dict[str, str]:
    return await admin_login(client)
