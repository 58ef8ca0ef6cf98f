"""GET /concerts/{id}/report.csv: the organiser's sales, one row per ticket issued."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx

from tests.checkout.test_api import checkout, hold, order_of, pay
from tests.conftest import Account, signup
from tests.helpers import CONCERTS, concert_body, create_concert


async def bought(
    client: httpx.AsyncClient, concert_id: str, buyer: Account, seats: list[str]
) -> dict[str, Any]:
    """A paid order of these seats, with its tickets."""
    h = await hold(client, concert_id, buyer.headers, seats)
    r = await checkout(client, h["id"], buyer.headers)
    assert r.status_code == 201, r.text
    body = r.json()
    assert (await pay(client, body["payment"]["payment_intent_id"], buyer.headers)).is_success
    return await order_of(client, body["order"]["id"], buyer.headers)


def rows_of(r: httpx.Response) -> list[dict[str, str]]:
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(r.text)))


async def test_one_row_per_ticket_with_its_buyer_price_and_state(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    sections = concert_body()["sections"]
    sections[0]["name"] = "=HYPERLINK(1)"  # an organiser's text must not run in a spreadsheet
    c = await create_concert(client, admin_headers, sections=sections)
    first = c["sections"][0]["id"]  # the slug of that name
    alice, bob = await signup(client), await signup(client)
    kept = await bought(client, c["id"], alice, [f"{first}-A-1", "balcony-A-2"])
    refunded = await bought(client, c["id"], bob, ["balcony-A-3"])
    r = await client.post(f"/api/v1/orders/{refunded['id']}/refund", headers=admin_headers)
    assert r.status_code == 200, r.text
    code = next(t["code"] for t in kept["tickets"] if t["seat_id"] == "balcony-A-2")
    door = await client.post(
        f"{CONCERTS}/{c['id']}/check-ins", json={"code": code}, headers=admin_headers
    )
    assert door.status_code == 200, door.text
    pending = await hold(client, c["id"], bob.headers, [f"{first}-A-2"])  # no tickets: no row
    assert (await checkout(client, pending["id"], bob.headers)).status_code == 201

    r = await client.get(f"{CONCERTS}/{c['id']}/report.csv", headers=admin_headers)

    assert r.headers["content-disposition"] == f'attachment; filename="sales-{c["id"]}.csv"'
    rows = rows_of(r)
    by_seat = {row["seat_id"]: row for row in rows}
    assert sorted(by_seat) == sorted(["balcony-A-2", "balcony-A-3", f"{first}-A-1"])
    floor = by_seat[f"{first}-A-1"]
    assert floor["order_id"] == kept["id"]
    assert floor["buyer_email"] == alice.email
    assert floor["section"] == "'=HYPERLINK(1)"
    assert (floor["row"], floor["seat"]) == ("A", "1")
    assert floor["price_cents"] == str(sections[0]["price_cents"])
    assert floor["currency"] == c["currency"]
    assert floor["status"] == "valid"
    assert floor["paid_at"]
    assert not floor["refunded_at"]
    assert not floor["checked_in_at"]
    assert by_seat["balcony-A-2"]["status"] == "checked_in"
    assert by_seat["balcony-A-2"]["checked_in_at"]
    gone = by_seat["balcony-A-3"]
    assert (gone["status"], gone["buyer_email"]) == ("refunded", bob.email)
    assert gone["paid_at"]
    assert gone["refunded_at"] >= gone["paid_at"]


async def test_a_concert_without_sales_has_only_the_header(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    c = await create_concert(client, admin_headers)
    r = await client.get(f"{CONCERTS}/{c['id']}/report.csv", headers=admin_headers)
    assert rows_of(r) == []
    assert r.text.startswith("order_id,buyer_email,section,row,seat,")


async def test_only_organisers_get_the_report(
    client: httpx.AsyncClient, admin_headers: dict[str, str], user: Account
) -> None:
    c = await create_concert(client, admin_headers)
    path = f"{CONCERTS}/{c['id']}/report.csv"
    assert (await client.get(path)).status_code == 401
    as_buyer = await client.get(path, headers=user.headers)
    assert (as_buyer.status_code, as_buyer.json()["error"]) == (403, "Forbidden")
    missing = await client.get(f"{CONCERTS}/nope/report.csv", headers=admin_headers)
    assert (missing.status_code, missing.json()["error"]) == (404, "ConcertNotFound")
