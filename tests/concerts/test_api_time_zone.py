"""The venue's time zone: an IANA name kept with the concert, validated, UTC when not given."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from app.concerts.demo import demo_concerts
from tests.helpers import CONCERTS, concert_body
from tests.helpers import create_concert as create


async def test_a_concert_keeps_its_venue_time_zone(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    city = f"Amsterdam-{uuid.uuid4().hex[:8]}"
    venue = {"name": "Paradiso", "city": city, "time_zone": "Europe/Amsterdam"}
    c = await create(client, admin_headers, venue=venue)
    assert c["venue"] == venue

    got = (await client.get(f"{CONCERTS}/{c['id']}")).json()
    assert got["venue"] == venue
    listed = (await client.get(CONCERTS, params={"city": city})).json()["items"]
    assert [item["venue"] for item in listed] == [venue]


async def test_without_a_time_zone_the_venue_is_in_utc(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    c = await create(client, admin_headers, venue={"name": "Hall", "city": "Utrecht"})
    assert c["venue"] == {"name": "Hall", "city": "Utrecht", "time_zone": "UTC"}


@pytest.mark.parametrize(
    "zone",
    [
        "Mars/Olympus_Mons",
        "europe/amsterdam",
        "Europe",
        "../../etc/passwd",
        "/etc/localtime",
        "localtime",
        "posix/Europe/Paris",
        "right/UTC",
        "Europe/Amsterdam\x00",
        "",
        "+02:00",
        "x" * 65,
    ],
)
async def test_a_time_zone_zoneinfo_does_not_know_is_422(
    client: httpx.AsyncClient, admin_headers: dict[str, str], zone: str
) -> None:
    venue = {"name": "Hall", "city": "Utrecht", "time_zone": zone}
    r = await client.post(CONCERTS, json=concert_body(venue=venue), headers=admin_headers)
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error"] == "ValidationError"
    assert [f["field"] for f in body["fields"]] == ["venue.time_zone"]


async def test_patch_changes_the_time_zone_or_keeps_it(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    c = await create(
        client,
        admin_headers,
        venue={"name": "Hall", "city": "Utrecht", "time_zone": "Europe/Amsterdam"},
    )
    url = f"{CONCERTS}/{c['id']}"

    async def patch(venue: dict[str, Any]) -> httpx.Response:
        return await client.patch(url, json={"venue": venue}, headers=admin_headers)

    r = await patch({"name": "Hall", "city": "New York", "time_zone": "America/New_York"})
    assert r.status_code == 200, r.text
    assert r.json()["venue"]["time_zone"] == "America/New_York"
    assert (await client.get(url)).json()["venue"]["time_zone"] == "America/New_York"

    renamed = await patch({"name": "Big Hall", "city": "New York"})
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["venue"] == {
        "name": "Big Hall",
        "city": "New York",
        "time_zone": "America/New_York",
    }

    refused = await patch({"name": "Hall", "city": "Nowhere", "time_zone": "Nowhere/Town"})
    assert refused.status_code == 422
    assert (await client.get(url)).json()["venue"]["city"] == "New York"


def test_demo_concerts_start_at_half_past_seven_in_their_venues_zone() -> None:
    concerts = demo_concerts(datetime(2026, 3, 20, 12, 0, tzinfo=UTC))
    zones = [c.venue.time_zone for c in concerts]
    assert zones == ["Europe/Amsterdam", "Europe/Berlin", "Europe/London"]
    for concert in concerts:
        local = concert.starts_at.astimezone(ZoneInfo(concert.venue.time_zone))
        assert (local.hour, local.minute) == (19, 30)
