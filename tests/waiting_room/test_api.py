"""The waiting room through the HTTP API: join, status, admission, passes on holds and checkout.

The shared test app runs the background jobs, so admission happens as in production: the
admission loop steps every second, and a confirmed order frees its buyer's slot through the
event stream.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
from fastapi import FastAPI
from prometheus_client import REGISTRY

from app.waiting_room.passes import PassSigner
from tests.checkout.test_api import pay
from tests.helpers import CONCERTS, buyer, container_of, create_concert

API = "/api/v1"


def _queue(**overrides: Any) -> dict[str, Any]:
    return {"enabled": True, "admit_per_minute": 600, "max_active": 100, **overrides}


async def _status(
    client: httpx.AsyncClient, concert_id: str, who: dict[str, str]
) -> httpx.Response:
    return await client.get(f"{CONCERTS}/{concert_id}/queue", headers=who)


async def wait_admitted(
    client: httpx.AsyncClient, concert_id: str, who: dict[str, str], within: float = 10.0
) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        r = await _status(client, concert_id, who)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        if body["state"] == "admitted":
            return body
        assert time.monotonic() < deadline, f"not admitted within {within}s: {body}"
        await asyncio.sleep(0.2)


def _hold_body(seat: str) -> dict[str, Any]:
    return {"seat_ids": [seat]}


async def test_holds_and_checkout_need_a_pass_when_the_queue_is_on(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    c = await create_concert(client, admin_headers, queue=_queue())
    me = buyer(app)
    holds = f"{CONCERTS}/{c['id']}/holds"

    refused = await client.post(holds, json=_hold_body("floor-A-1"), headers=me)
    assert refused.status_code == 403
    assert refused.json()["error"] == "QueuePassRequired"
    assert "/queue" in refused.json()["detail"]

    joined = await client.post(f"{CONCERTS}/{c['id']}/queue", headers=me)
    assert joined.status_code == 200, joined.text
    assert joined.json()["state"] in ("waiting", "admitted")
    status = await wait_admitted(client, c["id"], me)
    assert status["pass"]
    assert datetime.fromisoformat(status["pass_expires_at"]) > datetime.now(UTC)
    pass_header = {"X-Queue-Pass": status["pass"]}

    held = await client.post(holds, json=_hold_body("floor-A-1"), headers={**me, **pass_header})
    assert held.status_code == 201, held.text

    # Checkout needs the pass too (a hold alone does not let a buyer skip the line).
    hold_id = held.json()["id"]
    no_pass = await client.post(f"{API}/checkout", json={"hold_id": hold_id}, headers=me)
    assert no_pass.status_code == 403
    assert no_pass.json()["error"] == "QueuePassRequired"
    done = await client.post(
        f"{API}/checkout", json={"hold_id": hold_id}, headers={**me, **pass_header}
    )
    assert done.status_code == 201, done.text


async def test_a_pass_is_bound_to_its_concert_and_its_buyer(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    first = await create_concert(client, admin_headers, queue=_queue())
    second = await create_concert(client, admin_headers, queue=_queue())
    me, other = buyer(app), buyer(app)
    await client.post(f"{CONCERTS}/{first['id']}/queue", headers=me)
    mine = {"X-Queue-Pass": (await wait_admitted(client, first["id"], me))["pass"]}

    elsewhere = await client.post(
        f"{CONCERTS}/{second['id']}/holds", json=_hold_body("floor-A-1"), headers={**me, **mine}
    )
    assert elsewhere.status_code == 403
    assert "another concert" in elsewhere.json()["detail"]
    borrowed = await client.post(
        f"{CONCERTS}/{first['id']}/holds", json=_hold_body("floor-A-1"), headers={**other, **mine}
    )
    assert borrowed.status_code == 403
    assert "another account" in borrowed.json()["detail"]
    my_id = jwt.decode(mine["X-Queue-Pass"], options={"verify_signature": False})["sub"]
    signer = PassSigner(container_of(app).settings.signing_secret, "encore")
    expired = signer.sign(my_id, first["id"], int((time.time() - 5) * 1000))
    late = await client.post(
        f"{CONCERTS}/{first['id']}/holds",
        json=_hold_body("floor-A-1"),
        headers={**me, "X-Queue-Pass": expired},
    )
    assert late.status_code == 403
    forged = await client.post(
        f"{CONCERTS}/{first['id']}/holds",
        json=_hold_body("floor-A-1"),
        headers={**me, "X-Queue-Pass": mine["X-Queue-Pass"][:-4] + "AAAA"},
    )
    assert forged.status_code == 403


async def test_joining_twice_keeps_the_first_place(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    # One slot and one admission a minute: the first buyer is let in, the others wait.
    c = await create_concert(client, admin_headers, queue=_queue(admit_per_minute=1, max_active=1))
    people = [buyer(app) for _ in range(4)]
    for who in people:
        assert (await client.post(f"{CONCERTS}/{c['id']}/queue", headers=who)).status_code == 200
    last = people[-1]
    before = (await _status(client, c["id"], last)).json()
    assert before["state"] == "waiting"
    assert before["position"] in (3, 4)  # 3 once the first has been admitted
    again = (await client.post(f"{CONCERTS}/{c['id']}/queue", headers=last)).json()
    assert again["state"] == "waiting"
    assert again["position"] <= before["position"]
    assert again["ahead"] == again["position"] - 1
    # One admission a minute: the ETA says minutes, and clients are told to come back later.
    assert again["eta_seconds"] >= 60
    assert 24 <= again["poll_after_seconds"] <= 36  # 30 s, spread by +-20 %


async def test_before_the_sale_places_are_not_drawn_yet(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    opens = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
    c = await create_concert(client, admin_headers, on_sale_at=opens.isoformat(), queue=_queue())
    me = buyer(app)
    r = await client.post(f"{CONCERTS}/{c['id']}/queue", headers=me)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["state"] == "waiting"
    assert body["position"] is None
    assert body["ahead"] is None
    assert datetime.fromisoformat(body["draw_at"]) == opens
    assert 3500 <= body["eta_seconds"] <= 3600
    assert 24 <= body["poll_after_seconds"] <= 36  # 30 s, spread by +-20 %
    hold = await client.post(f"{CONCERTS}/{c['id']}/holds", json={"quantity": 1}, headers=me)
    assert hold.status_code == 409  # SaleNotOpen comes first: it says when to come back


async def test_queue_errors(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    plain = await create_concert(client, admin_headers)
    me = buyer(app)
    r = await client.post(f"{CONCERTS}/{plain['id']}/queue", headers=me)
    assert r.status_code == 409
    assert r.json()["error"] == "QueueNotEnabled"
    # Without a queue, holds need no pass.
    ok = await client.post(
        f"{CONCERTS}/{plain['id']}/holds", json=_hold_body("floor-A-1"), headers=me
    )
    assert ok.status_code == 201
    queued = await create_concert(client, admin_headers, queue=_queue())
    r = await _status(client, queued["id"], me)
    assert r.status_code == 404
    assert r.json()["error"] == "QueueNotJoined"
    assert (await client.post(f"{CONCERTS}/{queued['id']}/queue")).status_code == 401
    assert (await client.post(f"{CONCERTS}/nope/queue", headers=me)).status_code == 404


async def test_a_confirmed_order_frees_the_slot_for_the_next_buyer(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    c = await create_concert(client, admin_headers, queue=_queue(max_active=1))
    first, second = buyer(app), buyer(app)
    await client.post(f"{CONCERTS}/{c['id']}/queue", headers=first)
    pass_header = {"X-Queue-Pass": (await wait_admitted(client, c["id"], first))["pass"]}
    await client.post(f"{CONCERTS}/{c['id']}/queue", headers=second)
    await asyncio.sleep(1.5)  # an admission step or two: the only slot is taken
    waiting = (await _status(client, c["id"], second)).json()
    assert waiting["state"] == "waiting"
    assert waiting["position"] == 1

    auth = {**first, **pass_header}
    held = await client.post(
        f"{CONCERTS}/{c['id']}/holds", json=_hold_body("floor-A-1"), headers=auth
    )
    order = await client.post(f"{API}/checkout", json={"hold_id": held.json()["id"]}, headers=auth)
    paid = await pay(client, order.json()["payment"]["payment_intent_id"], first)
    assert paid.status_code == 200
    # order.confirmed reaches the waiting room's consumer group; the slot goes to the next.
    await wait_admitted(client, c["id"], second, within=15)


async def test_the_queue_opens_at_its_time(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    opens = now + timedelta(minutes=30)
    c = await create_concert(
        client,
        admin_headers,
        on_sale_at=(now + timedelta(hours=1)).isoformat(),
        queue=_queue(opens_at=opens.isoformat()),
    )
    assert datetime.fromisoformat(c["queue"]["opens_at"]) == opens
    me = buyer(app)
    early = await client.post(f"{CONCERTS}/{c['id']}/queue", headers=me)
    assert early.status_code == 409
    assert early.json()["error"] == "QueueNotOpen"
    assert datetime.fromisoformat(early.json()["opens_at"]) == opens
    # The organiser opens it now; the setting survives a round trip through the store.
    patched = await client.patch(
        f"{CONCERTS}/{c['id']}",
        json={"queue": _queue(opens_at=(now - timedelta(minutes=1)).isoformat())},
        headers=admin_headers,
    )
    assert patched.status_code == 200, patched.text
    joined = await client.post(f"{CONCERTS}/{c['id']}/queue", headers=me)
    assert joined.status_code == 200, joined.text


async def test_organisers_see_the_queue_at_a_glance(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    c = await create_concert(client, admin_headers, queue=_queue(admit_per_minute=1, max_active=1))
    for _ in range(3):
        await client.post(f"{CONCERTS}/{c['id']}/queue", headers=buyer(app))
    stats = await client.get(f"{CONCERTS}/{c['id']}/queue/stats", headers=admin_headers)
    assert stats.status_code == 200, stats.text
    body = stats.json()
    assert body["waiting"] + body["active_shoppers"] == 3
    assert body["active_shoppers"] <= 1
    assert (body["admit_per_minute"], body["max_active"]) == (1, 1)
    refused = await client.get(f"{CONCERTS}/{c['id']}/queue/stats", headers=buyer(app))
    assert refused.status_code == 403


def _rejected(reason: str) -> float:
    return REGISTRY.get_sample_value("queue_pass_rejected_total", {"reason": reason}) or 0.0


async def test_a_pass_stops_working_once_its_slot_is_freed(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    """Issue 16, item 7: one slot; the first buyer buys, which frees the slot for the second;
    the first buyer's pass must not go on holding seats next to the second buyer."""
    c = await create_concert(client, admin_headers, queue=_queue(max_active=1))
    first, second = buyer(app), buyer(app)
    await client.post(f"{CONCERTS}/{c['id']}/queue", headers=first)
    auth = {**first, "X-Queue-Pass": (await wait_admitted(client, c["id"], first))["pass"]}
    await client.post(f"{CONCERTS}/{c['id']}/queue", headers=second)
    held = await client.post(
        f"{CONCERTS}/{c['id']}/holds", json=_hold_body("floor-A-1"), headers=auth
    )
    assert held.status_code == 201, held.text
    order = await client.post(f"{API}/checkout", json={"hold_id": held.json()["id"]}, headers=auth)
    assert order.status_code == 201, order.text
    paid = await pay(client, order.json()["payment"]["payment_intent_id"], first)
    assert paid.status_code == 200
    await wait_admitted(client, c["id"], second, within=15)  # the slot went to the next buyer

    before = _rejected("slot_freed")
    again = await client.post(
        f"{CONCERTS}/{c['id']}/holds", json=_hold_body("floor-A-2"), headers=auth
    )
    assert again.status_code == 403, again.text
    body = again.json()
    assert body["error"] == "QueuePassRequired"
    assert "freed" in body["reason"]
    assert "join the queue again" in body["detail"]
    assert _rejected("slot_freed") == before + 1
