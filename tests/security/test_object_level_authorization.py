"""API1:2023 Broken Object Level Authorization: one buyer's holds, orders, tickets, payments and
queue place are invisible and untouchable for another buyer (404, as if they did not exist).

Two real accounts: Alice owns everything, Mallory tries every id-taking route with Alice's ids.
`test_every_id_taking_route_is_covered` enumerates the app's routes, so a new route that takes
an object id fails until it is added here.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.checkout.test_api import checkout, hold, order_of, pay
from tests.conftest import Account, signup
from tests.helpers import CONCERTS, container_of, create_concert
from tests.security.routes import api_routes
from tests.waiting_room.test_api import wait_admitted

API = "/api/v1"

# Path parameters that name an object someone owns, and the routes taking them (tested below).
OWNED = {
    "GET /api/v1/holds/{hold_id}",
    "DELETE /api/v1/holds/{hold_id}",
    "GET /api/v1/orders/{order_id}",
    "GET /api/v1/orders/{order_id}/payment",
    "GET /api/v1/orders/{order_id}/tickets.pdf",
    "GET /api/v1/orders/{order_id}/calendar.ics",
    "POST /api/v1/orders/{order_id}/cancel",
    "POST /api/v1/tickets/{ticket_id}/transfer",
    "POST /api/v1/orders/{order_id}/refund",  # organisers only: any order (API5's test)
    "POST /api/v1/payments/simulated/{payment_intent_id}/confirm",
}
# Concert ids are public (the catalogue); a buyer's queue place is found by the token, not an id.
PUBLIC_IDS = {"concert_id"}


def test_every_id_taking_route_is_covered(app: FastAPI) -> None:
    taking = {
        r.label
        for r in api_routes(app)
        if any(p.name not in PUBLIC_IDS for p in r.dependant.path_params)
    }
    assert taking == OWNED, "a route takes an object id: test it here, then list it in OWNED"


@pytest.fixture
async def alice(client: httpx.AsyncClient) -> Account:
    return await signup(client)


@pytest.fixture
async def mallory(client: httpx.AsyncClient) -> Account:
    return await signup(client)


async def _bought(
    client: httpx.AsyncClient, concert: dict[str, Any], who: Account, seat: str
) -> dict[str, Any]:
    h = await hold(client, concert["id"], who.headers, [seat])
    result: dict[str, Any] = (await checkout(client, h["id"], who.headers)).json()
    return {**result, "hold": h}


async def test_holds_of_another_buyer(
    client: httpx.AsyncClient, admin_headers: dict[str, str], alice: Account, mallory: Account
) -> None:
    c = await create_concert(client, admin_headers)
    h = await hold(client, c["id"], alice.headers, ["floor-A-1"])
    for r in (
        await client.get(f"{API}/holds/{h['id']}", headers=mallory.headers),
        await client.delete(f"{API}/holds/{h['id']}", headers=mallory.headers),
        await checkout(client, h["id"], mallory.headers),
    ):
        assert r.status_code == 404, r.text
        assert r.json()["error"] == "HoldNotFound"
    # Untouched: still Alice's, still held.
    assert (await client.get(f"{API}/holds/{h['id']}", headers=alice.headers)).json() == h


async def test_orders_of_another_buyer(
    client: httpx.AsyncClient, admin_headers: dict[str, str], alice: Account, mallory: Account
) -> None:
    c = await create_concert(client, admin_headers)
    result = await _bought(client, c, alice, "floor-A-2")
    order = result["order"]
    for r in (
        await client.get(f"{API}/orders/{order['id']}", headers=mallory.headers),
        await client.get(f"{API}/orders/{order['id']}/payment", headers=mallory.headers),
        await client.get(f"{API}/orders/{order['id']}/tickets.pdf", headers=mallory.headers),
        await client.get(f"{API}/orders/{order['id']}/calendar.ics", headers=mallory.headers),
        await client.post(f"{API}/orders/{order['id']}/cancel", headers=mallory.headers),
    ):
        assert r.status_code == 404, r.text
        assert r.json()["error"] == "OrderNotFound"
        assert result["payment"]["client_secret"] not in r.text
    # Checking out Alice's (checked-out) hold does not hand Mallory her order and payment.
    r = await checkout(client, result["hold"]["id"], mallory.headers)
    assert r.status_code == 404
    assert order["id"] not in r.text
    assert (await order_of(client, order["id"], alice.headers))["status"] == "pending_payment"
    mine = (await client.get(f"{API}/me/orders", headers=mallory.headers)).json()["items"]
    assert mine == []


async def test_paying_another_buyers_intent(
    client: httpx.AsyncClient,
    app: FastAPI,
    admin_headers: dict[str, str],
    alice: Account,
    mallory: Account,
) -> None:
    """The simulated pay button of someone else's order: 404, and nothing is paid (paying it
    would confirm Alice's seats on Mallory's whim, or fail them)."""
    c = await create_concert(client, admin_headers)
    result = await _bought(client, c, alice, "floor-A-3")
    intent = result["payment"]["payment_intent_id"]
    for outcome in ("succeeded", "failed"):
        r = await pay(client, intent, mallory.headers, outcome)
        assert r.status_code == 404, r.text
    assert (await container_of(app).gateway.retrieve_intent(intent)).status != "succeeded"
    assert (await order_of(client, result["order"]["id"], alice.headers))["status"] == (
        "pending_payment"
    )


async def test_tickets_of_another_buyer(
    client: httpx.AsyncClient, admin_headers: dict[str, str], alice: Account, mallory: Account
) -> None:
    c = await create_concert(client, admin_headers)
    result = await _bought(client, c, alice, "floor-B-1")
    assert (await pay(client, result["payment"]["payment_intent_id"], alice.headers)).is_success
    theirs = (await client.get(f"{API}/me/tickets", headers=alice.headers)).json()["items"]
    assert [t["seat_id"] for t in theirs] == ["floor-B-1"]
    mine = (await client.get(f"{API}/me/tickets", headers=mallory.headers)).json()["items"]
    assert mine == []
    # The order (with its ticket codes) is not readable by id either.
    r = await client.get(f"{API}/orders/{result['order']['id']}", headers=mallory.headers)
    assert r.status_code == 404
    assert theirs[0]["code"] not in r.text
    # Nor can Mallory give Alice's ticket away (to herself or anyone): 404, and it stays Alice's.
    r = await client.post(
        f"{API}/tickets/{theirs[0]['id']}/transfer",
        json={"email": mallory.email},
        headers=mallory.headers,
    )
    assert r.status_code == 404, r.text
    assert r.json()["error"] == "TicketNotFound"
    assert (await client.get(f"{API}/me/tickets", headers=alice.headers)).json()["items"] == theirs
    mine = (await client.get(f"{API}/me/tickets", headers=mallory.headers)).json()["items"]
    assert mine == []


async def test_queue_place_and_pass_of_another_buyer(
    client: httpx.AsyncClient,
    app: FastAPI,
    admin_headers: dict[str, str],
    alice: Account,
    mallory: Account,
) -> None:
    """A queue place is the caller's own (no id to swap), and Alice's pass does not let
    Mallory skip the line."""
    queue = {"enabled": True, "admit_per_minute": 600, "max_active": 100}
    c = await create_concert(client, admin_headers, queue=queue)
    joined = await client.post(f"{CONCERTS}/{c['id']}/queue", headers=alice.headers)
    assert joined.status_code == 200
    theirs = await client.get(f"{CONCERTS}/{c['id']}/queue", headers=mallory.headers)
    assert theirs.status_code == 404
    assert theirs.json()["error"] == "QueueNotJoined"
    # Alice's genuine pass (a pass is valid only while its holder is an admitted shopper).
    alices_pass = (await wait_admitted(client, c["id"], alice.headers))["pass"]
    r = await client.post(
        f"{CONCERTS}/{c['id']}/holds",
        json={"seat_ids": ["floor-A-1"]},
        headers={**mallory.headers, "X-Queue-Pass": alices_pass},
    )
    assert r.status_code == 403
    assert r.json()["error"] == "QueuePassRequired"
    # Control: the same pass works for Alice, so the refusal above is about the owner.
    ok = await client.post(
        f"{CONCERTS}/{c['id']}/holds",
        json={"seat_ids": ["floor-A-1"]},
        headers={**alice.headers, "X-Queue-Pass": alices_pass},
    )
    assert ok.status_code == 201, ok.text
