"""GET /orders/{id}/calendar.ics: the show of a paid order as a calendar event."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from icalendar import Calendar

from app.settings import Settings
from tests.checkout.test_api import pay
from tests.checkout.test_api_tickets_pdf import pending_order
from tests.conftest import signup

API = "/api/v1"


async def test_the_owner_gets_the_show_as_one_event_with_its_seats_and_a_link_to_the_order(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str], settings: Settings
) -> None:
    me = await signup(client)
    order, payment = await pending_order(client, admin_headers, me)
    assert (await pay(client, payment["payment_intent_id"], me.headers)).status_code == 200

    r = await client.get(f"{API}/orders/{order['id']}/calendar.ics", headers=me.headers)

    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/calendar")
    assert r.headers["content-disposition"] == (f'attachment; filename="concert-{order["id"]}.ics"')
    assert "no-store" in r.headers["cache-control"]
    events = Calendar.from_ical(r.content).walk("VEVENT")
    assert len(events) == 1
    event = events[0]
    assert str(event["uid"]) == f"concert-{order['concert_id']}@encore"
    assert event.decoded("dtstart").isoformat() == "2031-06-06T17:30:00+00:00"
    assert str(event["summary"]).startswith("Night of the Ångströms")
    assert str(event["location"]) == "Paradiso, Amsterdam"
    link = f"{settings.public_base_url.rstrip('/')}/orders/{order['id']}"
    assert str(event["url"]) == link
    description = str(event["description"])
    assert "Floor, row A, seat 2" in description
    assert "Balcony, row A, seat 4" in description
    assert "19:30 (Europe/Amsterdam)" in description


async def test_another_buyer_gets_404_and_an_unpaid_or_refunded_order_409(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    owner, other = await signup(client), await signup(client)
    order, payment = await pending_order(client, admin_headers, owner)
    url = f"{API}/orders/{order['id']}/calendar.ics"

    unpaid = await client.get(url, headers=owner.headers)
    assert unpaid.status_code == 409, unpaid.text
    assert unpaid.json()["error"] == "TicketsNotIssued"
    assert unpaid.json()["status"] == "pending_payment"

    assert (await pay(client, payment["payment_intent_id"], owner.headers)).status_code == 200
    theirs = await client.get(url, headers=other.headers)
    missing = await client.get(f"{API}/orders/no-such-order/calendar.ics", headers=other.headers)
    anonymous = await client.get(url)
    assert theirs.status_code == 404, theirs.text
    assert theirs.json()["error"] == "OrderNotFound"
    assert missing.json() == theirs.json()
    assert anonymous.status_code == 401

    r = await client.post(f"{API}/orders/{order['id']}/refund", headers=admin_headers)
    assert r.status_code == 200, r.text
    refunded = await client.get(url, headers=owner.headers)
    assert refunded.status_code == 409, refunded.text
    assert refunded.json()["status"] == "refunded"
