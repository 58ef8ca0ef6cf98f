"""Who is calling (app/auth/principal.py): one verification per token per process, shared by
the rate limiter and the routes, never for another token and never once the token expired."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.types import Scope

from app.auth.principal import Principals
from app.auth.tokens import LEEWAY_SECONDS, Claims, TokenService, TokenType
from app.errors import NotAuthenticated
from app.main import create_app
from tests.conftest import make_settings, token_headers

MY_ORDERS = "/api/v1/me/orders"


def scope_with(token: str) -> Scope:
    return {"type": "http", "headers": [(b"authorization", f"Bearer {token}".encode())]}


def counting_decode(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    decode = TokenService.decode

    def counting(self: TokenService, token: str, expected: TokenType) -> Claims:
        calls.append(token)
        return decode(self, token, expected)

    monkeypatch.setattr(TokenService, "decode", counting)
    return calls


def test_a_token_is_verified_once_and_then_remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    tokens = TokenService(make_settings())
    calls = counting_decode(monkeypatch)
    principals = Principals(tokens)
    token = tokens.issue("access", "buyer-1", "user").token
    other = tokens.issue("access", "buyer-2", "admin").token
    first = principals.of_request(scope_with(token))
    assert first is not None
    assert (first.id, first.role) == ("buyer-1", "user")
    assert principals.verify(token) == first
    assert principals.of_request(scope_with(token)) == first
    admin = principals.of_request(scope_with(other))
    assert admin is not None
    assert admin.id == "buyer-2"
    assert admin.is_admin
    assert calls == [token, other]


def test_refresh_tokens_forgeries_and_odd_headers_are_nobody() -> None:
    tokens = TokenService(make_settings())
    refresh = tokens.issue("refresh", "buyer-1", "user").token
    forged = TokenService(make_settings(jwt_secret="x" * 48)).issue("access", "admin", "admin")
    principals = Principals(tokens)
    for token in (refresh, forged.token, "not-a-jwt"):
        assert principals.of_request(scope_with(token)) is None
        with pytest.raises(NotAuthenticated):
            principals.verify(token)
    good = tokens.issue("access", "buyer-1", "user").token
    for header in (f"Basic {good}", f"Bearer{good}", "Bearer ", "x" * 5000):
        assert (
            principals.of_request(
                {"type": "http", "headers": [(b"authorization", header.encode())]}
            )
            is None
        )
    assert principals.of_request({"type": "http", "headers": []}) is None


def test_an_expired_token_is_not_remembered_past_its_expiry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tokens = TokenService(make_settings())
    principals = Principals(tokens)
    token = tokens.issue("access", "buyer-1", "user").token
    principal = principals.verify(token)
    # Past the expiry plus the leeway TokenService.decode allows: the cache is not used, and
    # the token is decoded again (which PyJWT, on its own clock, then refuses).
    later = principal.expires_at + LEEWAY_SECONDS + 1
    monkeypatch.setattr(time, "time", lambda: later)

    def expired(self: TokenService, token: str, expected: TokenType) -> Claims:
        raise NotAuthenticated("The token has expired; refresh it or log in again.")

    monkeypatch.setattr(TokenService, "decode", expired)
    with pytest.raises(NotAuthenticated, match="expired"):
        principals.verify(token)
    assert principals.of_request(scope_with(token)) is None


def test_the_cache_is_bounded() -> None:
    tokens = TokenService(make_settings())
    principals = Principals(tokens, size=3)
    issued = [tokens.issue("access", f"buyer-{n}", "user").token for n in range(5)]
    for token in issued:
        principals.verify(token)
    assert list(principals._known) == issued[-3:]


@asynccontextmanager
async def app_client(store_overrides: dict[str, Any], limits: bool) -> AsyncIterator[
    tuple[FastAPI, httpx.AsyncClient]
]:  # fmt: skip
    settings = make_settings(
        rate_limit_enabled=limits,
        rate_limit_default_per_ip="10000/minute",
        rate_limit_per_user="10000/minute",
        sweeper_in_process=False,
        **store_overrides,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield app, client


@pytest.mark.parametrize("limits", [True, False])
async def test_one_verification_per_token_with_or_without_the_limiter(
    store_overrides: dict[str, Any], monkeypatch: pytest.MonkeyPatch, limits: bool
) -> None:
    calls = counting_decode(monkeypatch)
    async with app_client(store_overrides, limits) as (app, client):
        headers = token_headers(app, f"buyer-{uuid.uuid4().hex}")
        for _ in range(3):
            r = await client.get(MY_ORDERS, headers=headers)
            assert r.status_code == 200, r.text
        assert len(calls) == 1
        # Someone else's secret: refused, whether or not the limiter looked at it first.
        forged = TokenService(make_settings(jwt_secret="y" * 48)).issue("access", "x", "admin")
        r = await client.get(MY_ORDERS, headers={"Authorization": f"Bearer {forged.token}"})
        assert r.status_code == 401, r.text
