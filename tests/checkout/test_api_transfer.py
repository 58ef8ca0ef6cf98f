"""POST /tickets/{id}/transfer: a ticket given to another account at face value."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI

from tests.checkout.test_api import checkout, hold, order_of, pay
from tests.conftest import Account, signup
from tests.door.test_api import scan
from tests.helpers import CONCERTS, container_of, create_concert

API = "/api/v1"


async def bought(
    client: httpx.AsyncClient, concert_id: str, who: Account, seats: list[str]
) -> dict[str, Any]:
    """A confirmed order of these seats; returns the order with its tickets."""
    h = await hold(client, concert_id, who.headers, seats)
    r = await checkout(client, h["id"], who.headers)
    assert r.status_code == 201, r.text
    order = r.json()["order"]
    assert (await pay(client, order["payment_intent_id"], who.headers)).status_code == 200
    paid = await order_of(client, order["id"], who.headers)
    assert paid["status"] == "confirmed"
    return paid


async def give(
    client: httpx.AsyncClient,
    ticket_id: str,
    email: str,
    who: Account,
    key: str | None = None,
) -> httpx.Response:
    headers = {**who.headers, **({"Idempotency-Key": key} if key else {})}
    return await client.post(
        f"{API}/tickets/{ticket_id}/transfer", json={"email": email}, headers=headers
    )


async def my_tickets(client: httpx.AsyncClient, who: Account) -> list[dict[str, Any]]:
    r = await client.get(f"{API}/me/tickets", headers=who.headers)
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


async def test_the_receiver_gets_a_new_code_that_admits_and_the_old_one_is_revoked(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    sender, receiver = await signup(client), await signup(client)
    concert = await create_concert(client, admin_headers)
    order = await bought(client, concert["id"], sender, ["floor-A-1", "floor-A-2"])
    given, kept = sorted(order["tickets"], key=lambda t: t["seat_id"])

    r = await give(client, given["id"], receiver.email.upper(), sender)

    assert r.status_code == 200, r.text
    body = r.json()
    assert body["ticket_id"] == given["id"]
    assert body["seat_id"] == "floor-A-1"
    assert body["to_email"] == receiver.email
    assert "code" not in body  # the new code is the receiver's
    [received] = await my_tickets(client, receiver)
    assert received["id"] == given["id"]
    assert received["seat_id"] == "floor-A-1"
    assert received["code"] != given["code"]
    # The sender no longer has it: neither in their tickets nor on their order.
    assert [t["id"] for t in await my_tickets(client, sender)] == [kept["id"]]
    after = await order_of(client, order["id"], sender.headers)
    assert [t["id"] for t in after["tickets"]] == [kept["id"]]
    assert (order["tickets_given"], after["tickets_given"]) == (0, 1)

    old = await scan(client, concert["id"], given["code"], admin_headers)
    assert old.status_code == 409, old.text
    assert old.json()["error"] == "TicketRevoked"
    assert old.json()["reason"] == "transferred"
    assert "someone else" in old.json()["detail"]
    new = await scan(client, concert["id"], received["code"], admin_headers)
    assert new.status_code == 200, new.text
    assert new.json()["holder_name"] == "Fan"
    assert new.json()["seat_id"] == "floor-A-1"
    # The sender's other ticket still admits.
    assert (await scan(client, concert["id"], kept["code"], admin_headers)).status_code == 200


async def test_the_receiver_can_give_it_on_and_each_old_code_is_refused(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    a, b, c = await signup(client), await signup(client), await signup(client)
    concert = await create_concert(client, admin_headers)
    [ticket] = (await bought(client, concert["id"], a, ["balcony-A-1"]))["tickets"]
    assert (await give(client, ticket["id"], b.email, a)).status_code == 200
    [at_b] = await my_tickets(client, b)

    # The first holder can no longer give it: it is not theirs.
    again = await give(client, ticket["id"], c.email, a)
    assert again.status_code == 404, again.text
    assert again.json()["error"] == "TicketNotFound"
    assert (await give(client, ticket["id"], c.email, b)).status_code == 200
    [at_c] = await my_tickets(client, c)
    assert await my_tickets(client, b) == []

    for code in (ticket["code"], at_b["code"]):
        r = await scan(client, concert["id"], code, admin_headers)
        assert r.status_code == 409, r.text
        assert r.json()["reason"] == "transferred"
    assert (await scan(client, concert["id"], at_c["code"], admin_headers)).status_code == 200


async def test_the_receiver_s_ticket_limit_counts_what_they_hold_bought_and_received(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    sender, receiver = await signup(client), await signup(client)
    concert = await create_concert(client, admin_headers, max_tickets_per_user=3)
    tickets = (await bought(client, concert["id"], sender, ["floor-A-1", "floor-A-2"]))["tickets"]
    # The receiver bought one and holds one: 2 of 3.
    await bought(client, concert["id"], receiver, ["floor-B-1"])
    held = await hold(client, concert["id"], receiver.headers, ["floor-B-2"])

    first = await give(client, tickets[0]["id"], receiver.email, sender)
    assert first.status_code == 200, first.text
    over = await give(client, tickets[1]["id"], receiver.email, sender)
    assert over.status_code == 409, over.text
    assert over.json()["error"] == "ReceiverOverLimit"
    assert (over.json()["limit"], over.json()["already"]) == (3, 3)
    assert "3 of the 3" in over.json()["detail"]
    # Nothing changed hands: the sender still has the second ticket.
    assert {t["id"] for t in await my_tickets(client, sender)} == {tickets[1]["id"]}
    # A received ticket counts for holds too: the receiver may hold nothing more.
    r = await client.post(
        f"{CONCERTS}/{concert['id']}/holds",
        json={"seat_ids": ["balcony-A-4"]},
        headers=receiver.headers,
    )
    assert r.status_code == 409, r.text
    assert r.json()["error"] == "HoldLimitExceeded"
    # Once their hold is released there is room for the second ticket.
    r = await client.delete(f"{API}/holds/{held['id']}", headers=receiver.headers)
    assert r.status_code in (200, 204), r.text
    assert (await give(client, tickets[1]["id"], receiver.email, sender)).status_code == 200
    # The sender's purchase still counts against them: giving away does not free their cap.
    r = await client.post(
        f"{CONCERTS}/{concert['id']}/holds",
        json={"seat_ids": ["balcony-A-1", "balcony-A-2"]},
        headers=sender.headers,
    )
    assert r.status_code == 409, r.text
    assert r.json()["error"] == "HoldLimitExceeded"


async def test_received_tickets_still_count_after_the_seat_state_is_rebuilt(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    sender, receiver = await signup(client), await signup(client)
    concert = await create_concert(client, admin_headers, max_tickets_per_user=3)
    tickets = (await bought(client, concert["id"], sender, ["floor-A-1", "floor-A-2"]))["tickets"]
    for t in tickets:
        assert (await give(client, t["id"], receiver.email, sender)).status_code == 200
    await container_of(app).engine.reset(concert["id"])  # Redis lost the concert's state

    r = await client.post(
        f"{CONCERTS}/{concert['id']}/holds",
        json={"seat_ids": ["balcony-A-1", "balcony-A-2"]},
        headers=receiver.headers,
    )

    assert r.status_code == 409, r.text
    assert r.json()["error"] == "HoldLimitExceeded"
    assert r.json()["already"] == 2
    # One more fits; and the giver's purchase still counts for the giver.
    assert (await hold(client, concert["id"], receiver.headers, ["balcony-A-1"]))["id"]
    r = await client.post(
        f"{CONCERTS}/{concert['id']}/holds",
        json={"seat_ids": ["balcony-A-2", "balcony-A-3"]},
        headers=sender.headers,
    )
    assert r.status_code == 409, r.text
    assert r.json()["already"] == 2


async def test_concurrent_transfers_to_one_receiver_never_pass_the_limit(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    receiver = await signup(client)
    givers = [await signup(client) for _ in range(4)]
    concert = await create_concert(client, admin_headers, max_tickets_per_user=2)
    seats = ["floor-A-1", "floor-A-2", "floor-A-3", "floor-B-1"]
    tickets = [
        (await bought(client, concert["id"], g, [s]))["tickets"][0]
        for g, s in zip(givers, seats, strict=True)
    ]

    results = await asyncio.gather(
        *(give(client, t["id"], receiver.email, g) for t, g in zip(tickets, givers, strict=True))
    )

    assert sorted(r.status_code for r in results) == [200, 200, 409, 409]
    assert len(await my_tickets(client, receiver)) == 2


async def test_refusals_unknown_receiver_self_foreign_refunded_and_checked_in_tickets(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    owner, other = await signup(client), await signup(client)
    concert = await create_concert(client, admin_headers)
    order = await bought(client, concert["id"], owner, ["floor-A-1", "floor-A-2", "floor-A-3"])
    t1, t2, t3 = sorted(order["tickets"], key=lambda t: t["seat_id"])

    nobody = await give(client, t1["id"], "nobody-here@example.com", owner)
    assert nobody.status_code == 404, nobody.text
    assert nobody.json()["error"] == "UserNotFound"
    assert "sign up" in nobody.json()["detail"]

    me = await give(client, t1["id"], owner.email, owner)
    assert me.status_code == 422, me.text
    assert "your own address" in me.text

    foreign = await give(client, t1["id"], other.email, other)
    missing = await give(client, "no-such-ticket", other.email, owner)
    anonymous = await client.post(f"{API}/tickets/{t1['id']}/transfer", json={"email": "a@b.c"})
    assert foreign.status_code == 404, foreign.text
    assert foreign.json()["error"] == "TicketNotFound"
    assert missing.json() == foreign.json()
    assert anonymous.status_code == 401

    assert (await scan(client, concert["id"], t2["code"], admin_headers)).status_code == 200
    used = await give(client, t2["id"], other.email, owner)
    assert used.status_code == 409, used.text
    assert used.json()["error"] == "TicketNotTransferable"
    assert used.json()["reason"] == "checked_in"

    r = await client.post(f"{API}/orders/{order['id']}/refund", headers=admin_headers)
    assert r.status_code == 200, r.text
    refunded = await give(client, t3["id"], other.email, owner)
    assert refunded.status_code == 409, refunded.text
    assert refunded.json()["error"] == "TicketNotTransferable"
    assert refunded.json()["reason"] == "refunded"
    assert await my_tickets(client, other) == []


async def _change_concert(app: FastAPI, concert_id: str, **changes: Any) -> None:
    """Change the stored concert behind the API's back (and drop its cached copy)."""
    c = container_of(app)
    stored = await c.store.concerts.get(concert_id)
    assert stored is not None
    await c.store.concerts.update(replace(stored, **changes), expected_version=stored.version)
    c.concerts.drop(concert_id)


async def test_no_transfer_once_the_show_started(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    owner, other = await signup(client), await signup(client)
    concert = await create_concert(client, admin_headers)
    [ticket] = (await bought(client, concert["id"], owner, ["floor-A-1"]))["tickets"]
    await _change_concert(app, concert["id"], starts_at=datetime.now(UTC) - timedelta(minutes=5))

    r = await give(client, ticket["id"], other.email, owner)

    assert r.status_code == 409, r.text
    assert r.json()["error"] == "TicketNotTransferable"
    assert r.json()["reason"] == "started"


async def test_no_transfer_once_the_concert_is_cancelled(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    """Between the cancellation and its refund job reaching this order."""
    owner, other = await signup(client), await signup(client)
    concert = await create_concert(client, admin_headers)
    [ticket] = (await bought(client, concert["id"], owner, ["floor-A-1"]))["tickets"]
    await _change_concert(app, concert["id"], cancelled_at=datetime.now(UTC))

    r = await give(client, ticket["id"], other.email, owner)

    assert r.status_code == 409, r.text
    assert r.json()["error"] == "TicketNotTransferable"
    assert r.json()["reason"] == "cancelled"
    assert await my_tickets(client, other) == []


async def test_an_idempotency_key_replays_the_transfer(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    owner, other = await signup(client), await signup(client)
    concert = await create_concert(client, admin_headers)
    [ticket] = (await bought(client, concert["id"], owner, ["floor-A-1"]))["tickets"]

    first = await give(client, ticket["id"], other.email, owner, key="give-1")
    again = await give(client, ticket["id"], other.email, owner, key="give-1")

    assert first.status_code == again.status_code == 200, again.text
    assert again.json() == first.json()
    [received] = await my_tickets(client, other)
    # Replayed, not done twice: the code the receiver has still admits.
    assert (await scan(client, concert["id"], received["code"], admin_headers)).status_code == 200
