"""The presale lottery through the HTTP API, on real Redis with the background jobs running:
registration (window, idempotency, verified email), the draw (recomputed by
scripts/verify-lottery.py from what the server publishes), and the winners' window (a loser or
someone who did not register gets no pass and no hold while it lasts)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import http_client, make_settings, running_app, signup
from tests.helpers import CONCERTS, buyer, container_of, create_concert
from tests.waiting_room.test_api import wait_admitted

ROOT = Path(__file__).resolve().parents[2]
VERIFY = ROOT / "scripts" / "verify-lottery.py"


@pytest.fixture(scope="module")
async def lottery_app(store_overrides: dict[str, Any]) -> AsyncIterator[FastAPI]:
    """An app whose lottery does not ask for a verified address (tokens without accounts
    register), drawing soon after registration closes."""
    settings = make_settings(
        **store_overrides,
        lottery_require_verified_email=False,
        lottery_draw_interval_seconds=0.3,
        queue_admit_interval_seconds=0.3,
    )
    async with running_app(settings) as application:
        yield application


@pytest.fixture
async def lc(lottery_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with http_client(lottery_app) as c:
        yield c


@pytest.fixture
async def lottery_admin(lc: httpx.AsyncClient) -> dict[str, str]:
    from tests.conftest import admin_login

    return await admin_login(lc)


def lottery_queue(
    opens: datetime, closes: datetime, winners: int, **overrides: Any
) -> dict[str, Any]:
    return {
        "enabled": True,
        "admit_per_minute": 60,
        "max_active": 100,
        "mode": "lottery",
        "registration_opens_at": opens.isoformat(),
        "registration_closes_at": closes.isoformat(),
        "winners": winners,
        **overrides,
    }


async def lottery_concert(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    *,
    opens_in: float = -60.0,
    closes_in: float = 3600.0,
    on_sale_after_close: float = 1.0,
    winners: int = 2,
) -> dict[str, Any]:
    now = datetime.now(UTC).replace(microsecond=0)
    opens = now + timedelta(seconds=opens_in)
    closes = now + timedelta(seconds=closes_in)
    return await create_concert(
        client,
        admin,
        on_sale_at=(closes + timedelta(seconds=on_sale_after_close)).isoformat(),
        queue=lottery_queue(opens, closes, winners),
    )


async def until_drawn(
    client: httpx.AsyncClient, concert_id: str, within: float = 15.0
) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        r = await client.get(f"{CONCERTS}/{concert_id}/lottery")
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        if body["state"] == "drawn":
            return body
        assert time.monotonic() < deadline, f"not drawn within {within}s: {body}"
        await asyncio.sleep(0.2)


async def all_entries(
    client: httpx.AsyncClient, concert_id: str, order: str, page: int = 3
) -> list[str]:
    items: list[str] = []
    offset: int | None = 0
    while offset is not None:
        r = await client.get(
            f"{CONCERTS}/{concert_id}/lottery/entries",
            params={"order": order, "offset": offset, "limit": page},
        )
        assert r.status_code == 200, r.text
        items += r.json()["items"]
        offset = r.json()["next_offset"]
    return items


def verify(tmp: Path, lottery: dict[str, Any], entries: list[str], order: list[str]) -> Any:
    (tmp / "lottery.json").write_text(json.dumps(lottery))
    (tmp / "entries.json").write_text(json.dumps(entries))
    (tmp / "order.json").write_text(json.dumps(order))
    run = subprocess.run(
        [sys.executable, str(VERIFY), *(str(tmp / n) for n in ("lottery.json", "entries.json"))]
        + [str(tmp / "order.json")],
        capture_output=True,
        text=True,
        check=False,
    )
    return run


async def test_register_once_then_drawn_and_recomputed_and_winners_first(
    lc: httpx.AsyncClient, lottery_app: FastAPI, lottery_admin: dict[str, str], tmp_path: Path
) -> None:
    concert = await lottery_concert(lc, lottery_admin, closes_in=4.0, winners=2)
    cid = concert["id"]
    registrations = f"{CONCERTS}/{cid}/registrations"
    fans = [buyer(lottery_app) for _ in range(5)]

    firsts = [await lc.post(registrations, headers=fan) for fan in fans]
    assert [r.status_code for r in firsts] == [201] * 5, [r.text for r in firsts]
    again = await lc.post(registrations, headers=fans[0])
    assert again.status_code == 200, again.text
    assert again.json()["entry_id"] == firsts[0].json()["entry_id"]
    assert again.json()["registered_at"] == firsts[0].json()["registered_at"]
    assert len({r.json()["entry_id"] for r in firsts}) == 5

    state = (await lc.get(f"{CONCERTS}/{cid}/lottery")).json()
    assert state["state"] == "open"
    assert state["registrations"] == 5
    assert state["seed"] is None
    assert len(state["seed_sha256"]) == 64
    me = await lc.get(f"{registrations}/me", headers=fans[1])
    assert me.status_code == 200
    assert me.json()["status"] == "registered"
    stranger = buyer(lottery_app)
    nobody = await lc.get(f"{registrations}/me", headers=stranger)
    assert nobody.status_code == 404
    assert nobody.json()["error"] == "NotRegistered"
    # The waiting room opens with the draw.
    early_join = await lc.post(f"{CONCERTS}/{cid}/queue", headers=fans[0])
    assert early_join.status_code == 409
    assert early_join.json()["error"] == "QueueNotOpen"

    drawn = await until_drawn(lc, cid)
    late = await lc.post(registrations, headers=stranger)
    assert late.status_code == 409
    assert late.json()["error"] == "RegistrationClosed"
    assert "closed" in late.json()["detail"]
    # Registered before the close: still the same registration.
    assert (await lc.post(registrations, headers=fans[2])).status_code == 200

    assert drawn["seed_sha256"] == state["seed_sha256"]
    assert drawn["entries"] == 5
    assert drawn["winners_drawn"] == 2
    assert drawn["waitlist"] == 3
    entries = await all_entries(lc, cid, "sorted")
    order = await all_entries(lc, cid, "draw")
    assert entries == sorted(r.json()["entry_id"] for r in firsts)
    run = verify(tmp_path, drawn, entries, order)
    assert run.returncode == 0, run.stdout + run.stderr
    result = json.loads(run.stdout)
    assert result["winners"] == order[:2]

    # A tampered list does not verify.
    run = verify(tmp_path, drawn, entries[:-1] + ["0" * 32], order)
    assert run.returncode == 1
    assert "entries_sha256" in run.stdout

    standings = {}
    for fan in fans:
        r = await lc.get(f"{registrations}/me", headers=fan)
        assert r.status_code == 200, r.text
        standings[r.json()["entry_id"]] = (fan, r.json())
    on_sale = datetime.fromisoformat(concert["on_sale_at"])
    winners = [standings[e] for e in order[:2]]
    losers = [standings[e] for e in order[2:]]
    for place, (_, body) in enumerate(winners):
        assert body["status"] == "won"
        assert body["position"] == place + 1
        # 60 a minute: one a second, in draw order.
        assert datetime.fromisoformat(body["enter_at"]) == on_sale + timedelta(seconds=place)
    for place, (_, body) in enumerate(losers):
        assert body["status"] == "lost"
        assert body["waitlist_position"] == place + 1
        assert body["waitlist_from"] == drawn["winners_window_ends_at"]

    # Everybody joins: losers and a stranger first, the winners last.
    for fan, _ in [*losers, (stranger, None), *reversed(winners)]:
        r = await lc.post(f"{CONCERTS}/{cid}/queue", headers=fan)
        assert r.status_code == 200, r.text
    passes = [await wait_admitted(lc, cid, fan, within=15.0) for fan, _ in winners]
    assert all(p["pass"] for p in passes)
    # Several admission steps later the others are still waiting, with no pass and no hold.
    await asyncio.sleep(1.5)
    holds = f"{CONCERTS}/{cid}/holds"
    window_ends = datetime.fromisoformat(drawn["winners_window_ends_at"])
    for fan in [*(f for f, _ in losers), stranger]:
        status = await lc.get(f"{CONCERTS}/{cid}/queue", headers=fan)
        assert status.json()["state"] == "waiting", status.text
        # Their wait is told honestly: not before the winners' window ends.
        left = (window_ends - datetime.now(UTC)).total_seconds()
        assert status.json()["eta_seconds"] >= left - 2, status.text
        assert "pass" not in status.json() or status.json()["pass"] is None
        refused = await lc.post(holds, json={"seat_ids": ["floor-A-1"]}, headers=fan)
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"] == "QueuePassRequired"
    # The waitlist waits in its order, ahead of the stranger.
    ranks = [
        (await lc.get(f"{CONCERTS}/{cid}/queue", headers=f)).json()["position"] for f, _ in losers
    ]
    stranger_rank = (await lc.get(f"{CONCERTS}/{cid}/queue", headers=stranger)).json()["position"]
    assert ranks == sorted(ranks)
    assert stranger_rank > ranks[-1]
    # A winner shops with their pass.
    held = await lc.post(
        holds,
        json={"seat_ids": ["floor-A-1"]},
        headers={**winners[0][0], "X-Queue-Pass": passes[0]["pass"]},
    )
    assert held.status_code == 201, held.text


async def test_window_and_not_a_lottery(
    lc: httpx.AsyncClient, lottery_app: FastAPI, lottery_admin: dict[str, str]
) -> None:
    fan = buyer(lottery_app)
    upcoming = await lottery_concert(lc, lottery_admin, opens_in=3600, closes_in=7200)
    early = await lc.post(f"{CONCERTS}/{upcoming['id']}/registrations", headers=fan)
    assert early.status_code == 409, early.text
    assert early.json()["error"] == "RegistrationClosed"
    assert "opens at" in early.json()["detail"]
    assert early.json()["registration_opens_at"] == upcoming["queue"]["registration_opens_at"]
    state = (await lc.get(f"{CONCERTS}/{upcoming['id']}/lottery")).json()
    assert state["state"] == "upcoming"
    assert state["registrations"] == 0
    not_drawn = await lc.get(f"{CONCERTS}/{upcoming['id']}/lottery/entries")
    assert not_drawn.status_code == 409
    assert not_drawn.json()["error"] == "LotteryNotDrawn"

    cancelled = await lottery_concert(lc, lottery_admin)
    r = await lc.post(f"{CONCERTS}/{cancelled['id']}/cancel", headers=lottery_admin)
    assert r.status_code == 200, r.text
    refused = await lc.post(f"{CONCERTS}/{cancelled['id']}/registrations", headers=fan)
    assert refused.status_code == 409
    assert "cancelled" in refused.json()["detail"]

    fifo = await create_concert(lc, lottery_admin, queue={"enabled": True})
    for r in (
        await lc.post(f"{CONCERTS}/{fifo['id']}/registrations", headers=fan),
        await lc.get(f"{CONCERTS}/{fifo['id']}/registrations/me", headers=fan),
        await lc.get(f"{CONCERTS}/{fifo['id']}/lottery"),
    ):
        assert r.status_code == 404, r.text
        assert r.json()["error"] == "NotALottery"


async def test_a_lottery_with_fewer_entries_than_winners_makes_everyone_win(
    lc: httpx.AsyncClient, lottery_app: FastAPI, lottery_admin: dict[str, str]
) -> None:
    concert = await lottery_concert(lc, lottery_admin, closes_in=2.0, winners=10)
    fans = [buyer(lottery_app) for _ in range(3)]
    for fan in fans:
        r = await lc.post(f"{CONCERTS}/{concert['id']}/registrations", headers=fan)
        assert r.status_code == 201
    drawn = await until_drawn(lc, concert["id"])
    assert drawn["entries"] == 3
    assert drawn["winners_drawn"] == 3
    assert drawn["waitlist"] == 0
    for fan in fans:
        me = await lc.get(f"{CONCERTS}/{concert['id']}/registrations/me", headers=fan)
        assert me.json()["status"] == "won"


async def test_registering_needs_a_verified_address(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    """The shared app keeps the default LOTTERY_REQUIRE_VERIFIED_EMAIL=true."""
    assert app.state.settings.lottery_require_verified_email is True
    concert = await lottery_concert(client, admin_headers)
    account = await signup(client)
    r = await client.post(f"{CONCERTS}/{concert['id']}/registrations", headers=account.headers)
    assert r.status_code == 403, r.text
    assert r.json()["error"] == "EmailNotVerified"
    assert "verify" in r.json()["detail"].lower()
    me = await client.get(f"{CONCERTS}/{concert['id']}/registrations/me", headers=account.headers)
    assert me.status_code == 404
    # Once the address is verified (as POST /auth/verify-email does), registering works.
    verified = await container_of(app).store.users.verify_email(
        account.id, account.email, datetime.now(UTC)
    )
    assert verified is not None
    r = await client.post(f"{CONCERTS}/{concert['id']}/registrations", headers=account.headers)
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "registered"


async def _challenged_lottery(
    lc: httpx.AsyncClient, admin: dict[str, str], closes_in: timedelta, on_sale_after: timedelta
) -> dict[str, Any]:
    """A lottery of one winner with the proof-of-work check on, registration open since a
    minute ago until `closes_in`, the on-sale `on_sale_after` that."""
    from tests.waiting_room.test_challenge import DIFFICULTY

    now = datetime.now(UTC).replace(microsecond=0)
    opens, closes = now - timedelta(minutes=1), now + closes_in
    return await create_concert(
        lc,
        admin,
        on_sale_at=(closes + on_sale_after).isoformat(),
        queue=lottery_queue(opens, closes, 1, challenge=True, challenge_difficulty=DIFFICULTY),
    )


async def test_with_the_challenge_on_registering_needs_a_solved_one_used_once(
    lc: httpx.AsyncClient, lottery_app: FastAPI, lottery_admin: dict[str, str]
) -> None:
    from tests.waiting_room.test_challenge import fetch_and_solve

    concert = await _challenged_lottery(lc, lottery_admin, timedelta(hours=1), timedelta(hours=1))
    registrations = f"{CONCERTS}/{concert['id']}/registrations"
    fan, other = buyer(lottery_app), buyer(lottery_app)
    missing = await lc.post(registrations, headers=fan)
    assert missing.status_code == 403
    assert missing.json()["error"] == "ChallengeRequired"
    payload = await fetch_and_solve(lc, concert["id"])
    ok = await lc.post(registrations, json={"altcha": payload}, headers=fan)
    assert ok.status_code == 201, ok.text
    # Registered: asking again needs no new solution.
    assert (await lc.post(registrations, headers=fan)).status_code == 200
    replayed = await lc.post(registrations, json={"altcha": payload}, headers=other)
    assert replayed.status_code == 403
    assert replayed.json()["error"] == "ChallengeFailed"
    assert (await lc.get(f"{CONCERTS}/{concert['id']}/lottery")).json()["registrations"] == 1


async def test_registrants_join_without_a_new_check_others_need_one(
    lc: httpx.AsyncClient, lottery_app: FastAPI, lottery_admin: dict[str, str]
) -> None:
    from tests.waiting_room.test_challenge import fetch_and_solve

    concert = await _challenged_lottery(
        lc, lottery_admin, timedelta(seconds=3), timedelta(seconds=1)
    )
    cid = concert["id"]
    fan, stranger = buyer(lottery_app), buyer(lottery_app)
    payload = await fetch_and_solve(lc, cid)
    r = await lc.post(f"{CONCERTS}/{cid}/registrations", json={"altcha": payload}, headers=fan)
    assert r.status_code == 201, r.text
    await until_drawn(lc, cid)
    # The registrant proved themselves when registering.
    joined = await lc.post(f"{CONCERTS}/{cid}/queue", headers=fan)
    assert joined.status_code == 200, joined.text
    refused = await lc.post(f"{CONCERTS}/{cid}/queue", headers=stranger)
    assert refused.status_code == 403
    assert refused.json()["error"] == "ChallengeRequired"
    other = await fetch_and_solve(lc, cid)
    joined_later = await lc.post(
        f"{CONCERTS}/{cid}/queue", json={"altcha": other}, headers=stranger
    )
    assert joined_later.status_code == 200, joined_later.text
