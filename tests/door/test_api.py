"""Door check-in end to end (issue 16, item 6): tickets bought through the real checkout with the
simulated provider and signed webhooks, scanned by an organiser through the real app."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from datetime import datetime
from typing import Any

import httpx
from fastapi import FastAPI
from prometheus_client import REGISTRY

from app.checkout.tickets import TicketSigner, ticket_id
from tests.checkout.test_api import (
    charge_refunded,
    checkout,
    deliver,
    event,
    hold,
    order_of,
    pay,
)
from tests.conftest import Account, token_headers
from tests.helpers import CONCERTS, buyer, container_of, create_concert
from tests.platform.test_ratelimit import (
    assert_rate_limited,
    client_at,
    client_ip,
    limited_app,
)


async def bought(
    client: httpx.AsyncClient, concert_id: str, headers: dict[str, str], seat: str = "floor-A-1"
) -> dict[str, Any]:
    """A paid order of one seat (confirmed by the signed webhook); returns its ticket."""
    h = await hold(client, concert_id, headers, [seat])
    r = await checkout(client, h["id"], headers)
    assert r.status_code == 201, r.text
    order = r.json()["order"]
    assert (await pay(client, order["payment_intent_id"], headers)).status_code == 200
    paid = await order_of(client, order["id"], headers)
    assert paid["status"] == "confirmed"
    [ticket] = paid["tickets"]
    ticket["payment_intent_id"] = order["payment_intent_id"]
    return dict(ticket)


async def scan(
    client: httpx.AsyncClient, concert_id: str, code: str, headers: dict[str, str]
) -> httpx.Response:
    return await client.post(
        f"{CONCERTS}/{concert_id}/check-ins", json={"code": code}, headers=headers
    )


def check_ins(outcome: str) -> float:
    return REGISTRY.get_sample_value("door_check_ins_total", {"outcome": outcome}) or 0.0


async def test_the_first_scan_admits_with_the_seat(
    client: httpx.AsyncClient, admin_headers: dict[str, str], user: Account
) -> None:
    c = await create_concert(client, admin_headers)
    ticket = await bought(client, c["id"], user.headers, "floor-B-2")

    r = await scan(client, c["id"], ticket["code"], admin_headers)

    assert r.status_code == 200, r.text
    body = r.json()
    assert body["ticket_id"] == ticket["id"]
    assert body["order_id"] == ticket["order_id"]
    assert body["seat_id"] == "floor-B-2"
    assert (body["section"], body["row"], body["number"]) == ("Floor", "B", 2)
    assert body["holder_name"] == "Fan"
    assert datetime.fromisoformat(body["checked_in_at"]).utcoffset() is not None


async def test_a_second_scan_is_already_checked_in_with_the_first_time(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    c = await create_concert(client, admin_headers)
    ticket = await bought(client, c["id"], buyer(app))
    first = await scan(client, c["id"], ticket["code"], admin_headers)
    assert first.status_code == 200, first.text

    for _ in range(2):
        again = await scan(client, c["id"], ticket["code"], admin_headers)
        assert again.status_code == 409, again.text
        body = again.json()
        assert body["error"] == "AlreadyCheckedIn"
        assert body["checked_in_at"] == first.json()["checked_in_at"]
        assert (body["ticket_id"], body["seat_id"]) == (ticket["id"], "floor-A-1")
        assert "already used to enter" in body["detail"]


async def test_a_refunded_orders_ticket_is_revoked_while_its_resold_seat_admits(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    """The defect: after `charge.refunded` the old code still verified while the seat was sold
    again. Now the old code is refused and only the new buyer's ticket gets in."""
    c = await create_concert(client, admin_headers)
    old = await bought(client, c["id"], buyer(app))
    refund = event("charge.refunded", charge_refunded(old["payment_intent_id"]))
    assert (await deliver(client, app, refund)).status_code == 200
    new = await bought(client, c["id"], buyer(app))  # the same seat, sold again
    assert new["seat_id"] == old["seat_id"]

    r = await scan(client, c["id"], old["code"], admin_headers)

    assert r.status_code == 409, r.text
    body = r.json()
    assert body["error"] == "TicketRevoked"
    assert body["reason"] == "refunded"
    assert "refunded" in body["detail"]
    # The refunded ticket was not checked in: the seat's new holder is admitted.
    admitted = await scan(client, c["id"], new["code"], admin_headers)
    assert admitted.status_code == 200, admitted.text
    assert admitted.json()["ticket_id"] == new["id"]
    # And the old code stays refused, however often it is tried.
    assert (await scan(client, c["id"], old["code"], admin_headers)).json()["error"] == (
        "TicketRevoked"
    )


async def test_a_ticket_refunded_by_the_organiser_is_revoked(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    """The other way an order gets refunded: the organisers' refund endpoint."""
    c = await create_concert(client, admin_headers)
    ticket = await bought(client, c["id"], buyer(app))
    refunded = await client.post(
        f"/api/v1/orders/{ticket['order_id']}/refund", headers=admin_headers
    )
    assert refunded.status_code == 200, refunded.text

    r = await scan(client, c["id"], ticket["code"], admin_headers)

    assert r.status_code == 409, r.text
    assert (r.json()["error"], r.json()["reason"]) == ("TicketRevoked", "refunded")


async def test_a_ticket_refunded_after_entry_is_revoked_on_a_rescan(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    c = await create_concert(client, admin_headers)
    ticket = await bought(client, c["id"], buyer(app))
    assert (await scan(client, c["id"], ticket["code"], admin_headers)).status_code == 200
    refund = event("charge.refunded", charge_refunded(ticket["payment_intent_id"]))
    assert (await deliver(client, app, refund)).status_code == 200

    r = await scan(client, c["id"], ticket["code"], admin_headers)

    assert r.status_code == 409, r.text
    assert r.json()["error"] == "TicketRevoked"


def _tampered(code: str, **claims: str) -> str:
    """The code with some claims changed and the original signature kept."""
    header, payload, signature = code.split(".")
    decoded = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    decoded.update(claims)
    forged = base64.urlsafe_b64encode(json.dumps(decoded).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


async def test_forged_codes_are_invalid(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    c = await create_concert(client, admin_headers)
    ticket = await bought(client, c["id"], buyer(app))
    other_seat = await bought(client, c["id"], buyer(app), "floor-A-2")
    claims = TicketSigner(container_of(app).settings.ticket_signing_secret, "encore").verify(
        ticket["code"]
    )
    wrong_key = TicketSigner("not-the-ticket-secret-" * 2, "encore").sign(
        claims.ticket_id, claims.order_id, claims.concert_id, claims.seat_id
    )
    access_token = admin_headers["Authorization"].removeprefix("Bearer ")
    forged = [
        "not a ticket",
        wrong_key,
        _tampered(ticket["code"], sid="floor-A-2"),  # a seat someone else paid for
        _tampered(other_seat["code"], oid=claims.order_id),
        access_token,  # a genuine token of ours, but not a ticket
        ticket["code"][:-4],  # damaged
    ]

    for code in forged:
        r = await scan(client, c["id"], code, admin_headers)
        assert r.status_code == 422, f"{code}: {r.text}"
        assert r.json()["error"] == "InvalidTicket"
        assert "do not admit" in r.json()["detail"]
    # None of them spent a real ticket.
    for real in (ticket, other_seat):
        assert (await scan(client, c["id"], real["code"], admin_headers)).status_code == 200


async def test_a_signed_code_of_a_ticket_never_issued_is_invalid(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    """Genuine signature, but no such order or ticket in the store (a leaked key, a code made
    by hand): the store has the last word."""
    c = await create_concert(client, admin_headers)
    signer = TicketSigner(container_of(app).settings.ticket_signing_secret, "encore")
    order_id = str(uuid.uuid4())
    code = signer.sign(ticket_id(order_id, "floor-A-1"), order_id, c["id"], "floor-A-1")

    r = await scan(client, c["id"], code, admin_headers)

    assert r.status_code == 422, r.text
    assert r.json()["error"] == "InvalidTicket"
    assert "never issued" in r.json()["detail"]


async def test_another_concerts_ticket_is_invalid_here(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    tonight = await create_concert(client, admin_headers)
    tomorrow = await create_concert(client, admin_headers)
    ticket = await bought(client, tomorrow["id"], buyer(app))

    r = await scan(client, tonight["id"], ticket["code"], admin_headers)

    assert r.status_code == 422, r.text
    assert r.json()["error"] == "InvalidTicket"
    assert "another concert" in r.json()["detail"]
    assert tomorrow["title"] in r.json()["detail"]  # the door person can say which night
    # Still good for its own concert.
    assert (await scan(client, tomorrow["id"], ticket["code"], admin_headers)).status_code == 200


async def test_an_unknown_concert_is_not_found(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    c = await create_concert(client, admin_headers)
    ticket = await bought(client, c["id"], buyer(app))

    r = await scan(client, "no-such-concert", ticket["code"], admin_headers)

    assert r.status_code == 404, r.text
    assert r.json()["error"] == "ConcertNotFound"


async def test_buyers_cannot_check_in_even_their_own_ticket(
    client: httpx.AsyncClient, admin_headers: dict[str, str], user: Account
) -> None:
    c = await create_concert(client, admin_headers)
    ticket = await bought(client, c["id"], user.headers)

    anonymous = await scan(client, c["id"], ticket["code"], {})
    assert anonymous.status_code == 401, anonymous.text
    as_buyer = await scan(client, c["id"], ticket["code"], user.headers)
    assert as_buyer.status_code == 403, as_buyer.text
    assert as_buyer.json()["error"] == "Forbidden"
    # Neither attempt used the ticket up.
    assert (await scan(client, c["id"], ticket["code"], admin_headers)).status_code == 200


async def test_concurrent_scans_of_one_code_admit_exactly_once(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    """The same code at 50 doors at once (a copied QR code): one gets in."""
    c = await create_concert(client, admin_headers)
    ticket = await bought(client, c["id"], buyer(app))

    replies = await asyncio.gather(
        *(scan(client, c["id"], ticket["code"], admin_headers) for _ in range(50))
    )

    statuses = sorted(r.status_code for r in replies)
    assert statuses == [200] + [409] * 49, [r.text for r in replies if r.status_code != 409]
    [admitted] = [r.json() for r in replies if r.status_code == 200]
    refused = [r.json() for r in replies if r.status_code == 409]
    assert {body["error"] for body in refused} == {"AlreadyCheckedIn"}
    assert {body["checked_in_at"] for body in refused} == {admitted["checked_in_at"]}


async def test_check_ins_are_counted_by_outcome(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    c = await create_concert(client, admin_headers)
    kept = await bought(client, c["id"], buyer(app))
    refunded = await bought(client, c["id"], buyer(app), "floor-A-2")
    refund = event("charge.refunded", charge_refunded(refunded["payment_intent_id"]))
    assert (await deliver(client, app, refund)).status_code == 200
    outcomes = ("admitted", "already_in", "revoked", "invalid")
    before = {o: check_ins(o) for o in outcomes}

    for code in (kept["code"], kept["code"], kept["code"], refunded["code"], "forged"):
        await scan(client, c["id"], code, admin_headers)

    after = {o: check_ins(o) - before[o] for o in outcomes}
    assert after == {"admitted": 1, "already_in": 2, "revoked": 1, "invalid": 1}
    metrics = (await client.get("/metrics")).text
    assert 'door_check_ins_total{outcome="admitted"}' in metrics


async def test_an_organiser_scanning_fast_is_not_held_back_by_the_general_limits(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    store_overrides: dict[str, Any],
) -> None:
    """A venue's scanners share the organiser's account and, behind the venue's router, one
    address: hundreds of scans a minute. With the per-user window at 5 and the per-address one
    at 10 a minute, 25 scans of one organiser all get an answer; they count in their own window
    (RATE_LIMIT_CHECK_INS_PER_USER), and only a verified organiser's scans do."""
    c = await create_concert(client, admin_headers)
    ticket = await bought(client, c["id"], buyer(app))  # bought without limits
    limits = {"rate_limit_per_user": "5/minute", "rate_limit_default_per_ip": "10/minute"}
    async with (
        limited_app(store_overrides, rate_limit_check_ins_per_user="25/minute", **limits) as door,
        client_at(door, client_ip()) as venue,
        client_at(door, client_ip()) as elsewhere,
    ):
        organiser = token_headers(door, f"organiser-{uuid.uuid4().hex[:10]}", role="admin")
        replies = [await scan(venue, c["id"], ticket["code"], organiser) for _ in range(25)]
        assert [r.status_code for r in replies] == [200] + [409] * 24, replies[-1].text
        # The door window is the organiser's own limit, with its own advice.
        assert_rate_limited(
            await scan(venue, c["id"], ticket["code"], organiser),
            "Too many ticket scans from your account",
        )
        # The scans used neither the organiser's general window nor the venue's address's.
        assert (await venue.get(f"{CONCERTS}/{c['id']}", headers=organiser)).status_code == 200
        # Anyone else at the door route counts as before: a buyer in their user window...
        someone = token_headers(door, f"buyer-{uuid.uuid4().hex[:10]}")
        answers = [await scan(elsewhere, c["id"], ticket["code"], someone) for _ in range(6)]
        assert [r.status_code for r in answers] == [403] * 5 + [429]
        # ...and requests without a token in their address's window.
        anonymous = [await scan(elsewhere, c["id"], ticket["code"], {}) for _ in range(5)]
        assert [r.status_code for r in anonymous] == [401] * 4 + [429]


async def test_the_door_window_matches_exactly_the_check_in_route(app: FastAPI) -> None:
    """The door window is declared by the check-in route alone (its `x-rate-limit`)."""
    declared = {
        path
        for path, item in app.openapi()["paths"].items()
        for operation in item.values()
        if operation.get("x-rate-limit", {}).get("organisers") == "door"
    }
    assert declared == {"/api/v1/concerts/{concert_id}/check-ins"}
