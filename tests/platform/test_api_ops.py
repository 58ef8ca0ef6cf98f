from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.main import create_app
from tests.conftest import http_client, make_settings, running_app


async def test_healthz(client: httpx.AsyncClient) -> None:
    r = await client.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


async def test_readyz_when_everything_answers(client: httpx.AsyncClient) -> None:
    r = await client.get("/readyz")
    assert r.status_code == 200
    assert r.json() == {
        "status": "ready",
        "checks": {"redis": "ok", "store": "ok"},
        "breakers": {"store": "closed", "payments": "closed"},
    }


async def _readyz_of(app: FastAPI) -> httpx.Response:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            return await c.get("/readyz")


async def test_readyz_is_503_when_redis_is_down(tmp_path: Path) -> None:
    settings = make_settings(
        f"sqlite+aiosqlite:///{tmp_path}/r.db",
        redis_url="redis://127.0.0.1:1/0",
        redis_timeout_seconds=0.5,
        admin_email=None,
    )
    r = await _readyz_of(create_app(settings))
    assert r.status_code == 503
    assert r.json()["status"] == "unavailable"
    assert r.json()["checks"] == {"redis": "down", "store": "ok"}
    assert r.headers["Retry-After"]


async def test_readyz_is_503_when_the_store_is_down() -> None:
    settings = make_settings(
        "postgresql+asyncpg://postgres@127.0.0.1:1/nothing",
        db_auto_migrate=False,
        admin_email=None,
        redis_timeout_seconds=0.5,
    )
    r = await _readyz_of(create_app(settings))
    assert r.status_code == 503
    assert r.json()["checks"] == {"redis": "ok", "store": "down"}


async def test_metrics_count_requests_by_route_and_status(client: httpx.AsyncClient) -> None:
    await client.get("/api/v1/concerts/does-not-exist")
    text = (await client.get("/metrics")).text
    assert "http_requests_total" in text
    assert 'route="/api/v1/concerts/{concert_id}",status="404"' in text
    assert "http_request_duration_seconds_bucket" in text


async def test_request_id_is_echoed_or_generated(client: httpx.AsyncClient) -> None:
    echoed = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert echoed.headers["X-Request-ID"] == "abc-123"
    generated = await client.get("/healthz")
    assert len(generated.headers["X-Request-ID"]) == 32
    unsafe = await client.get("/healthz", headers={"X-Request-ID": "bad id\twith spaces"})
    assert unsafe.headers["X-Request-ID"] != "bad id\twith spaces"


async def test_logs_are_json_with_the_request_id(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    from app.platform.logging import JsonFormatter

    with caplog.at_level(logging.INFO, logger="app.access"):
        await client.get("/healthz", headers={"X-Request-ID": "trace-me"})
    record = next(r for r in caplog.records if r.name == "app.access")
    # The request id is bound while the request runs; the formatter reads it from the record's
    # context, so format inside a context that has it.
    from app.platform.logging import request_id_var

    token = request_id_var.set("trace-me")
    try:
        line = json.loads(JsonFormatter().format(record))
    finally:
        request_id_var.reset(token)
    assert line["request_id"] == "trace-me"
    assert line["route"] == "/healthz"
    assert line["status"] == 200
    assert line["msg"] == "request"


async def test_access_log_false_drops_only_the_line_per_request(
    store_overrides: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(access_log=False, sweeper_in_process=False, **store_overrides)
    async with running_app(settings) as quiet, http_client(quiet) as c:
        with caplog.at_level(logging.INFO, logger="app.access"):
            r = await c.get("/healthz")
        assert r.status_code == 200
        assert r.headers["X-Request-ID"]  # the rest of the request context stays
    assert not [rec for rec in caplog.records if rec.name == "app.access"]


async def test_unknown_route_uses_the_error_shape(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/v1/nope")
    assert r.status_code == 404
    assert r.json() == {"error": "NotFound", "detail": "Not Found"}


async def test_docs_and_openapi(client: httpx.AsyncClient) -> None:
    docs = await client.get("/docs")
    assert docs.status_code == 200
    assert "swagger-ui" in docs.text
    assert "cdn" not in docs.text.lower()  # the docs must work on a machine without internet
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        r = await client.get(f"/static/docs/{asset}")
        assert r.status_code == 200
        assert len(r.content) > 10_000
    spec = (await client.get("/openapi.json")).json()
    schemes = spec["components"]["securitySchemes"]
    flow = next(iter(schemes.values()))["flows"]["password"]
    assert flow["tokenUrl"] == "/api/v1/auth/token"
    assert "/api/v1/concerts" in spec["paths"]
    assert "/api/v1/auth/refresh" in spec["paths"]
