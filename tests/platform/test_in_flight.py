"""The in-flight cap (app/platform/in_flight.py): beyond HTTP_MAX_IN_FLIGHT API requests in
progress, a process answers 429 at once; webhooks, streams and operational routes are never
shed; the count comes back down whatever the requests' outcome."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from app.platform.in_flight import InFlightLimit
from tests.conftest import http_client, make_settings, running_app

released = asyncio.Event()


async def slow(request: Request) -> Response:
    await released.wait()
    return PlainTextResponse("done")


async def broken(request: Request) -> Response:
    raise RuntimeError("boom")


def shed_count() -> float:
    return REGISTRY.get_sample_value("http_rate_limited_total", {"scope": "busy"}) or 0.0


def capped(limit: int) -> InFlightLimit:
    paths = [
        "/api/v1/slow",
        "/api/v1/webhooks/stripe",
        "/api/v1/concerts/c1/seats/stream",
        "/api/v1/concerts/c1/stream",
        "/api/v1/auth/login/stream",
        "/healthz",
    ]
    routes = [Route(p, slow) for p in paths] + [Route("/api/v1/broken", broken)]
    return InFlightLimit(Starlette(routes=routes), limit=limit)


async def test_requests_beyond_the_cap_are_refused_at_once_and_the_rest_served() -> None:
    released.clear()
    app = capped(3)
    before = shed_count()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        held = [asyncio.ensure_future(c.get("/api/v1/slow")) for _ in range(3)]
        await asyncio.sleep(0.05)
        assert app.in_flight == 3
        refused = await asyncio.wait_for(
            asyncio.gather(*(c.get("/api/v1/slow") for _ in range(20))), timeout=2
        )
        for r in refused:
            assert r.status_code == 429
            assert r.headers["Retry-After"] == "1"
            assert r.json() == {
                "error": "RateLimited",
                "detail": "The service is busy with a crowd right now; retry in 1 second.",
            }
        assert shed_count() == before + 20
        # Never shed: webhooks, live streams, operational routes.
        exempt = [
            asyncio.ensure_future(c.get(p))
            for p in ("/api/v1/webhooks/stripe", "/api/v1/concerts/c1/seats/stream", "/healthz")
        ]
        await asyncio.sleep(0.05)
        assert not any(f.done() for f in exempt)  # they are in, waiting like the first three
        released.set()
        assert [r.status_code for r in await asyncio.gather(*held, *exempt)] == [200] * 6
        assert app.in_flight == 0
        assert (await c.get("/api/v1/slow")).status_code == 200


async def test_a_failing_request_gives_its_place_back() -> None:
    app = capped(1)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        for _ in range(3):
            assert (await c.get("/api/v1/broken")).status_code == 500
        assert app.in_flight == 0


@pytest.mark.parametrize("cap", [0, 2])
async def test_the_setting_installs_the_cap(store_overrides: dict[str, Any], cap: int) -> None:
    settings = make_settings(http_max_in_flight=cap, sweeper_in_process=False, **store_overrides)
    async with running_app(settings) as app, http_client(app) as c:
        found = [m for m in app.user_middleware if getattr(m, "cls", None) == InFlightLimit]
        assert len(found) == (1 if cap else 0)
        # Documented wherever it can answer, also with the rate limits off.
        schema = (await c.get("/openapi.json")).json()
        browse = schema["paths"]["/api/v1/concerts"]["get"]["responses"]
        assert ("429" in browse) == bool(cap)


@pytest.mark.parametrize("path", ["/api/v1/concerts/c1/stream", "/api/v1/auth/login/stream"])
async def test_only_the_seat_stream_is_exempt_not_any_path_ending_in_stream(path: str) -> None:
    """The exemption is for the seat stream (it has caps of its own: app/seats/stream.py), not
    for every path a client can make end in `/stream`."""
    released.clear()
    app = capped(1)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        held = asyncio.ensure_future(c.get("/api/v1/slow"))
        await asyncio.sleep(0.05)
        assert (await asyncio.wait_for(c.get(path), timeout=2)).status_code == 429
        stream = asyncio.ensure_future(c.get("/api/v1/concerts/c1/seats/stream"))
        await asyncio.sleep(0.05)
        assert not stream.done()  # in, not shed
        released.set()
        assert [r.status_code for r in await asyncio.gather(held, stream)] == [200, 200]
