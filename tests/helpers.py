"""Helpers shared by the API tests."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI

from app.container import Container
from app.seats.engine import concert_keys
from app.settings import Settings
from app.workers.sweeper import HoldSweeper
from tests.conftest import token_headers

CONCERTS = "/api/v1/concerts"


def concert_body(**overrides: Any) -> dict[str, Any]:
    now = datetime.now(UTC).replace(microsecond=0)
    body: dict[str, Any] = {
        "title": f"Show {uuid.uuid4().hex[:8]}",
        "artist": "The Testers",
        "genre": "rock",
        "venue": {"name": "Hall", "city": "Utrecht"},
        "starts_at": (now + timedelta(days=30)).isoformat(),
        "on_sale_at": (now - timedelta(days=1)).isoformat(),
        "currency": "EUR",
        "sections": [
            {"name": "Floor", "price_cents": 5000, "rows": 2, "seats_per_row": 3},
            {"name": "Balcony", "price_cents": 3000, "rows": 1, "seats_per_row": 4},
        ],
    }
    body.update(overrides)
    return body


async def create_concert(
    client: httpx.AsyncClient, headers: dict[str, str], **overrides: Any
) -> dict[str, Any]:
    r = await client.post(CONCERTS, json=concert_body(**overrides), headers=headers)
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def container_of(app: FastAPI) -> Container:
    container: Container = app.state.container
    return container


def buyer(app: FastAPI) -> dict[str, str]:
    """Headers of a fresh, distinct buyer (a valid token; no account row needed)."""
    return token_headers(app, f"buyer-{uuid.uuid4().hex[:10]}")


# Moves one hold's expiry into the past (Redis time), as if its time had run out.
LAPSE_LUA = """
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return 0 end
local t = redis.call('TIME')
local past = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - 1
local hold = cjson.decode(raw)
hold.e = past
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(hold))
redis.call('ZADD', KEYS[2], past, ARGV[1])
return 1
"""


async def lapse_hold(container: Container, concert_id: str, hold_id: str) -> None:
    """The hold's time runs out in Redis (checked out or not) and a sweeper frees it."""
    keys = concert_keys(concert_id)
    assert await container.redis.eval(LAPSE_LUA, 2, keys[1], keys[2], hold_id) == 1
    await HoldSweeper(container.engine, 1.0).sweep_once()


def token_claims(settings: Settings, subject: str, **overrides: Any) -> dict[str, Any]:
    """An access token's claims as TokenService writes them (role admin, jti "forged"), for
    tests that sign tokens themselves; an override of None drops that claim."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "sub": subject,
        "typ": "access",
        "role": "admin",
        "jti": "forged",
        "iat": now,
        "nbf": now,
        "exp": now + 600,
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def seat_ids(concert: dict[str, Any]) -> list[str]:
    """Every seat id of a concert as the API sends it: row n's seats are numbered 1..count."""
    return [
        f"{section['id']}-{row['label']}-{n}"
        for section in concert["sections"]
        for row in section["rows"]
        for n in range(1, row["count"] + 1)
    ]
