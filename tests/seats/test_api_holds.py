"""Holds and the seat map over HTTP, with real Redis and a real store."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI

from tests.helpers import CONCERTS, buyer, container_of, create_concert


async def hold(
    client: httpx.AsyncClient, concert_id: str, headers: dict[str, str], **body: Any
) -> httpx.Response:
    return await client.post(f"{CONCERTS}/{concert_id}/holds", json=body, headers=headers)


async def seat_map(client: httpx.AsyncClient, concert_id: str) -> dict[str, Any]:
    r = await client.get(f"{CONCERTS}/{concert_id}/seats")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_seat_map_shape(client: httpx.AsyncClient, admin_headers: dict[str, str]) -> None:
    c = await create_concert(client, admin_headers)
    body = await seat_map(client, c["id"])
    assert body["concert_id"] == c["id"]
    assert isinstance(body["version"], int)
    assert body["counts"] == {"available": 10, "held": 0, "sold": 0}
    assert body["sections"] == [
        {"id": "floor", "rows": [{"label": "A", "status": "AAA"}, {"label": "B", "status": "AAA"}]},
        {"id": "balcony", "rows": [{"label": "A", "status": "AAAA"}]},
    ]


async def test_hold_release_and_the_seat_map(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    c = await create_concert(client, admin_headers)
    me = buyer(app)
    before = await seat_map(client, c["id"])
    r = await hold(client, c["id"], me, seat_ids=["floor-A-2", "balcony-A-1"])
    assert r.status_code == 201, r.text
    h = r.json()
    assert h["concert_id"] == c["id"]
    assert h["seat_ids"] == ["floor-A-2", "balcony-A-1"]
    assert h["amount_cents"] == 8000
    assert h["currency"] == "EUR"
    expires = datetime.fromisoformat(h["expires_at"])
    assert timedelta(seconds=290) < expires - datetime.now(UTC) <= timedelta(seconds=301)

    during = await seat_map(client, c["id"])
    assert during["version"] > before["version"]
    assert during["counts"] == {"available": 8, "held": 2, "sold": 0}
    assert during["sections"][0]["rows"][0]["status"] == "AHA"
    assert during["sections"][1]["rows"][0]["status"] == "HAAA"
    summary = (await client.get(f"{CONCERTS}/{c['id']}")).json()
    assert summary["seats_available"] == 8

    got = await client.get(f"/api/v1/holds/{h['id']}", headers=me)
    assert got.status_code == 200
    assert got.json() == h

    gone = await client.delete(f"/api/v1/holds/{h['id']}", headers=me)
    assert gone.status_code == 204
    assert (await seat_map(client, c["id"]))["counts"]["available"] == 10
    assert (await client.get(f"/api/v1/holds/{h['id']}", headers=me)).status_code == 404
    assert (await client.delete(f"/api/v1/holds/{h['id']}", headers=me)).status_code == 404


async def test_other_users_holds_are_404(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    c = await create_concert(client, admin_headers)
    owner, other = buyer(app), buyer(app)
    h = (await hold(client, c["id"], owner, seat_ids=["floor-A-1"])).json()
    for r in (
        await client.get(f"/api/v1/holds/{h['id']}", headers=other),
        await client.delete(f"/api/v1/holds/{h['id']}", headers=other),
        await client.get("/api/v1/holds/not-a-hold-id", headers=other),
        await client.get(f"/api/v1/holds/{uuid.uuid4()}.nope", headers=other),
    ):
        assert r.status_code == 404
        assert r.json()["error"] == "HoldNotFound"
    # Still held by its owner.
    assert (await client.get(f"/api/v1/holds/{h['id']}", headers=owner)).status_code == 200


async def test_seats_unavailable_lists_taken_seats_and_holds_nothing(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    c = await create_concert(client, admin_headers)
    assert (await hold(client, c["id"], buyer(app), seat_ids=["floor-A-2"])).status_code == 201
    r = await hold(client, c["id"], buyer(app), seat_ids=["floor-A-1", "floor-A-2", "floor-A-3"])
    assert r.status_code == 409
    assert r.json()["error"] == "SeatsUnavailable"
    assert r.json()["unavailable"] == ["floor-A-2"]
    assert (await seat_map(client, c["id"]))["sections"][0]["rows"][0]["status"] == "AHA"


async def test_hold_limit_per_buyer(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    c = await create_concert(client, admin_headers, max_tickets_per_user=2)
    me = buyer(app)
    assert (await hold(client, c["id"], me, seat_ids=["floor-A-1"])).status_code == 201
    r = await hold(client, c["id"], me, seat_ids=["floor-B-1", "floor-B-2"])
    assert r.status_code == 409
    assert r.json()["error"] == "HoldLimitExceeded"
    assert r.json()["limit"] == 2
    assert r.json()["already"] == 1
    assert (await hold(client, c["id"], me, quantity=3)).json()["error"] == "HoldLimitExceeded"
    assert (await hold(client, c["id"], me, seat_ids=["floor-B-1"])).status_code == 201


async def test_sale_not_open_before_on_sale_and_after_start(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    now = datetime.now(UTC)
    later = await create_concert(
        client,
        admin_headers,
        on_sale_at=(now + timedelta(hours=1)).isoformat(),
        starts_at=(now + timedelta(days=1)).isoformat(),
    )
    r = await hold(client, later["id"], buyer(app), seat_ids=["floor-A-1"])
    assert r.status_code == 409
    assert r.json()["error"] == "SaleNotOpen"
    assert r.json()["on_sale_at"]
    past = await create_concert(
        client,
        admin_headers,
        on_sale_at=(now - timedelta(days=2)).isoformat(),
        starts_at=(now - timedelta(hours=1)).isoformat(),
    )
    r = await hold(client, past["id"], buyer(app), quantity=1)
    assert r.status_code == 409
    assert r.json()["error"] == "SaleNotOpen"


async def test_unknown_seats_and_bad_bodies(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    c = await create_concert(client, admin_headers)
    me = buyer(app)
    r = await hold(client, c["id"], me, seat_ids=["floor-A-1", "floor-Z-9", "nope"])
    assert r.status_code == 422
    assert r.json()["error"] == "UnknownSeats"
    assert r.json()["unknown"] == ["floor-Z-9", "nope"]
    bad_bodies: list[dict[str, Any]] = [
        {},
        {"seat_ids": ["floor-A-1"], "quantity": 1},
        {"seat_ids": ["floor-A-1", "floor-A-1"]},
        {"seat_ids": []},
        {"quantity": 0},
        {"quantity": 101},
        {"seat_ids": [f"s{i}" for i in range(101)]},
        {"quantity": 1, "user_id": "someone-else"},
        {"seat_ids": ["floor-A-1"], "section_id": "floor"},
    ]
    for body in bad_bodies:
        r = await hold(client, c["id"], me, **body)
        assert r.status_code == 422, body
        assert r.json()["error"] == "ValidationError"
    r = await hold(client, c["id"], me, quantity=1, section_id="nowhere")
    assert r.status_code == 422
    assert r.json()["fields"][0]["field"] == "section_id"
    assert (await seat_map(client, c["id"]))["counts"]["held"] == 0


async def test_holds_need_a_login_and_a_concert(client: httpx.AsyncClient, app: FastAPI) -> None:
    missing = str(uuid.uuid4())
    assert (await hold(client, missing, {}, quantity=1)).status_code == 401
    r = await hold(client, missing, buyer(app), quantity=1)
    assert r.status_code == 404
    assert r.json()["error"] == "ConcertNotFound"
    assert (await client.get(f"{CONCERTS}/{missing}/seats")).status_code == 404
    assert (await client.get("/api/v1/holds/x.y")).status_code == 401


async def test_best_available_over_http(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    c = await create_concert(
        client,
        admin_headers,
        sections=[
            {"name": "Front", "price_cents": 9000, "rows": 2, "seats_per_row": 6},
            {"name": "Back", "price_cents": 2000, "rows": 1, "seats_per_row": 6},
        ],
    )
    r = await hold(client, c["id"], buyer(app), quantity=2)
    assert r.status_code == 201
    assert r.json()["seat_ids"] == ["front-A-3", "front-A-4"]
    back = await hold(client, c["id"], buyer(app), quantity=3, section_id="back")
    # Centred would strand a single seat on each side: flush left instead.
    assert back.json()["seat_ids"] == ["back-A-1", "back-A-2", "back-A-3"]
    assert back.json()["amount_cents"] == 6000
    too_many = await hold(client, c["id"], buyer(app), quantity=7, section_id="back")
    assert too_many.status_code == 409
    assert too_many.json()["error"] == "SeatsUnavailable"


async def test_concurrent_http_buyers_for_one_seat(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    c = await create_concert(client, admin_headers)
    results = await asyncio.gather(
        *(hold(client, c["id"], buyer(app), seat_ids=["floor-B-2"]) for _ in range(100))
    )
    codes = sorted(r.status_code for r in results)
    assert codes == [201] + [409] * 99
    assert (await seat_map(client, c["id"]))["counts"]["held"] == 1


async def test_idempotent_hold_replays_and_refuses_reuse(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    c = await create_concert(client, admin_headers)
    me = buyer(app)
    key = {"Idempotency-Key": str(uuid.uuid4())}
    url = f"{CONCERTS}/{c['id']}/holds"
    first = await client.post(url, json={"quantity": 2}, headers=me | key)
    assert first.status_code == 201
    again = await client.post(url, json={"quantity": 2}, headers=me | key)
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert (await seat_map(client, c["id"]))["counts"]["held"] == 2  # held once
    other = await client.post(url, json={"quantity": 1}, headers=me | key)
    assert other.status_code == 422
    assert other.json()["error"] == "IdempotencyKeyReused"
    # The same key is another user's own key.
    theirs = await client.post(url, json={"quantity": 2}, headers=buyer(app) | key)
    assert theirs.status_code == 201
    assert theirs.json()["id"] != first.json()["id"]


async def test_rebuild_after_flushall_keeps_sold_seats_sold(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    c = await create_concert(client, admin_headers)
    container = container_of(app)
    me = buyer(app)
    assert (await hold(client, c["id"], me, seat_ids=["floor-A-1"])).status_code == 201
    await container.store.sales.claim(
        c["id"], ["floor-A-3", "balcony-A-4"], str(uuid.uuid4()), datetime.now(UTC)
    )
    await container.redis.flushall()

    after = await seat_map(client, c["id"])  # rebuilt before it is served
    assert after["counts"] == {"available": 8, "held": 0, "sold": 2}
    assert after["sections"][0]["rows"][0]["status"] == "AAS"
    r = await hold(client, c["id"], buyer(app), seat_ids=["floor-A-3"])
    assert r.status_code == 409
    assert r.json()["unavailable"] == ["floor-A-3"]
    # Holds are not durable: the flushed hold's seat is free again.
    assert (await hold(client, c["id"], buyer(app), seat_ids=["floor-A-1"])).status_code == 201


async def test_warm_loads_the_seat_state(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    c = await create_concert(client, admin_headers)
    engine = container_of(app).engine
    await engine.reset(c["id"])
    assert not await engine.is_loaded(c["id"])
    r = await client.post(f"{CONCERTS}/{c['id']}/warm", headers=admin_headers)
    assert r.status_code == 200
    assert r.json()["seats"] == 10
    assert await engine.is_loaded(c["id"])


async def test_layout_is_locked_while_seats_are_held(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    c = await create_concert(client, admin_headers)
    me = buyer(app)
    h = (await hold(client, c["id"], me, seat_ids=["floor-A-1"])).json()
    new_layout = {"sections": [{"name": "Pit", "price_cents": 100, "rows": 1, "seats_per_row": 5}]}
    locked = await client.patch(f"{CONCERTS}/{c['id']}", json=new_layout, headers=admin_headers)
    assert locked.status_code == 409
    assert locked.json()["error"] == "LayoutLocked"
    await client.delete(f"/api/v1/holds/{h['id']}", headers=me)
    changed = await client.patch(f"{CONCERTS}/{c['id']}", json=new_layout, headers=admin_headers)
    assert changed.status_code == 200
    after = await seat_map(client, c["id"])
    assert after["sections"] == [{"id": "pit", "rows": [{"label": "A", "status": "AAAAA"}]}]
    assert (await hold(client, c["id"], me, seat_ids=["pit-A-5"])).status_code == 201
