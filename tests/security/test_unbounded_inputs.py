"""API4:2023 Unrestricted Resource Consumption: oversized and pathological input is refused
with a 4xx in the contract's shape, quickly, before any costly work (no password hashed, no
seat engine call, no body buffered past the cap).

The body cap is MAX_BODY_BYTES (app/platform/body_limit.py): a declared Content-Length over it
is refused unread, a chunked body as soon as it passes it.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.auth.passwords import PasswordHasher
from tests.conftest import unique_email
from tests.helpers import CONCERTS, buyer, container_of, create_concert

API = "/api/v1"
QUICK = 2.0  # seconds: generous for a loaded CI machine, far below "did heavy work"


def _refused(r: httpx.Response, status: int, started: float) -> dict[str, Any]:
    assert r.status_code == status, r.text[:300]
    body: dict[str, Any] = r.json()
    assert set(body) >= {"error", "detail"}
    assert time.perf_counter() - started < QUICK
    return body


async def test_a_body_over_the_cap_is_refused_unread(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    cap = container_of(app).settings.max_body_bytes
    for url in (f"{API}/auth/signup", f"{API}/webhooks/stripe", f"{API}/checkout"):
        started = time.perf_counter()
        r = await client.post(
            url, content=b"x" * (cap + 1), headers={"Content-Type": "application/json"}
        )
        body = _refused(r, 413, started)
        assert body["error"] == "PayloadTooLarge"
    # Just under the cap is read (and refused for what it is, not for its size).
    r = await client.post(
        f"{API}/auth/login",
        content=b" " * (cap - 100) + b'{"email": "a@b.c", "password": "x"}',
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 401


async def test_a_chunked_body_is_cut_off_at_the_cap(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """No Content-Length (chunked upload): counted while read, refused once past the cap."""
    cap = container_of(app).settings.max_body_bytes
    sent = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal sent
        chunk = b"[" * 65536
        while sent < cap * 8:
            sent += len(chunk)
            yield chunk

    started = time.perf_counter()
    r = await client.post(
        f"{API}/auth/signup", content=endless(), headers={"Content-Type": "application/json"}
    )
    body = _refused(r, 413, started)
    assert body["error"] == "PayloadTooLarge"
    assert sent <= cap + 2 * 65536, "the server kept reading past the cap"


async def test_deeply_nested_json_is_a_422(client: httpx.AsyncClient) -> None:
    """100,000 levels of nesting (under the size cap): the parser gives up (RecursionError),
    which must be a validation error, not a 500."""
    for body in (b"[" * 100_000, b'{"a":' * 30_000 + b"1" + b"}" * 30_000):
        started = time.perf_counter()
        r = await client.post(
            f"{API}/auth/login", content=body, headers={"Content-Type": "application/json"}
        )
        assert _refused(r, 422, started)["error"] == "ValidationError"


async def test_a_huge_seat_list_is_refused_before_the_seat_engine(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    c = await create_concert(client, admin_headers)
    me = buyer(app)
    url = f"{CONCERTS}/{c['id']}/holds"
    for seats in (
        [f"floor-A-{i}" for i in range(101)],  # over the 100 a hold may have
        [f"s{i}" for i in range(20_000)],  # far over, still under the byte cap
        ["x" * 101],  # a seat id longer than any
    ):
        started = time.perf_counter()
        r = await client.post(url, json={"seat_ids": seats}, headers=me)
        assert _refused(r, 422, started)["error"] == "ValidationError"
    started = time.perf_counter()
    r = await client.post(url, json={"quantity": 10**12}, headers=me)
    _refused(r, 422, started)
    seats_now = (await client.get(f"{CONCERTS}/{c['id']}/seats")).json()
    assert seats_now["counts"]["held"] == 0


@pytest.mark.parametrize(
    "body",
    [
        {"email": "a" * 300 + "@example.com", "password": "long-enough-1", "name": "N"},
        {"email": "x@example.com", "password": "p" * 10_000, "name": "N"},
        {"email": "x@example.com", "password": "long-enough-1", "name": "n" * 10_000},
    ],
)
async def test_long_strings_are_refused_before_hashing(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, body: dict[str, str]
) -> None:
    """A 10,000-character password would cost argon2 real time per attempt: refused by size
    first (the hasher is never called)."""
    calls = 0
    original = PasswordHasher.hash

    async def counting(self: PasswordHasher, password: str) -> str:
        nonlocal calls
        calls += 1
        return await original(self, password)

    monkeypatch.setattr(PasswordHasher, "hash", counting)
    started = time.perf_counter()
    r = await client.post(f"{API}/auth/signup", json=body)
    _refused(r, 422, started)
    assert calls == 0
    login = await client.post(
        f"{API}/auth/login", json={"email": unique_email(), "password": "p" * 10_000}
    )
    assert login.status_code == 422


async def test_long_query_strings_paths_and_headers(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    me = buyer(app)
    cases: list[tuple[str, str, dict[str, str], int]] = [
        ("GET", f"{CONCERTS}?q={'q' * 5000}", {}, 422),
        ("GET", f"{CONCERTS}?cursor={'c' * 5000}", {}, 422),
        ("GET", f"{CONCERTS}?limit={'9' * 5000}", {}, 422),
        ("GET", f"{API}/holds/{'h' * 5000}", me, 404),
        ("GET", f"{API}/orders/{'o' * 5000}", me, 404),
        ("GET", f"{CONCERTS}/{'c' * 5000}", {}, 404),
        ("POST", f"{API}/checkout", {**me, "Idempotency-Key": "k" * 5000}, 422),
        ("GET", f"{API}/auth/me", {"Authorization": "Bearer " + "t" * 50_000}, 401),
    ]
    for method, url, headers, status in cases:
        started = time.perf_counter()
        r = await client.request(method, url, headers=headers, json={"hold_id": "abc"})
        _refused(r, status, started)
