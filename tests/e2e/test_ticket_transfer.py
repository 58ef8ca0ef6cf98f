"""A buyer gives a ticket to a friend from the order page: the address, a confirmation, then
the ticket leaves the order and shows in the friend's account with another code."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, expect

from tests.e2e.conftest import (
    BUYER_PASSWORD as PASSWORD,
)
from tests.e2e.conftest import (
    LiveService,
    create_concert,
    log_in,
    paid_order,
    start,
    unique,
)

pytestmark = pytest.mark.timeout(180)


def account(service: LiveService, email: str) -> dict[str, str]:
    """An account signed up through the API; its headers."""
    with httpx.Client(base_url=f"{service.url}/api/v1", timeout=10) as api:
        r = api.post("/auth/signup", json={"email": email, "password": PASSWORD, "name": "Bo"})
        assert r.status_code == 201, r.text
        return {"Authorization": f"Bearer {r.json()['access_token']}"}


def seats_held(service: LiveService, headers: dict[str, str]) -> list[str]:
    with httpx.Client(base_url=f"{service.url}/api/v1", timeout=10) as api:
        return [t["seat_id"] for t in api.get("/me/tickets", headers=headers).json()["items"]]


async def test_a_buyer_gives_a_ticket_to_a_friend_from_the_order_page(
    live_service: LiveService, browser: Browser, screenshot_dir: Path
) -> None:
    base = live_service.url
    concert = create_concert(live_service, unique("E2E Give"))
    email, order_id = paid_order(live_service, str(concert["id"]))
    friend = f"friend-{uuid.uuid4().hex[:10]}@example.com"
    friend_headers = account(live_service, friend)
    console, shot, page = await start(browser, screenshot_dir, "give", "buyer")

    await log_in(page, base, email, PASSWORD)
    await page.goto(f"{base}/orders/{order_id}")
    ticket = page.get_by_test_id("ticket")
    await expect(ticket).to_have_count(1, timeout=15_000)
    await ticket.get_by_role("button", name="Give this ticket to someone").click()
    await ticket.get_by_label("Their email address").fill(friend)
    await ticket.get_by_role("button", name="Give ticket").click()
    await expect(ticket.get_by_text(f"to {friend}?")).to_be_visible()
    await shot(page, "confirm")
    await ticket.get_by_role("button", name="Yes, give it").click()
    await expect(page.get_by_text("has your ticket for Floor, row B, seat 3")).to_be_visible()
    await shot(page, "given")
    # The order page, once refreshed, no longer shows the ticket; the friend has it.
    await page.reload()
    await expect(page.get_by_text("You gave this order's tickets to someone else.")).to_be_visible()
    await expect(page.get_by_test_id("ticket")).to_have_count(0)
    assert seats_held(live_service, friend_headers) == ["floor-B-3"]
    console.assert_clean()
