"""Denial of inventory (API6:2023, unrestricted access to a sensitive business flow): one
account, or one network address with many accounts, can't keep a sale's seats locked.

What stops it, each tested here:
- the per-buyer cap (`max_tickets_per_user`, held + bought), decided atomically in Redis, so
  concurrent requests can't overshoot it;
- holds lapse (HOLD_TTL_SECONDS) and their seats come back on their own; checking out extends a
  hold once, to the payment window, and checking out again does not extend it further;
- rate limits per user on holds and per address on everything, so many accounts behind one
  address run out of requests.
What remains (many addresses, many accounts) is in docs/security.md.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI

from app.seats.state import CHECKED_OUT_GRACE_MS
from tests.checkout.test_api import checkout, hold, pay
from tests.conftest import (
    admin_login,
    http_client,
    make_settings,
    running_app,
    token_headers,
    unique_email,
)
from tests.helpers import CONCERTS, buyer, create_concert
from tests.platform.test_ratelimit import client_at, client_ip

API = "/api/v1"


async def _seat_counts(client: httpx.AsyncClient, concert_id: str) -> dict[str, int]:
    counts: dict[str, int] = (await client.get(f"{CONCERTS}/{concert_id}/seats")).json()["counts"]
    return counts


async def test_one_buyer_cannot_hold_past_the_cap(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    c = await create_concert(client, admin_headers, max_tickets_per_user=3)
    me = buyer(app)
    url = f"{CONCERTS}/{c['id']}/holds"
    first = await client.post(url, json={"seat_ids": ["floor-A-1", "floor-A-2"]}, headers=me)
    assert first.status_code == 201
    over = await client.post(url, json={"seat_ids": ["balcony-A-1", "balcony-A-2"]}, headers=me)
    assert over.status_code == 409
    assert over.json()["error"] == "HoldLimitExceeded"
    assert over.json()["limit"] == 3
    assert (await client.post(url, json={"quantity": 1}, headers=me)).status_code == 201
    assert (await client.post(url, json={"quantity": 1}, headers=me)).status_code == 409
    assert (await _seat_counts(client, c["id"]))["held"] == 3


async def test_the_cap_holds_under_concurrent_requests(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    """Ten holds of distinct seats at once, by one buyer with a cap of 4: exactly 4 succeed."""
    c = await create_concert(client, admin_headers, max_tickets_per_user=4)
    me = buyer(app)
    seats = [f"floor-{r}-{n}" for r in "AB" for n in (1, 2, 3)] + [
        f"balcony-A-{n}" for n in (1, 2, 3, 4)
    ]
    results = await asyncio.gather(
        *(
            client.post(f"{CONCERTS}/{c['id']}/holds", json={"seat_ids": [s]}, headers=me)
            for s in seats
        )
    )
    statuses = sorted(r.status_code for r in results)
    assert statuses == [201] * 4 + [409] * 6
    assert {r.json()["error"] for r in results if r.status_code == 409} == {"HoldLimitExceeded"}
    assert (await _seat_counts(client, c["id"]))["held"] == 4


async def test_bought_seats_count_against_the_cap(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    """Buying and holding again does not reset the cap: held + bought."""
    c = await create_concert(client, admin_headers, max_tickets_per_user=2)
    me = buyer(app)
    h = await hold(client, c["id"], me, ["floor-A-1", "floor-A-2"])
    paid = (await checkout(client, h["id"], me)).json()
    assert (await pay(client, paid["payment"]["payment_intent_id"], me)).status_code == 200
    again = await client.post(f"{CONCERTS}/{c['id']}/holds", json={"quantity": 1}, headers=me)
    assert again.status_code == 409
    assert again.json()["error"] == "HoldLimitExceeded"


async def test_checking_out_again_does_not_extend_a_hold(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    c = await create_concert(client, admin_headers)
    me = buyer(app)
    h = await hold(client, c["id"], me, ["floor-B-1"])
    first = (await checkout(client, h["id"], me)).json()["order"]
    again = (await checkout(client, h["id"], me)).json()["order"]
    assert again["expires_at"] == first["expires_at"]
    got = (await client.get(f"{API}/holds/{h['id']}", headers=me)).json()
    # The hold outlives the payment window by the grace the expiry job has to end the order.
    grace = timedelta(milliseconds=CHECKED_OUT_GRACE_MS)
    assert _at(got["expires_at"]) == _at(first["expires_at"]) + grace


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _app(tmp: Any, **overrides: Any) -> AbstractAsyncContextManager[FastAPI]:
    return running_app(make_settings(database_url=f"sqlite+aiosqlite:///{tmp}/doi.db", **overrides))


async def test_holds_lapse_and_their_seats_come_back(tmp_path: Any) -> None:
    """With a one-second hold lifetime, a buyer who holds every seat and walks away blocks
    nothing for long: the sweeper frees the seats, and the buyer's cap with them."""
    async with (
        _app(tmp_path, hold_ttl_seconds=1, sweeper_interval_seconds=0.1) as app,
        http_client(app) as client,
    ):
        c = await create_concert(client, await admin_login(client), max_tickets_per_user=10)
        hoarder = token_headers(app, f"hoarder-{uuid.uuid4().hex}")
        r = await client.post(f"{CONCERTS}/{c['id']}/holds", json={"quantity": 10}, headers=hoarder)
        assert r.status_code == 201, r.text
        assert (await _seat_counts(client, c["id"]))["available"] == 0
        deadline = time.monotonic() + 10
        while (await _seat_counts(client, c["id"]))["available"] < 10:
            assert time.monotonic() < deadline, "the seats never came back"
            await asyncio.sleep(0.2)
        gone = await client.get(f"{API}/holds/{r.json()['id']}", headers=hoarder)
        assert gone.status_code == 404
        # The cap came back with them.
        again = await client.post(
            f"{CONCERTS}/{c['id']}/holds", json={"quantity": 10}, headers=hoarder
        )
        assert again.status_code == 201


async def test_many_accounts_from_one_address_run_out_of_requests(tmp_path: Any) -> None:
    """A bot farm behind one address: signing up accounts, then holding with each, is cut off
    by the per-address windows however many accounts it has."""
    async with _app(
        tmp_path,
        rate_limit_enabled=True,
        sweeper_in_process=False,
        rate_limit_auth_per_ip="3/minute",
        rate_limit_default_per_ip="8/minute",
        rate_limit_holds_per_user="100/minute",
        rate_limit_per_user="100/minute",
    ) as app:
        ip = client_ip()
        async with client_at(app, ip) as bot:
            signups = [
                await bot.post(
                    f"{API}/auth/signup",
                    json={"email": unique_email("bot"), "password": "long-enough-1", "name": "B"},
                )
                for _ in range(5)
            ]
            assert [r.status_code for r in signups] == [201, 201, 201, 429, 429]
            assert signups[-1].json()["error"] == "RateLimited"
            assert int(signups[-1].headers["Retry-After"]) >= 1
            # With the accounts it got (and as many tokens as it likes), holds from this
            # address stop at the address's window, not at some per-account one.
            concert = "no-such-concert"  # the limiter answers before the route does
            answers = [
                (
                    await bot.post(
                        f"{CONCERTS}/{concert}/holds",
                        json={"quantity": 1},
                        headers=token_headers(app, f"bot-{n}-{uuid.uuid4().hex}"),
                    )
                ).status_code
                for n in range(12)
            ]
            assert answers[:8] == [404] * 8
            assert set(answers[8:]) == {429}
        async with client_at(app, client_ip()) as someone_else:
            r = await someone_else.get(f"{CONCERTS}")
            assert r.status_code == 200, "another address is not affected"


async def test_one_account_runs_out_of_hold_attempts(tmp_path: Any) -> None:
    """Probing seat after seat (hold, refused, hold again) costs the account its hold window."""
    async with (
        _app(
            tmp_path,
            rate_limit_enabled=True,
            sweeper_in_process=False,
            rate_limit_holds_per_user="5/minute",
            rate_limit_default_per_ip="1000/minute",
        ) as app,
        client_at(app, client_ip()) as bot,
    ):
        me = token_headers(app, f"prober-{uuid.uuid4().hex}")  # a window of its own
        answers = [
            (await bot.post(f"{CONCERTS}/nope/holds", json={"quantity": 1}, headers=me)).status_code
            for _ in range(7)
        ]
        assert answers == [404] * 5 + [429] * 2
