"""Races across processes: requests alternate between two app processes (one with two uvicorn
workers) that share only Redis and the store. Each deployment of conftest.py runs them all."""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.payments.signature import sign
from tests.helpers import concert_body, seat_ids
from tests.scaleout.conftest import Deployment
from tests.seats.test_api_stream import EventReader

API = "/api/v1"
HOLDS_ROUTE = f"{API}/concerts/{{concert_id}}/holds"


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    limits = httpx.Limits(max_connections=512, max_keepalive_connections=64)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        yield client


async def create_concert(
    http: httpx.AsyncClient, d: Deployment, rows: int, seats_per_row: int
) -> dict[str, Any]:
    body = concert_body(
        sections=[
            {"name": "Floor", "price_cents": 5000, "rows": rows, "seats_per_row": seats_per_row}
        ]
    )
    r = await http.post(f"{d.a.url}{API}/concerts", json=body, headers=d.headers(role="admin"))
    assert r.status_code == 201, r.text
    concert: dict[str, Any] = r.json()
    return concert


async def seat_map(http: httpx.AsyncClient, base: str, concert_id: str) -> dict[str, Any]:
    r = await http.get(f"{base}{API}/concerts/{concert_id}/seats")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def statuses(body: dict[str, Any]) -> str:
    return "".join(row["status"] for section in body["sections"] for row in section["rows"])


async def race(
    http: httpx.AsyncClient, d: Deployment, concert_id: str, bodies: list[dict[str, Any]]
) -> list[httpx.Response]:
    """One distinct buyer per body, all at once, alternating between the processes."""
    headers = [d.headers() for _ in bodies]  # tokens minted before the start line
    d.served["a"] = d.served.get("a", 0) + (len(bodies) + 1) // 2
    d.served["b"] = d.served.get("b", 0) + len(bodies) // 2
    return await asyncio.gather(
        *(
            http.post(f"{d.url(n)}{API}/concerts/{concert_id}/holds", json=body, headers=h)
            for n, (body, h) in enumerate(zip(bodies, headers, strict=True))
        )
    )


def granted(responses: list[httpx.Response]) -> list[list[str]]:
    return [r.json()["seat_ids"] for r in responses if r.status_code == 201]


def refusals_are_409(responses: list[httpx.Response]) -> None:
    for r in responses:
        if r.status_code != 201:
            assert r.status_code == 409, r.text
            assert r.json()["error"] == "SeatsUnavailable", r.text


async def both_processes_agree(
    http: httpx.AsyncClient, d: Deployment, concert_id: str
) -> dict[str, Any]:
    a, b = [await seat_map(http, p.url, concert_id) for p in d.processes]
    assert (a["version"], a["sections"]) == (b["version"], b["sections"])
    return a


async def test_three_hundred_buyers_for_four_seats_get_exactly_four_holds(
    deployment: Deployment, http: httpx.AsyncClient
) -> None:
    concert = await create_concert(http, deployment, rows=1, seats_per_row=4)
    seats = seat_ids(concert)
    responses = await race(
        http, deployment, concert["id"], [{"seat_ids": [seats[n % 4]]} for n in range(320)]
    )
    refusals_are_409(responses)
    holds = granted(responses)
    assert sorted(s for h in holds for s in h) == sorted(seats)  # each seat held exactly once
    after = await both_processes_agree(http, deployment, concert["id"])
    assert after["counts"] == {"available": 0, "held": 4, "sold": 0}


async def test_random_overlapping_multi_seat_holds_never_overlap(
    deployment: Deployment, http: httpx.AsyncClient
) -> None:
    concert = await create_concert(http, deployment, rows=2, seats_per_row=8)
    seats = seat_ids(concert)
    rng = random.Random(9)
    bodies = [{"seat_ids": rng.sample(seats, rng.randint(1, 4))} for _ in range(320)]
    responses = await race(http, deployment, concert["id"], bodies)
    refusals_are_409(responses)
    holds = granted(responses)
    assert holds, "some holds must succeed"
    held = [s for h in holds for s in h]
    assert len(held) == len(set(held)), "a seat was held twice"
    # Every refusal names seats someone really holds, and nothing else was held.
    for r in responses:
        if r.status_code == 409:
            assert set(r.json()["unavailable"]) <= set(held)
    after = await both_processes_agree(http, deployment, concert["id"])
    assert {s for s, c in zip(seats, statuses(after), strict=True) if c == "H"} == set(held)


async def test_a_burst_of_buyers_gets_exactly_the_seats_there_are(
    deployment: Deployment, http: httpx.AsyncClient
) -> None:
    """400 buyers at once for 40 seats, best available: exactly 40 holds, 360 409s."""
    concert = await create_concert(http, deployment, rows=4, seats_per_row=10)
    started = time.monotonic()
    responses = await race(http, deployment, concert["id"], [{"quantity": 1}] * 400)
    drained = time.monotonic() - started
    refusals_are_409(responses)
    holds = granted(responses)
    assert len(holds) == 40
    assert sorted(s for h in holds for s in h) == sorted(seat_ids(concert))
    after = await both_processes_agree(http, deployment, concert["id"])
    assert after["counts"] == {"available": 0, "held": 40, "sold": 0}
    assert drained < 30, f"the burst took {drained:.1f} s"


async def test_one_webhook_delivered_to_both_processes_at_once_books_once(
    deployment: Deployment, http: httpx.AsyncClient
) -> None:
    concert = await create_concert(http, deployment, rows=1, seats_per_row=4)
    me = deployment.headers()
    a, b = deployment.a.url, deployment.b.url
    seats = seat_ids(concert)[:2]
    r = await http.post(
        f"{a}{API}/concerts/{concert['id']}/holds", json={"seat_ids": seats}, headers=me
    )
    assert r.status_code == 201, r.text
    r = await http.post(f"{b}{API}/checkout", json={"hold_id": r.json()["id"]}, headers=me)
    assert r.status_code == 201, r.text
    order = r.json()["order"]
    payload = json.dumps(
        {
            "id": f"evt_scaleout_{uuid.uuid4().hex}",
            "object": "event",
            "type": "payment_intent.succeeded",
            "created": int(time.time()),
            "data": {
                "object": {
                    "id": order["payment_intent_id"],
                    "object": "payment_intent",
                    "status": "succeeded",
                    "metadata": {"order_id": order["id"]},
                }
            },
        }
    ).encode()
    headers = {
        "Stripe-Signature": sign(payload, deployment.webhook_secret),
        "Content-Type": "application/json",
    }
    deliveries = await asyncio.gather(
        *(
            http.post(f"{deployment.url(n)}{API}/webhooks/stripe", content=payload, headers=headers)
            for n in range(16)
        )
    )
    assert [d.status_code for d in deliveries] == [200] * 16, [d.text for d in deliveries]
    for base in (a, b):
        done = (await http.get(f"{base}{API}/orders/{order['id']}", headers=me)).json()
        assert done["status"] == "confirmed"
        assert sorted(t["seat_id"] for t in done["tickets"]) == sorted(seats)
        tickets = (await http.get(f"{base}{API}/me/tickets", headers=me)).json()["items"]
        assert sorted(t["seat_id"] for t in tickets) == sorted(seats)
        orders = (await http.get(f"{base}{API}/me/orders", headers=me)).json()["items"]
        assert [o["id"] for o in orders] == [order["id"]]
    after = await both_processes_agree(http, deployment, concert["id"])
    assert statuses(after) == "SSAA"


async def test_a_hold_on_one_process_reaches_a_stream_on_the_other(
    deployment: Deployment, http: httpx.AsyncClient
) -> None:
    concert = await create_concert(http, deployment, rows=1, seats_per_row=4)
    stream_url = f"{deployment.b.url}{API}/concerts/{concert['id']}/seats/stream"
    async with http.stream("GET", stream_url) as response:
        assert response.status_code == 200
        events = EventReader(response)
        assert (await events.next_event())["event"] == "snapshot"
        r = await http.post(
            f"{deployment.a.url}{API}/concerts/{concert['id']}/holds",
            json={"seat_ids": [seat_ids(concert)[2]]},
            headers=deployment.headers(),
        )
        assert r.status_code == 201, r.text
        change = await events.next_event()
        assert change["event"] == "change"
        assert json.loads(change["data"])["seats"] == {seat_ids(concert)[2]: "H"}


def _holds_served(metrics: str) -> tuple[float, float]:
    """(process start time, hold requests served) from one worker's /metrics."""
    start, holds = 0.0, 0.0
    for family in text_string_to_metric_families(metrics):
        for sample in family.samples:
            if sample.name == "process_start_time_seconds":
                start = sample.value
            if sample.name == "http_requests_total" and sample.labels["route"] == HOLDS_ROUTE:
                holds += sample.value
    return start, holds


async def _served_by_each_worker(url: str) -> dict[float, float]:
    """Holds served, by worker (its start time), as seen through 40 new connections at most."""
    seen: dict[float, float] = {}
    for _ in range(40):
        # A new connection each time: it may land on either worker.
        async with httpx.AsyncClient(timeout=10) as http:
            start, holds = _holds_served((await http.get(f"{url}/metrics")).text)
        seen[start] = holds
        if len(seen) == 2:
            break
    return seen


@pytest.mark.parametrize("name", ["a", "b"])
async def test_every_worker_took_part(deployment: Deployment, name: str) -> None:
    """The races above really ran on four event loops: each process's two workers split its
    share of the holds (seen from whichever worker answers /metrics)."""
    process = getattr(deployment, name)
    seen = await _served_by_each_worker(process.url)
    sent = deployment.served[name]  # plus a hold or two of the single-buyer tests
    if len(seen) == 2:
        assert all(holds > 0 for holds in seen.values()), seen
        assert sum(seen.values()) >= sent
    else:  # the same worker answered every time: it served only part of the holds
        (only,) = seen.values()
        assert 0 < only < sent, f"one worker of {name} served all {sent} holds"
