"""The waiting room's proof-of-work gate (app/waiting_room/challenge.py) through the HTTP API,
on real Redis. Solutions are found with the `altcha` package's own solver at a low difficulty.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from typing import Any

import altcha
import httpx
import pytest
from fastapi import FastAPI

from app.waiting_room.challenge import Challenges
from app.waiting_room.errors import ChallengeFailed, ChallengeRequired
from tests.helpers import CONCERTS, buyer, container_of, create_concert

# The lowest difficulty a concert accepts: a few hundred hashes to solve.
DIFFICULTY = 1_000


def _queue(**overrides: Any) -> dict[str, Any]:
    return {
        "enabled": True,
        "admit_per_minute": 600,
        "max_active": 100,
        "challenge": True,
        "challenge_difficulty": DIFFICULTY,
        **overrides,
    }


def solve(challenge: dict[str, Any]) -> str:
    """The payload the `altcha` widget sends for this challenge."""
    parsed = altcha.Challenge.from_dict(challenge)
    solution = altcha.solve_challenge(parsed, timeout=30)
    assert solution is not None
    return altcha.Payload(parsed, solution).to_base64()


async def fetch_and_solve(client: httpx.AsyncClient, concert_id: str) -> str:
    r = await client.get(f"{CONCERTS}/{concert_id}/queue/challenge")
    assert r.status_code == 200, r.text
    return solve(r.json())


async def join(
    client: httpx.AsyncClient, concert_id: str, who: dict[str, str], payload: str | None
) -> httpx.Response:
    body = {"altcha": payload} if payload is not None else None
    return await client.post(f"{CONCERTS}/{concert_id}/queue", json=body, headers=who)


def _error(r: httpx.Response) -> str:
    assert r.status_code == 403, r.text
    return str(r.json()["error"])


@pytest.fixture
async def gated(client: httpx.AsyncClient, admin_headers: dict[str, str]) -> dict[str, Any]:
    return await create_concert(client, admin_headers, queue=_queue())


async def test_the_challenge_is_altcha_v2_bound_to_the_concert(
    client: httpx.AsyncClient, gated: dict[str, Any], app: FastAPI
) -> None:
    r = await client.get(f"{CONCERTS}/{gated['id']}/queue/challenge")
    assert r.status_code == 200, r.text
    assert r.headers["Cache-Control"] == "no-store"  # each answer a new challenge
    body = r.json()
    assert set(body) == {"parameters", "signature"}
    params = body["parameters"]
    assert params["algorithm"] == "SHA-256"
    assert params["cost"] == 1
    assert params["data"] == {"concert": gated["id"]}
    assert params["keySignature"]
    ttl = container_of(app).settings.altcha_challenge_ttl_seconds
    assert time.time() + ttl - 5 <= params["expiresAt"] <= time.time() + ttl + 1
    # Two challenges never share a nonce (the nonce is what "used" remembers).
    again = (await client.get(f"{CONCERTS}/{gated['id']}/queue/challenge")).json()
    assert again["parameters"]["nonce"] != params["nonce"]


async def test_a_solved_challenge_lets_the_fan_join(
    client: httpx.AsyncClient, gated: dict[str, Any], app: FastAPI
) -> None:
    me = buyer(app)
    r = await join(client, gated["id"], me, await fetch_and_solve(client, gated["id"]))
    assert r.status_code == 200, r.text
    assert r.json()["state"] in ("waiting", "admitted")

    # Joining again keeps the place: no new challenge needed (and none spent).
    again = await join(client, gated["id"], me, None)
    assert again.status_code == 200, again.text


async def test_joining_without_a_solution_is_challenge_required(
    client: httpx.AsyncClient, gated: dict[str, Any], app: FastAPI
) -> None:
    r = await client.post(f"{CONCERTS}/{gated['id']}/queue", headers=buyer(app))  # no body
    assert _error(r) == "ChallengeRequired"
    assert "puzzle" in r.json()["detail"]
    assert _error(await join(client, gated["id"], buyer(app), "")) == "ChallengeRequired"
    # Not in the line: nothing was joined.
    status = await client.get(f"{CONCERTS}/{gated['id']}/queue", headers=buyer(app))
    assert status.status_code == 404


async def test_a_wrong_solution_fails(
    client: httpx.AsyncClient, gated: dict[str, Any], app: FastAPI
) -> None:
    payload = json.loads(base64.b64decode(await fetch_and_solve(client, gated["id"])))
    wrong_key = {**payload, "solution": {**payload["solution"], "derivedKey": "00" * 32}}
    harder = json.loads(json.dumps(payload))
    harder["challenge"]["parameters"]["keyPrefix"] = "ff"  # tampered: the signature no longer fits
    for bad in (wrong_key, harder):
        encoded = base64.b64encode(json.dumps(bad).encode()).decode()
        assert _error(await join(client, gated["id"], buyer(app), encoded)) == "ChallengeFailed"
    for garbage in ("not base64 at all", base64.b64encode(b"[1, 2]").decode(), "e30="):
        assert _error(await join(client, gated["id"], buyer(app), garbage)) == "ChallengeFailed"
    too_long = await join(client, gated["id"], buyer(app), "A" * 5000)
    assert too_long.status_code == 422, too_long.text


async def test_an_expired_solution_fails(
    client: httpx.AsyncClient, gated: dict[str, Any], app: FastAPI
) -> None:
    challenges = container_of(app).challenges
    issued = challenges.make(gated["id"], DIFFICULTY, expires_at=int(time.time()) - 1)
    r = await join(client, gated["id"], buyer(app), solve(issued.to_dict()))
    assert _error(r) == "ChallengeFailed"
    assert "expired" in r.json()["detail"]


async def test_a_replayed_solution_fails(
    client: httpx.AsyncClient, gated: dict[str, Any], app: FastAPI
) -> None:
    payload = await fetch_and_solve(client, gated["id"])
    assert (await join(client, gated["id"], buyer(app), payload)).status_code == 200
    r = await join(client, gated["id"], buyer(app), payload)  # another fan, the same solution
    assert _error(r) == "ChallengeFailed"
    assert "already used" in r.json()["detail"]


async def test_another_concerts_solution_fails(
    client: httpx.AsyncClient,
    gated: dict[str, Any],
    app: FastAPI,
    admin_headers: dict[str, str],
) -> None:
    other = await create_concert(client, admin_headers, queue=_queue())
    payload = await fetch_and_solve(client, other["id"])
    r = await join(client, gated["id"], buyer(app), payload)
    assert _error(r) == "ChallengeFailed"
    assert "another concert" in r.json()["detail"]
    # Still unused: it works where it was made for.
    assert (await join(client, other["id"], buyer(app), payload)).status_code == 200


async def test_one_solution_used_concurrently_lets_exactly_one_fan_in(
    client: httpx.AsyncClient, gated: dict[str, Any], app: FastAPI
) -> None:
    payload = await fetch_and_solve(client, gated["id"])
    fans = [buyer(app) for _ in range(20)]
    answers = await asyncio.gather(*(join(client, gated["id"], fan, payload) for fan in fans))
    codes = sorted(r.status_code for r in answers)
    assert codes == [200] + [403] * 19, [r.text for r in answers]
    assert {r.json()["error"] for r in answers if r.status_code == 403} == {"ChallengeFailed"}


async def test_check_accepts_a_solution_exactly_once_under_concurrency(
    client: httpx.AsyncClient, gated: dict[str, Any], app: FastAPI
) -> None:
    """The service itself, 50 concurrent checks of one solution on real Redis."""
    c = container_of(app)
    concert = await c.catalogue.load(gated["id"])
    challenges: Challenges = c.challenges
    payload = solve(challenges.make(gated["id"], DIFFICULTY).to_dict())

    async def one() -> str:
        try:
            await challenges.check(concert, payload)
        except ChallengeFailed:
            return "failed"
        except ChallengeRequired:
            return "required"
        return "passed"

    outcomes = await asyncio.gather(*(one() for _ in range(50)))
    assert sorted(outcomes) == ["failed"] * 49 + ["passed"]


async def test_the_challenge_endpoint_when_the_queue_asks_for_none(
    client: httpx.AsyncClient, admin_headers: dict[str, str], app: FastAPI
) -> None:
    plain = await create_concert(client, admin_headers, queue={"enabled": True})
    r = await client.get(f"{CONCERTS}/{plain['id']}/queue/challenge")
    assert r.status_code == 409, r.text
    assert r.json()["error"] == "QueueChallengeOff"
    # A bodiless join works as before, and a payload is not needed (nor looked at).
    assert (await client.post(f"{CONCERTS}/{plain['id']}/queue", headers=buyer(app))).is_success
    unknown = await client.get(f"{CONCERTS}/no-such-concert/queue/challenge")
    assert unknown.status_code == 404, unknown.text
