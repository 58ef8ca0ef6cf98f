"""One token verification per request: the rate limiter stashes the verified claims in the
ASGI scope and `current_user` reuses them (docs/performance.md), never for another token and
never once the token has expired."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.types import Scope

from app.auth.tokens import Claims, TokenService, TokenType
from app.errors import NotAuthenticated
from app.main import create_app
from app.platform import ratelimit
from app.platform.ratelimit import VERIFIED_ACCESS_KEY, TokenSubjects, verified_access
from tests.conftest import make_settings, token_headers

MY_ORDERS = "/api/v1/me/orders"


def scope_with(token: str) -> Scope:
    return {"type": "http", "headers": [(b"authorization", f"Bearer {token}".encode())]}


def test_the_limiter_stashes_the_claims_of_exactly_this_token() -> None:
    tokens = TokenService(make_settings())
    token = tokens.issue("access", "buyer-1", "user").token
    other = tokens.issue("access", "buyer-2", "user").token
    subjects = TokenSubjects(tokens)
    scope = scope_with(token)
    assert subjects(scope) == "buyer-1"
    claims = verified_access(scope, token)
    assert claims is not None
    assert (claims.sub, claims.role, claims.typ) == ("buyer-1", "user", "access")
    assert verified_access(scope, other) is None  # another bearer value: decoded on its own
    assert verified_access({"type": "http", "headers": []}, token) is None


def test_refresh_tokens_and_forgeries_are_not_stashed() -> None:
    tokens = TokenService(make_settings())
    refresh = tokens.issue("refresh", "buyer-1", "user").token
    forged = TokenService(make_settings(jwt_secret="x" * 48)).issue("access", "admin", "admin")
    subjects = TokenSubjects(tokens)
    for token in (refresh, forged.token, "not-a-jwt"):
        scope = scope_with(token)
        assert subjects(scope) is None
        assert VERIFIED_ACCESS_KEY not in scope


def test_an_expired_token_is_neither_reused_nor_remembered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tokens = TokenService(make_settings())
    token = tokens.issue("access", "buyer-1", "user").token
    subjects = TokenSubjects(tokens)
    scope = scope_with(token)
    assert subjects(scope) == "buyer-1"
    claims = verified_access(scope, token)
    assert claims is not None
    # Past the expiry plus the leeway TokenService.decode allows: the stash and the LRU are
    # refused, and decoding again fails as it would without them.
    later = claims.expires_at.timestamp() + ratelimit.TOKEN_LEEWAY_SECONDS + 1
    monkeypatch.setattr(time, "time", lambda: later)
    assert verified_access(scope, token) is None

    def expired(self: TokenService, token: str, expected: TokenType) -> Claims:
        raise NotAuthenticated("The token has expired; refresh it or log in again.")

    monkeypatch.setattr(TokenService, "decode", expired)
    fresh_scope = scope_with(token)
    assert subjects(fresh_scope) is None
    assert VERIFIED_ACCESS_KEY not in fresh_scope


def test_a_stash_with_past_expiry_is_refused() -> None:
    past = datetime.now(UTC) - timedelta(minutes=1)
    claims = Claims("buyer-1", "jti", "access", "user", None, past - timedelta(minutes=15), past)
    scope: Scope = {"type": "http", "headers": [], VERIFIED_ACCESS_KEY: ("tok", claims)}
    assert verified_access(scope, "tok") is None


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
async def test_one_verification_per_request(
    store_overrides: dict[str, Any], monkeypatch: pytest.MonkeyPatch, limits: bool
) -> None:
    calls: list[str] = []
    decode = TokenService.decode

    def counting(self: TokenService, token: str, expected: TokenType) -> Claims:
        calls.append(expected)
        return decode(self, token, expected)

    monkeypatch.setattr(TokenService, "decode", counting)
    async with app_client(store_overrides, limits) as (app, client):
        headers = token_headers(app, f"buyer-{uuid.uuid4().hex}")
        r = await client.get(MY_ORDERS, headers=headers)
        assert r.status_code == 200, r.text
        assert calls == ["access"]
        # Someone else's secret: refused, whether or not the limiter looked at it first.
        forged = TokenService(make_settings(jwt_secret="y" * 48)).issue("access", "x", "admin")
        r = await client.get(MY_ORDERS, headers={"Authorization": f"Bearer {forged.token}"})
        assert r.status_code == 401, r.text
