"""The waiting room and the organiser's pages in a real browser.

- A buyer of a concert with a waiting room joins the line, is let in, and goes straight on to
  hold and pay with the admission pass (X-Queue-Pass on the hold and on checkout).
- An organiser designs a concert in the layout editor, warms it up, and follows the on-sale:
  held seats from the live seat map and the line from the queue stats.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, expect

from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD
from tests.e2e.conftest import LiveService, create_concert, sign_up, start, unique

pytestmark = pytest.mark.timeout(180)


async def test_waiting_room_lets_the_buyer_in_with_a_pass(
    live_service: LiveService, browser: Browser, screenshot_dir: Path
) -> None:
    base = live_service.url
    title = unique("E2E Queue")
    concert = create_concert(
        live_service, title, queue={"enabled": True, "admit_per_minute": 600, "max_active": 50}
    )
    console, shot, page = await start(browser, screenshot_dir, "queue", "buyer")
    await sign_up(page, base, "Queue Fan")

    await page.goto(f"{base}/concerts/{concert['id']}")
    await expect(
        page.get_by_role("heading", name="This on-sale has a waiting room")
    ).to_be_visible()
    # No pass yet: nothing can be held.
    await expect(page.get_by_role("button", name="Find and hold the best 2")).to_be_disabled()
    await shot(page, "concert-needs-queue")

    await page.get_by_role("link", name="Join the waiting room").click()
    await expect(page.get_by_role("heading", name="Waiting room")).to_be_visible()
    await expect(
        page.get_by_test_id("queue-card").or_(page.get_by_text("It's your turn!"))
    ).to_be_visible()
    await shot(page, "waiting")

    # Admitted: straight back to seat selection, with the pass.
    await expect(page).to_have_url(f"{base}/concerts/{concert['id']}", timeout=30_000)
    await expect(page.get_by_text("You're in")).to_be_visible()
    await shot(page, "admitted")
    await page.get_by_role("button", name="Find and hold the best 2").click()
    await expect(page.get_by_role("heading", name="Checkout")).to_be_visible()
    await expect(page.get_by_test_id("held-seats").get_by_role("listitem")).to_have_count(2)
    await page.get_by_role("button", name="Continue to payment").click()
    await page.get_by_role("button", name="Pay €110.00").click()
    await expect(page.get_by_test_id("order-status")).to_have_attribute(
        "data-status", "confirmed", timeout=15_000
    )
    await expect(page.get_by_test_id("ticket-qr")).to_have_count(2)
    await shot(page, "confirmed")
    console.assert_clean()


async def _hold_through_the_queue(service: LiveService, concert_id: str, quantity: int) -> None:
    """Another buyer, through the API: sign up, join the line, wait for the pass, hold."""
    async with httpx.AsyncClient(base_url=f"{service.url}/api/v1", timeout=10) as http:
        r = await http.post(
            "/auth/signup",
            json={
                "email": f"{uuid.uuid4().hex[:12]}@example.com",
                "password": "correct-horse-battery",
                "name": "API Fan",
            },
        )
        assert r.status_code == 201, r.text
        auth = {"Authorization": f"Bearer {r.json()['access_token']}"}
        status = (await http.post(f"/concerts/{concert_id}/queue", headers=auth)).json()
        deadline = time.monotonic() + 30
        while status["state"] != "admitted":
            assert time.monotonic() < deadline, status
            await asyncio.sleep(0.5)
            status = (await http.get(f"/concerts/{concert_id}/queue", headers=auth)).json()
        r = await http.post(
            f"/concerts/{concert_id}/holds",
            json={"quantity": quantity},
            headers={**auth, "X-Queue-Pass": status["pass"]},
        )
        assert r.status_code == 201, r.text


async def test_organiser_designs_a_concert_and_follows_the_on_sale(
    live_service: LiveService, browser: Browser, screenshot_dir: Path
) -> None:
    base = live_service.url
    title = unique("E2E Organised")
    console, shot, page = await start(browser, screenshot_dir, "organiser", "organiser")

    await page.goto(f"{base}/login")
    await page.get_by_label("Email").fill(ADMIN_EMAIL)
    await page.get_by_label("Password").fill(ADMIN_PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await page.get_by_role("link", name="Organiser").click()
    await expect(page.get_by_role("heading", name="Organiser")).to_be_visible()
    await page.get_by_role("link", name="New concert").click()

    # The layout editor: one section of 3 rows x 8 seats, a second one removed.
    await page.get_by_label("Title").fill(title)
    await page.get_by_label("Artist").fill("The Editors")
    await page.get_by_label("Venue").fill("Hall 9")
    await page.get_by_label("City").fill("Rotterdam")
    await page.get_by_label("Section 1 name").fill("Stalls")
    await page.get_by_label("Rows").first.fill("3")
    await page.get_by_label("Seats per row").first.fill("8")
    await page.get_by_role("button", name="Remove section 2").click()
    await expect(page.get_by_test_id("total-seats")).to_contain_text("24 seats")
    await page.get_by_text("Put buyers in a waiting room").click()
    await page.get_by_label("Let in per minute").fill("600")
    await shot(page, "layout-editor")
    await page.get_by_role("button", name="Create concert").click()

    # The live on-sale view.
    await expect(page.get_by_role("heading", name=title)).to_be_visible()
    await expect(page.get_by_test_id("live-status")).to_have_attribute("data-connection", "live")
    await expect(page.get_by_test_id("stat-available")).to_have_text("24")
    await expect(page.get_by_test_id("stat-waiting")).to_have_text("0")
    await page.get_by_role("button", name="Warm up").click()
    await expect(page.get_by_text("Warmed 24 seats")).to_be_visible()
    await shot(page, "live-view")

    # A buyer comes through the line and holds 3 seats: the view follows, live.
    concert_id = page.url.rsplit("/", 1)[-1]
    await _hold_through_the_queue(live_service, concert_id, 3)
    await expect(page.get_by_test_id("stat-held")).to_have_text("3")
    await expect(page.get_by_test_id("stat-available")).to_have_text("21")
    await expect(page.get_by_test_id("stat-admitted")).to_have_text("1")
    await expect(page.get_by_test_id("stat-shopping")).to_have_text("1")
    await shot(page, "live-view-after-hold")
    console.assert_clean()
