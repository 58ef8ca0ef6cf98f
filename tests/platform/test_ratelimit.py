"""Rate limits through the real app against a real Redis (app/platform/ratelimit.py).

Each test builds its own app with the limits it needs (the shared test app runs with limits
off) and uses client addresses and users nobody else uses, so windows never carry over between
tests or runs. `PROBE` is an `/api/` path no route serves: it is counted like any other API
request and nothing else runs, which isolates the limiter from the rest of the app.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import socket
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address, IPv6Address
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY
from pydantic import ValidationError
from starlette.types import Scope

from app.main import create_app
from app.platform import ratelimit
from app.platform.client_ip import ClientAddress, parse_networks
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, make_settings, token_headers, unique_email
from tests.helpers import create_concert

PROBE = "/api/v1/rate-limit-probe"
LOGIN = "/api/v1/auth/login"
TOKEN = "/api/v1/auth/token"
CONCERTS = "/api/v1/concerts"
HIGH = "10000/minute"  # a limit a test does not mean to reach


def client_ip() -> str:
    """A fresh address from 100.64.0.0/10 (shared address space: never a real client here)."""
    return str(IPv4Address(int(IPv4Address("100.64.0.0")) + secrets.randbits(22)))


@asynccontextmanager
async def limited_app(store_overrides: dict[str, Any], **overrides: Any) -> AsyncIterator[FastAPI]:
    values: dict[str, Any] = {
        "rate_limit_enabled": True,
        "sweeper_in_process": False,
        **store_overrides,
        **overrides,
    }
    app = create_app(make_settings(**values))
    async with app.router.lifespan_context(app):
        yield app


@asynccontextmanager
async def client_at(app: FastAPI, ip: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client whose requests reach the app from `ip` (the ASGI peer address)."""
    transport = httpx.ASGITransport(app=app, client=(ip, 1234))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


def refused(scope: str) -> float:
    return REGISTRY.get_sample_value("http_rate_limited_total", {"scope": scope}) or 0.0


def assert_rate_limited(r: httpx.Response, advice: str) -> int:
    """The 429 contract: the error shape, the advice, and a whole-second Retry-After."""
    assert r.status_code == 429, r.text
    body = r.json()
    assert set(body) == {"error", "detail"}
    assert body["error"] == "RateLimited"
    retry_after = int(r.headers["Retry-After"])
    assert 1 <= retry_after <= 60
    unit = "second" if retry_after == 1 else "seconds"
    assert body["detail"] == f"{advice}; retry in {retry_after} {unit}."
    return retry_after


async def test_a_login_flood_from_one_address_is_refused_and_other_clients_are_served(
    store_overrides: dict[str, Any],
) -> None:
    async with (
        limited_app(
            store_overrides, rate_limit_auth_per_ip="3/minute", rate_limit_login_per_email=HIGH
        ) as app,
        client_at(app, client_ip()) as flooder,
        client_at(app, client_ip()) as other,
    ):
        before = refused("auth")
        for _ in range(3):
            r = await flooder.post(LOGIN, json={"email": unique_email(), "password": "guess-123"})
            assert r.status_code == 401, r.text
        for _ in range(2):
            r = await flooder.post(LOGIN, json={"email": unique_email(), "password": "guess-123"})
            assert_rate_limited(r, "Too many sign-in attempts from your network address")
        assert refused("auth") == before + 2

        r = await other.post(LOGIN, json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
        assert r.status_code == 200, r.text
        # The sign-in window is not the flooder's general one: browsing still works.
        r = await flooder.get(PROBE)
        assert r.status_code == 404, r.text


async def test_logins_for_one_email_are_limited_across_addresses_and_routes(
    store_overrides: dict[str, Any],
) -> None:
    email = unique_email()
    async with limited_app(
        store_overrides, rate_limit_login_per_email="2/minute", rate_limit_auth_per_ip=HIGH
    ) as app:
        async with client_at(app, client_ip()) as c:
            r = await c.post(LOGIN, json={"email": email, "password": "guess-123"})
            assert r.status_code == 401, r.text
        async with client_at(app, client_ip()) as c:  # the OAuth2 form counts for the same email
            r = await c.post(TOKEN, data={"username": email.upper(), "password": "guess-123"})
            assert r.status_code == 401, r.text
        async with client_at(app, client_ip()) as c:
            r = await c.post(LOGIN, json={"email": email, "password": "guess-123"})
            assert_rate_limited(r, "Too many login attempts for this account")
            r = await c.post(LOGIN, json={"email": unique_email(), "password": "guess-123"})
            assert r.status_code == 401, r.text


async def test_holds_are_limited_per_user(store_overrides: dict[str, Any]) -> None:
    async with (
        limited_app(store_overrides, rate_limit_holds_per_user="2/minute") as app,
        client_at(app, client_ip()) as c,
    ):
        concert = await create_concert(c, token_headers(app, f"admin-{uuid.uuid4().hex}", "admin"))
        holds = f"{CONCERTS}/{concert['id']}/holds"
        me = token_headers(app, f"buyer-{uuid.uuid4().hex}")
        first = await c.post(holds, json={"seat_ids": ["floor-A-1"]}, headers=me)
        assert first.status_code == 201, first.text
        r = await c.post(holds, json={"seat_ids": ["floor-A-2"]}, headers=me)
        assert r.status_code == 201, r.text
        before = refused("holds")
        r = await c.post(holds, json={"seat_ids": ["floor-A-3"]}, headers=me)
        assert_rate_limited(r, "Too many hold attempts from your account")
        assert refused("holds") == before + 1

        # Nothing was held by the refused request, the user's other routes still answer, and
        # another buyer on the same address holds as usual.
        r = await c.get(f"/api/v1/holds/{first.json()['id']}", headers=me)
        assert r.status_code == 200, r.text
        other = token_headers(app, f"buyer-{uuid.uuid4().hex}")
        r = await c.post(holds, json={"seat_ids": ["floor-A-3"]}, headers=other)
        assert r.status_code == 201, r.text


async def test_requests_are_limited_per_user_and_only_by_verified_tokens(
    store_overrides: dict[str, Any],
) -> None:
    async with (
        limited_app(store_overrides, rate_limit_per_user="2/minute") as app,
        client_at(app, client_ip()) as c,
    ):
        user_id = f"victim-{uuid.uuid4().hex}"
        victim = token_headers(app, user_id)
        now = datetime.now(UTC)
        forged = jwt.encode(
            {"sub": user_id, "typ": "access", "iat": now, "exp": now + timedelta(minutes=5)},
            "not-our-secret-not-our-secret-not-our-secret",
            algorithm="HS256",
        )
        for _ in range(3):  # someone else's token with the victim's id spends nothing of theirs
            r = await c.get(PROBE, headers={"Authorization": f"Bearer {forged}"})
            assert r.status_code == 404, r.text
        for _ in range(2):
            assert (await c.get(PROBE, headers=victim)).status_code == 404
        assert_rate_limited(
            await c.get(PROBE, headers=victim), "Too many requests from your account"
        )
        # The address is not the one over its limit: another user there is served.
        other = token_headers(app, f"other-{uuid.uuid4().hex}")
        assert (await c.get(PROBE, headers=other)).status_code == 404


async def test_x_forwarded_for_from_an_untrusted_peer_is_ignored(
    store_overrides: dict[str, Any],
) -> None:
    async with (
        limited_app(
            store_overrides, rate_limit_default_per_ip="2/minute", trusted_proxies="10.0.0.0/8"
        ) as app,
        client_at(app, client_ip()) as c,
    ):
        for _ in range(2):
            r = await c.get(PROBE, headers={"X-Forwarded-For": client_ip()})
            assert r.status_code == 404, r.text
        r = await c.get(PROBE, headers={"X-Forwarded-For": client_ip()})
        assert_rate_limited(r, "Too many requests from your network address")


async def test_x_forwarded_for_from_a_trusted_proxy_names_the_client(
    store_overrides: dict[str, Any],
) -> None:
    async with (
        limited_app(
            store_overrides,
            rate_limit_default_per_ip="2/minute",
            trusted_proxies="10.0.0.0/8, 192.0.2.7",
        ) as app,
        client_at(app, "10.0.0.1") as proxy,
    ):
        client = client_ip()
        for _ in range(2):  # what the client wrote on the left is not believed
            chain = f"{client_ip()}, {client}, 192.0.2.7"
            r = await proxy.get(PROBE, headers={"X-Forwarded-For": chain})
            assert r.status_code == 404, r.text
        r = await proxy.get(PROBE, headers={"X-Forwarded-For": f"{client_ip()}, {client}"})
        assert_rate_limited(r, "Too many requests from your network address")
        # Other clients behind the same proxy have their own windows.
        r = await proxy.get(PROBE, headers={"X-Forwarded-For": client_ip()})
        assert r.status_code == 404, r.text


async def test_ipv6_clients_count_per_64(store_overrides: dict[str, Any]) -> None:
    prefix = int(IPv6Address("2001:db8::")) + (secrets.randbits(32) << 64)
    one, two = (str(IPv6Address(prefix + n)) for n in (1, 2))
    async with limited_app(store_overrides, rate_limit_default_per_ip="2/minute") as app:
        async with client_at(app, one) as c:
            assert (await c.get(PROBE)).status_code == 404
        async with client_at(app, two) as c:
            assert (await c.get(PROBE)).status_code == 404
            assert (await c.get(PROBE)).status_code == 429


async def test_operational_routes_and_webhooks_are_not_limited(
    store_overrides: dict[str, Any],
) -> None:
    async with (
        limited_app(store_overrides, rate_limit_default_per_ip="1/minute") as app,
        client_at(app, client_ip()) as c,
    ):
        for _ in range(3):
            assert (await c.get("/healthz")).status_code == 200
            assert (await c.get("/metrics")).status_code == 200
            r = await c.post("/api/v1/webhooks/stripe", content=b"{}")
            assert r.status_code == 400, r.text  # refused for its signature, never throttled
        assert (await c.get(PROBE)).status_code == 404
        assert (await c.get(PROBE)).status_code == 429


async def test_a_browser_can_read_the_429(store_overrides: dict[str, Any]) -> None:
    """CORS wraps the limiter: the refusal carries the CORS headers, preflights are free."""
    origin = {"Origin": "http://shop.example"}
    async with (
        limited_app(
            store_overrides, rate_limit_default_per_ip="1/minute", cors_origins=origin["Origin"]
        ) as app,
        client_at(app, client_ip()) as c,
    ):
        preflight = {**origin, "Access-Control-Request-Method": "GET"}
        for _ in range(3):
            assert (await c.options(PROBE, headers=preflight)).status_code == 200
        assert (await c.get(PROBE, headers=origin)).status_code == 404
        r = await c.get(PROBE, headers=origin)
        assert r.status_code == 429
        assert r.headers["Access-Control-Allow-Origin"] == origin["Origin"]


async def test_rate_limit_enabled_false_turns_them_off(store_overrides: dict[str, Any]) -> None:
    async with (
        limited_app(
            store_overrides,
            rate_limit_enabled=False,
            rate_limit_default_per_ip="1/minute",
            rate_limit_auth_per_ip="1/minute",
        ) as app,
        client_at(app, client_ip()) as c,
    ):
        assert app.state.rate_limiter is None
        for _ in range(3):
            assert (await c.get(PROBE)).status_code == 404
            r = await c.post(LOGIN, json={"email": unique_email(), "password": "guess-123"})
            assert r.status_code == 401, r.text


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@asynccontextmanager
async def silent_server() -> AsyncIterator[int]:
    """A TCP server that accepts connections and never answers: a hung Redis."""

    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await reader.read(4096):
            pass
        writer.close()

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize("failure", ["refused", "hung"])
async def test_an_unreachable_redis_lets_requests_through_quickly(
    store_overrides: dict[str, Any], monkeypatch: pytest.MonkeyPatch, failure: str
) -> None:
    # Long enough that a loaded CI machine finishes the first request and the ten below well
    # inside the pause (one failure, one log line), short enough to wait out below.
    monkeypatch.setattr(ratelimit, "FAIL_OPEN_SECONDS", 2.0)
    records = Records()
    logging.getLogger(ratelimit.__name__).addHandler(records)
    try:
        async with silent_server() as hung_port:
            port = hung_port if failure == "hung" else free_port()
            async with (
                limited_app(
                    store_overrides,
                    redis_url=f"redis://127.0.0.1:{port}/0",
                    rate_limit_default_per_ip="1/minute",
                    rate_limit_timeout_seconds=0.2,
                ) as app,
                client_at(app, client_ip()) as c,
            ):
                failures = REGISTRY.get_sample_value("rate_limiter_failures_total") or 0.0
                started = time.perf_counter()
                assert (await c.get(PROBE)).status_code == 404
                assert time.perf_counter() - started < 1.0  # one bounded attempt
                # Paused: no more attempts (nor log lines) for a while, so no more waiting.
                started = time.perf_counter()
                for _ in range(10):
                    assert (await c.get(PROBE)).status_code == 404
                assert time.perf_counter() - started < 0.4
                assert REGISTRY.get_sample_value("rate_limiter_failures_total") == failures + 1
                assert len(records.messages) == 1
                assert "let through unchecked" in records.messages[0]
                # After the pause it tries again (and still lets the request through).
                await asyncio.sleep(2.1)
                assert (await c.get(PROBE)).status_code == 404
                assert REGISTRY.get_sample_value("rate_limiter_failures_total") == failures + 2
                assert len(records.messages) == 2
    finally:
        logging.getLogger(ratelimit.__name__).removeHandler(records)


async def test_openapi_documents_429_on_limited_routes(store_overrides: dict[str, Any]) -> None:
    async with limited_app(store_overrides) as app, client_at(app, client_ip()) as c:
        paths = (await c.get("/openapi.json")).json()["paths"]
    for path, method in [
        ("/api/v1/concerts", "get"),
        ("/api/v1/concerts/{concert_id}/holds", "post"),
        ("/api/v1/auth/login", "post"),
    ]:
        entry = paths[path][method]["responses"]["429"]
        assert "RateLimited" in entry["description"]
        assert "Retry-After" in entry["headers"]
        assert entry["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/ErrorBody"
        }
    assert "429" not in paths["/healthz"]["get"]["responses"]
    assert "429" not in paths["/api/v1/webhooks/stripe"]["post"]["responses"]


async def test_the_stricter_windows_apply_to_exactly_their_routes(
    store_overrides: dict[str, Any],
) -> None:
    """Routes declare their own windows (`route_limits`, shown as `x-rate-limit` in the
    OpenAPI document): exactly the sign-in, email verification, hold, queue-join, challenge and
    door routes do."""
    async with limited_app(store_overrides) as app, client_at(app, client_ip()) as c:
        paths = (await c.get("/openapi.json")).json()["paths"]
    declared = {
        f"{method.upper()} {path}": operation["x-rate-limit"]
        for path, item in paths.items()
        for method, operation in item.items()
        if "x-rate-limit" in operation
    }
    auth = {"ip": "auth", "user": "user"}
    assert declared == {
        "POST /api/v1/auth/login": auth,
        "POST /api/v1/auth/signup": auth,
        "POST /api/v1/auth/refresh": auth,
        "POST /api/v1/auth/token": auth,
        "POST /api/v1/auth/password": auth,
        "POST /api/v1/auth/verify-email": auth,
        "POST /api/v1/auth/verify-email/resend": {
            "ip": "verify_resend_ip",
            "user": "verify_resend",
        },
        "GET /api/v1/concerts/{concert_id}/queue/challenge": {"ip": "challenge", "user": "user"},
        "POST /api/v1/concerts/{concert_id}/holds": {"ip": "ip", "user": "holds"},
        "POST /api/v1/concerts/{concert_id}/queue": {"ip": "queue", "user": "user"},
        "POST /api/v1/concerts/{concert_id}/check-ins": {
            "ip": "ip",
            "user": "user",
            "organisers": "door",
        },
    }


def scope(peer: str | None, *forwarded: str) -> Scope:
    return {
        "type": "http",
        "client": (peer, 1234) if peer else None,
        "headers": [(b"x-forwarded-for", value.encode()) for value in forwarded],
    }


TRUSTED = parse_networks("10.0.0.0/8, 2001:db8:ffff::/48")


@pytest.mark.parametrize(
    ("trusted", "request_scope", "expected"),
    [
        ((), scope("192.0.2.1", "198.51.100.9"), "192.0.2.1"),
        (TRUSTED, scope("192.0.2.1", "198.51.100.9"), "192.0.2.1"),
        (TRUSTED, scope("10.0.0.1", "198.51.100.9"), "198.51.100.9"),
        (TRUSTED, scope("10.0.0.1", "6.6.6.6, 198.51.100.9, 10.0.0.7"), "198.51.100.9"),
        (TRUSTED, scope("10.0.0.1", "6.6.6.6", "198.51.100.9"), "198.51.100.9"),
        (TRUSTED, scope("10.0.0.1"), "10.0.0.1"),
        (TRUSTED, scope("10.0.0.1", "10.0.0.9, 10.0.0.8"), "10.0.0.9"),
        (TRUSTED, scope("10.0.0.1", "198.51.100.9, garbage"), "10.0.0.1"),
        (TRUSTED, scope("10.0.0.1", "198.51.100.9:5678"), "198.51.100.9"),
        (TRUSTED, scope("10.0.0.1", "[2001:db8::1]:443"), "2001:db8::1"),
        (TRUSTED, scope("::ffff:10.0.0.1", "198.51.100.9"), "198.51.100.9"),
        (TRUSTED, scope("2001:db8:ffff::1", "198.51.100.9"), "198.51.100.9"),
        (TRUSTED, scope(None, "198.51.100.9"), "unknown"),
    ],
)
def test_client_address(trusted: Any, request_scope: Scope, expected: str) -> None:
    assert ClientAddress(trusted)(request_scope) == expected


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"rate_limit_per_user": "lots"}, "RATE_LIMIT_PER_USER='lots' is not a rate limit"),
        ({"rate_limit_holds_per_user": "10/second;100/minute"}, "RATE_LIMIT_HOLDS_PER_USER"),
        ({"rate_limit_auth_per_ip": "0/minute"}, "RATE_LIMIT_AUTH_PER_IP"),
        ({"trusted_proxies": "10.0.0.0/8, proxy.local"}, "'proxy.local' is not an IP address"),
    ],
)
def test_settings_refuse_what_they_cannot_use(overrides: dict[str, str], fragment: str) -> None:
    with pytest.raises(ValidationError, match=fragment):
        make_settings(**overrides)


async def test_concurrent_requests_share_one_window_exactly(
    store_overrides: dict[str, Any],
) -> None:
    """200 requests at once from one address against a limit of 50, in one process: the
    windows of concurrent requests are batched into shared script calls, and exactly 50 get
    through, the rest answer 429, whatever the batching."""
    async with limited_app(store_overrides, rate_limit_default_per_ip="50/minute") as app:
        ip = client_ip()
        async with client_at(app, ip) as c:
            answers = await asyncio.gather(*(c.get(PROBE) for _ in range(200)))
        codes = [r.status_code for r in answers]
        assert codes.count(404) == 50, codes
        assert codes.count(429) == 150, codes
        limiter: ratelimit.RateLimiter = app.state.rate_limiter
        assert limiter.calls < 200  # batched: fewer script calls than requests
        # Another address has its own window, untouched by the flood.
        async with client_at(app, client_ip()) as other:
            assert (await other.get(PROBE)).status_code == 404
