from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.container import Container
from tests.conftest import Account
from tests.helpers import CONCERTS, concert_body, seat_ids
from tests.helpers import create_concert as create


async def test_admin_creates_a_concert_with_a_layout(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    c = await create(client, admin_headers)
    assert c["status"] == "on_sale"
    assert c["seats_total"] == 10
    assert c["seats_available"] == 10
    assert c["price_range"] == {"min_cents": 3000, "max_cents": 5000}
    assert c["max_tickets_per_user"] == 8
    assert c["queue"] == {
        "enabled": False,
        "admit_per_minute": 600,
        "max_active": 2000,
        "opens_at": None,
        "challenge": False,
        "challenge_difficulty": 100_000,
        "mode": "fifo",
        "registration_opens_at": None,
        "registration_closes_at": None,
        "winners": 0,
    }
    floor, balcony = c["sections"]
    assert floor["id"] == "floor"
    assert floor["rows"] == [{"label": "A", "count": 3}, {"label": "B", "count": 3}]
    assert balcony["rows"][0] == {"label": "A", "count": 4}
    assert seat_ids(c)[:4] == ["floor-A-1", "floor-A-2", "floor-A-3", "floor-B-1"]

    got = await client.get(f"{CONCERTS}/{c['id']}")
    assert got.status_code == 200
    assert got.json() == c


async def test_a_stadium_layout_is_sent_as_row_counts_not_seat_ids(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    """50,000 seats: the concert is a few KB (rows as counts); the ids follow from the rule
    and come spelled out only on request (`?expand=seat_ids`)."""
    body = concert_body(
        sections=[
            {"name": f"Block {n}", "price_cents": 5000, "rows": 50, "seats_per_row": 100}
            for n in range(10)
        ]
    )
    c = await create(client, admin_headers, **body)
    compact = await client.get(f"{CONCERTS}/{c['id']}")
    assert compact.status_code == 200
    assert len(compact.content) < 40_000
    assert all("seats" not in row for s in compact.json()["sections"] for row in s["rows"])
    assert len(seat_ids(compact.json())) == 50_000
    full = await client.get(f"{CONCERTS}/{c['id']}", params={"expand": "seat_ids"})
    assert len(full.content) > 500_000
    spelled = [seat for s in full.json()["sections"] for row in s["rows"] for seat in row["seats"]]
    assert spelled == seat_ids(compact.json())
    bad = await client.get(f"{CONCERTS}/{c['id']}", params={"expand": "everything"})
    assert bad.status_code == 422


async def test_a_concert_answers_304_to_its_current_etag(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    c = await create(client, admin_headers)
    first = await client.get(f"{CONCERTS}/{c['id']}")
    etag = first.headers["etag"]
    again = await client.get(f"{CONCERTS}/{c['id']}", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    other = await client.get(f"{CONCERTS}/{c['id']}", headers={"If-None-Match": '"stale"'})
    assert other.status_code == 200
    assert other.json() == first.json()
    changed = await client.patch(
        f"{CONCERTS}/{c['id']}", json={"title": "Renamed"}, headers=admin_headers
    )
    assert changed.status_code == 200
    after = await client.get(f"{CONCERTS}/{c['id']}", headers={"If-None-Match": etag})
    assert after.status_code == 200
    assert after.json()["title"] == "Renamed"
    assert after.headers["etag"] != etag


async def test_create_requires_admin(client: httpx.AsyncClient, user: Account) -> None:
    anonymous = await client.post(CONCERTS, json=concert_body())
    assert anonymous.status_code == 401
    assert anonymous.json()["error"] == "NotAuthenticated"
    as_user = await client.post(CONCERTS, json=concert_body(), headers=user.headers)
    assert as_user.status_code == 403
    assert as_user.json()["error"] == "Forbidden"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"currency": "euro"}, "currency"),
        ({"sections": []}, "sections"),
        ({"status": "on_sale"}, "status"),
        ({"seats_total": 5}, "seats_total"),
        ({"starts_at": "2030-01-01T20:00:00"}, "starts_at"),  # no time zone
        (
            {"sections": [{"name": "F", "price_cents": -1, "rows": 1, "seats_per_row": 1}]},
            "sections.0.price_cents",
        ),
        (
            {"sections": [{"name": "F", "price_cents": 1, "rows": 1, "seats_per_row": 1, "x": 1}]},
            "sections.0.x",
        ),
    ],
)
async def test_create_validation(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    overrides: dict[str, Any],
    field: str,
) -> None:
    r = await client.post(CONCERTS, json=concert_body(**overrides), headers=admin_headers)
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "ValidationError"
    assert field in [f["field"] for f in r.json()["fields"]]


async def test_create_refuses_on_sale_after_start_and_oversized_venues(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    now = datetime.now(UTC)
    late = concert_body(starts_at=now.isoformat(), on_sale_at=(now + timedelta(days=1)).isoformat())
    r = await client.post(CONCERTS, json=late, headers=admin_headers)
    assert r.status_code == 422
    huge = concert_body(
        sections=[
            {"name": f"S{i}", "price_cents": 1, "rows": 200, "seats_per_row": 500} for i in range(2)
        ]
    )
    r = await client.post(CONCERTS, json=huge, headers=admin_headers)
    assert r.status_code == 422
    assert "at most 100000 seats" in r.json()["detail"]


async def test_unknown_concert_is_404(client: httpx.AsyncClient) -> None:
    r = await client.get(f"{CONCERTS}/{uuid.uuid4()}")
    assert r.status_code == 404
    assert r.json() == {"error": "ConcertNotFound", "detail": "No concert with this id."}


async def test_status_follows_the_calendar(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    now = datetime.now(UTC)
    later = await create(
        client,
        admin_headers,
        on_sale_at=(now + timedelta(days=1)).isoformat(),
        starts_at=(now + timedelta(days=2)).isoformat(),
    )
    assert later["status"] == "scheduled"
    past = await create(
        client,
        admin_headers,
        on_sale_at=(now - timedelta(days=2)).isoformat(),
        starts_at=(now - timedelta(days=1)).isoformat(),
    )
    assert past["status"] == "ended"


async def test_list_filters_and_summary_shape(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    tag = uuid.uuid4().hex[:8]
    city = f"City-{tag}"
    base = datetime(2031, 3, 1, 20, tzinfo=UTC)
    made = []
    for i, (artist, genre) in enumerate([("Alpha", "jazz"), ("Beta", "rock"), ("Gamma", "jazz")]):
        made.append(
            await create(
                client,
                admin_headers,
                title=f"{tag} night {i}",
                artist=f"{artist} {tag}",
                genre=genre,
                venue={"name": "Hall", "city": city},
                starts_at=(base + timedelta(days=i)).isoformat(),
                on_sale_at=(base - timedelta(days=10)).isoformat(),
            )
        )

    async def ids(**params: Any) -> list[str]:
        r = await client.get(CONCERTS, params={"city": city.lower(), "limit": 100, **params})
        assert r.status_code == 200, r.text
        return [c["id"] for c in r.json()["items"]]

    assert await ids() == [c["id"] for c in made]
    assert await ids(genre="JAZZ") == [made[0]["id"], made[2]["id"]]
    assert await ids(q=f"beta {tag}") == [made[1]["id"]]
    assert await ids(q=f"{tag} NIGHT 2") == [made[2]["id"]]
    assert await ids(date_from="2031-03-02") == [made[1]["id"], made[2]["id"]]
    assert await ids(date_to="2031-03-02") == [made[0]["id"], made[1]["id"]]
    assert await ids(date_from="2031-03-02T21:00:00Z", date_to="2031-03-03") == [made[2]["id"]]

    r = await client.get(CONCERTS, params={"city": city})
    summary = r.json()["items"][0]
    assert set(summary) == {
        "id", "title", "artist", "genre", "venue", "starts_at", "on_sale_at", "status",
        "currency", "price_range", "seats_total", "seats_available",
    }  # fmt: skip


async def test_list_paginates_with_a_cursor(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    city = f"Paged-{uuid.uuid4().hex[:8]}"
    base = datetime(2032, 1, 1, tzinfo=UTC)
    made = [
        (
            await create(
                client,
                admin_headers,
                venue={"name": "H", "city": city},
                starts_at=(base + timedelta(hours=i % 3)).isoformat(),  # ties on starts_at
                on_sale_at=(base - timedelta(days=1)).isoformat(),
            )
        )["id"]
        for i in range(5)
    ]
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"city": city, "limit": 2}
        if cursor:
            params["cursor"] = cursor
        body = (await client.get(CONCERTS, params=params)).json()
        seen += [c["id"] for c in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert sorted(seen) == sorted(made)
    assert len(set(seen)) == 5


@pytest.mark.parametrize(
    "params",
    [
        {"cursor": "garbage!!"},
        {"limit": 0},
        {"limit": 101},
        {"date_from": "tomorrow"},
        {"date_from": "2031-03-05", "date_to": "2031-03-01"},
        {"q": "x" * 101},
    ],
)
async def test_list_rejects_bad_queries(client: httpx.AsyncClient, params: dict[str, Any]) -> None:
    r = await client.get(CONCERTS, params=params)
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "ValidationError"
    assert r.json()["fields"]


async def test_patch_changes_fields_and_drops_the_cache(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    c = await create(client, admin_headers)
    await client.get(f"{CONCERTS}/{c['id']}")  # now cached
    r = await client.patch(
        f"{CONCERTS}/{c['id']}",
        json={
            "title": "Renamed",
            "queue": {"enabled": True, "admit_per_minute": 10, "max_active": 5},
        },
        headers=admin_headers,
    )
    assert r.status_code == 200, r.text
    assert r.json()["title"] == "Renamed"
    got = (await client.get(f"{CONCERTS}/{c['id']}")).json()
    assert got["title"] == "Renamed"
    assert got["queue"] == {
        "enabled": True,
        "admit_per_minute": 10,
        "max_active": 5,
        "opens_at": None,
        "challenge": False,
        "challenge_difficulty": 100_000,
        "mode": "fifo",
        "registration_opens_at": None,
        "registration_closes_at": None,
        "winners": 0,
    }
    assert got["sections"] == c["sections"]


async def test_patch_layout_before_sales_rebuilds_seats(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    c = await create(client, admin_headers)
    r = await client.patch(
        f"{CONCERTS}/{c['id']}",
        json={"sections": [{"name": "Pit", "price_cents": 9900, "rows": 1, "seats_per_row": 2}]},
        headers=admin_headers,
    )
    assert r.status_code == 200
    body = r.json()
    assert body["seats_total"] == 2
    assert body["sections"][0]["rows"] == [{"label": "A", "count": 2}]


async def test_patch_layout_after_sales_is_409(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    c = await create(client, admin_headers)
    container: Container = app.state.container
    await container.store.sales.claim(c["id"], ["floor-A-1"], str(uuid.uuid4()), datetime.now(UTC))

    after = (await client.get(f"{CONCERTS}/{c['id']}")).json()
    assert after["seats_available"] == 9

    r = await client.patch(
        f"{CONCERTS}/{c['id']}",
        json={"sections": [{"name": "Floor", "price_cents": 1, "rows": 2, "seats_per_row": 3}]},
        headers=admin_headers,
    )
    assert r.status_code == 409
    assert r.json()["error"] == "LayoutLocked"
    # Unchanged layout (same sections sent back) and other fields are still fine.
    same = [
        {"name": "Floor", "price_cents": 5000, "rows": 2, "seats_per_row": 3},
        {"name": "Balcony", "price_cents": 3000, "rows": 1, "seats_per_row": 4},
    ]
    ok = await client.patch(
        f"{CONCERTS}/{c['id']}", json={"sections": same, "title": "Still on"}, headers=admin_headers
    )
    assert ok.status_code == 200
    assert ok.json()["title"] == "Still on"


async def test_patch_errors(
    client: httpx.AsyncClient, admin_headers: dict[str, str], user: Account
) -> None:
    c = await create(client, admin_headers)
    missing = await client.patch(
        f"{CONCERTS}/{uuid.uuid4()}", json={"title": "x"}, headers=admin_headers
    )
    assert missing.status_code == 404
    forbidden = await client.patch(
        f"{CONCERTS}/{c['id']}", json={"title": "x"}, headers=user.headers
    )
    assert forbidden.status_code == 403
    anonymous = await client.patch(f"{CONCERTS}/{c['id']}", json={"title": "x"})
    assert anonymous.status_code == 401
    bad = await client.patch(
        f"{CONCERTS}/{c['id']}",
        json={"on_sale_at": "2099-01-01T00:00:00Z"},
        headers=admin_headers,
    )
    assert bad.status_code == 422
    assert bad.json()["fields"][0]["field"] == "on_sale_at"
    smuggled = await client.patch(f"{CONCERTS}/{c['id']}", json={"id": "x"}, headers=admin_headers)
    assert smuggled.status_code == 422
    unchanged = (await client.get(f"{CONCERTS}/{c['id']}")).json()
    assert unchanged == c


async def test_warm(
    client: httpx.AsyncClient, admin_headers: dict[str, str], user: Account
) -> None:
    c = await create(client, admin_headers)
    r = await client.post(f"{CONCERTS}/{c['id']}/warm", headers=admin_headers)
    assert r.status_code == 200
    body = r.json()
    assert body["concert_id"] == c["id"]
    assert body["seats"] == 10
    assert datetime.fromisoformat(body["warmed_at"]) <= datetime.now(UTC)
    assert (
        await client.post(f"{CONCERTS}/{uuid.uuid4()}/warm", headers=admin_headers)
    ).status_code == 404
    assert (
        await client.post(f"{CONCERTS}/{c['id']}/warm", headers=user.headers)
    ).status_code == 403
    assert (await client.post(f"{CONCERTS}/{c['id']}/warm")).status_code == 401


async def test_patch_keeps_a_lottery_registration_before_the_on_sale(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    """Registration closing after the on-sale is refused when the concert is edited too: in
    the queue settings, or by moving the on-sale before the registration's close."""
    now = datetime.now(UTC)
    on_sale = now + timedelta(days=10)
    c = await create(client, admin_headers, on_sale_at=on_sale.isoformat())
    lottery = {
        "enabled": True,
        "mode": "lottery",
        "registration_opens_at": (now + timedelta(days=1)).isoformat(),
        "registration_closes_at": (now + timedelta(days=11)).isoformat(),
        "winners": 100,
    }
    late = await client.patch(
        f"{CONCERTS}/{c['id']}", json={"queue": lottery}, headers=admin_headers
    )
    assert late.status_code == 422, late.text
    assert "registration_closes_at" in late.text

    lottery["registration_closes_at"] = (now + timedelta(days=9)).isoformat()
    ok = await client.patch(f"{CONCERTS}/{c['id']}", json={"queue": lottery}, headers=admin_headers)
    assert ok.status_code == 200, ok.text
    moved = await client.patch(
        f"{CONCERTS}/{c['id']}",
        json={"on_sale_at": (now + timedelta(days=8)).isoformat()},
        headers=admin_headers,
    )
    assert moved.status_code == 422, moved.text
    got = (await client.get(f"{CONCERTS}/{c['id']}")).json()
    assert got["on_sale_at"].startswith(on_sale.date().isoformat())
