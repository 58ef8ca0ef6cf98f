"""GET /orders/{id}/tickets.pdf: the buyer's tickets, one page each, the code as a QR code."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI

from tests.checkout.test_api import checkout, hold, order_of, pay
from tests.conftest import Account, signup
from tests.helpers import create_concert
from tests.ticket_files import page_objects, page_texts, qr_codes_on_page

API = "/api/v1"
SEATS = ["floor-A-2", "balcony-A-4"]


async def pending_order(
    client: httpx.AsyncClient, admin_headers: dict[str, str], buyer: Account
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A concert in Amsterdam at 19:30 local time, and the buyer's order of two of its seats,
    checked out and not paid yet (the order and its payment)."""
    concert = await create_concert(
        client,
        admin_headers,
        title="Night of the Ångströms",
        venue={"name": "Paradiso", "city": "Amsterdam", "time_zone": "Europe/Amsterdam"},
        starts_at="2031-06-06T17:30:00+00:00",  # 19:30 summer time
    )
    h = await hold(client, concert["id"], buyer.headers, SEATS)
    r = await checkout(client, h["id"], buyer.headers)
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body["order"], body["payment"]


async def test_the_owner_gets_one_page_per_ticket_with_its_code_as_a_qr_code(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    me = await signup(client)
    order, payment = await pending_order(client, admin_headers, me)
    r = await pay(client, payment["payment_intent_id"], me.headers)
    assert r.status_code == 200, r.text
    codes = {
        t["seat_id"]: t["code"]
        for t in (await order_of(client, order["id"], me.headers))["tickets"]
    }
    assert sorted(codes) == sorted(SEATS)
    seat_order = order["seat_ids"]  # the pages follow the order's seats

    r = await client.get(f"{API}/orders/{order['id']}/tickets.pdf", headers=me.headers)

    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf"
    assert r.headers["content-disposition"] == (f'attachment; filename="tickets-{order["id"]}.pdf"')
    assert "no-store" in r.headers["cache-control"]
    pdf = r.content
    assert pdf.startswith(b"%PDF-")
    assert page_objects(pdf) == 2
    first, second = page_texts(pdf)
    for text in (first, second):
        assert "Night of the Ångströms" in text
        assert "Paradiso, Amsterdam" in text
        assert "Friday 6 June 2031, 19:30 (Europe/Amsterdam)" in text
        assert "Fan" in text  # the account's name
    words = {"floor-A-2": "Floor, row A, seat 2", "balcony-A-4": "Balcony, row A, seat 4"}
    assert words[seat_order[0]] in first
    assert words[seat_order[1]] not in first
    assert words[seat_order[1]] in second
    assert "Ticket 1 of 2" in first
    assert "Ticket 2 of 2" in second
    assert qr_codes_on_page(pdf, 0) == [codes[seat_order[0]]]
    assert qr_codes_on_page(pdf, 1) == [codes[seat_order[1]]]


async def test_another_buyer_gets_404_as_for_an_order_that_does_not_exist(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    owner, other = await signup(client), await signup(client)
    order, payment = await pending_order(client, admin_headers, owner)
    assert (await pay(client, payment["payment_intent_id"], owner.headers)).status_code == 200

    theirs = await client.get(f"{API}/orders/{order['id']}/tickets.pdf", headers=other.headers)
    missing = await client.get(f"{API}/orders/no-such-order/tickets.pdf", headers=other.headers)
    anonymous = await client.get(f"{API}/orders/{order['id']}/tickets.pdf")

    assert theirs.status_code == 404, theirs.text
    assert theirs.json()["error"] == "OrderNotFound"
    assert missing.status_code == 404
    assert missing.json() == theirs.json()
    assert anonymous.status_code == 401
    assert anonymous.json()["error"] == "NotAuthenticated"


async def test_an_order_not_paid_yet_has_no_tickets_to_print(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    me = await signup(client)
    order, _ = await pending_order(client, admin_headers, me)

    r = await client.get(f"{API}/orders/{order['id']}/tickets.pdf", headers=me.headers)

    assert r.status_code == 409, r.text
    body = r.json()
    assert body["error"] == "TicketsNotIssued"
    assert body["status"] == "pending_payment"
    assert "once it is paid" in body["detail"]


async def test_a_refunded_order_s_tickets_are_no_longer_printed(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    me = await signup(client)
    order, payment = await pending_order(client, admin_headers, me)
    assert (await pay(client, payment["payment_intent_id"], me.headers)).status_code == 200
    r = await client.post(f"{API}/orders/{order['id']}/refund", headers=admin_headers)
    assert r.status_code == 200, r.text

    r = await client.get(f"{API}/orders/{order['id']}/tickets.pdf", headers=me.headers)

    assert r.status_code == 409, r.text
    assert r.json()["error"] == "TicketsNotIssued"
    assert r.json()["status"] == "refunded"
    assert "refunded" in r.json()["detail"]
