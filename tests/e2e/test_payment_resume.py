"""Payment that follows the buyer, and honest times, in real browsers against the real service.

A visitor in Amsterdam picks seats before logging in; the picks survive the login; they hold
and check out there. The same buyer then opens the order on another device (a second browser
context, in Tokyo, with nothing kept from the first) and pays it there with the simulated
provider: the order becomes confirmed, on both. Every concert time is the venue's (New York),
labelled with its zone, whichever zone the browser is in. An order whose payment can no longer
go through says so in plain words instead of offering a dead pay button.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import redis.asyncio as aioredis
from playwright.async_api import Browser, Page, expect

from app.payments.simulated import SimulatedGateway
from tests.conftest import TEST_REDIS_URL
from tests.e2e.conftest import (
    E2E_REDIS_DB,
    Console,
    LiveService,
    Screenshots,
    _own_db,
    create_concert,
    unique,
)

pytestmark = pytest.mark.timeout(180)

VENUE_ZONE = "America/New_York"
PASSWORD = "correct-horse-battery"


def _starts_at_8pm_in_new_york() -> datetime:
    local = datetime.now(ZoneInfo(VENUE_ZONE)) + timedelta(days=30)
    return local.replace(hour=20, minute=0, second=0, microsecond=0)


async def _device(browser: Browser, console: Console, name: str, zone: str) -> Page:
    """A browser context of its own (no storage shared), in time zone `zone`."""
    context = await browser.new_context(
        viewport={"width": 1280, "height": 900}, timezone_id=zone, locale="en-US"
    )
    return console.watch(await context.new_page(), name)


async def _log_in(page: Page, email: str) -> None:
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()


def _sign_up(service: LiveService) -> tuple[str, dict[str, str]]:
    email = f"resume-{uuid.uuid4().hex[:10]}@example.com"
    r = httpx.post(
        f"{service.url}/api/v1/auth/signup",
        json={"email": email, "password": PASSWORD, "name": "Resume Fan"},
        timeout=10,
    )
    assert r.status_code == 201, r.text
    return email, {"Authorization": f"Bearer {r.json()['access_token']}"}


async def test_an_order_checked_out_on_one_device_is_paid_on_another(
    live_service: LiveService, browser: Browser, screenshot_dir: Path
) -> None:
    base = live_service.url
    starts = _starts_at_8pm_in_new_york()
    title = unique("Resume Night")
    concert = create_concert(
        live_service,
        title,
        venue={"name": "Carnegie Hall", "city": "New York", "time_zone": VENUE_ZONE},
        starts_at=starts.isoformat(),
    )
    shown_time = f"08:00 PM {starts.tzname()}"  # "EST" or "EDT", as Chromium names them
    email, _ = _sign_up(live_service)
    console, shot = Console(), Screenshots(screenshot_dir, "resume")
    first = await _device(browser, console, "first-device", "Europe/Amsterdam")

    # Not logged in yet: pick two seats, then log in to hold them.
    await first.goto(f"{base}/concerts/{concert['id']}")
    await expect(first.get_by_role("heading", name=title)).to_be_visible()
    await expect(first.get_by_test_id("concert-time")).to_contain_text(shown_time)
    await expect(first.get_by_test_id("live-status")).to_have_attribute("data-connection", "live")
    await first.get_by_test_id("seat-map").focus()
    cursor = first.get_by_test_id("seat-cursor")
    await expect(cursor).to_have_attribute("data-seat-id", "floor-A-1")
    await first.keyboard.press("Enter")
    await first.keyboard.press("ArrowRight")
    await first.keyboard.press("Enter")
    selected = first.get_by_test_id("selected-seats")
    await expect(selected.get_by_role("listitem")).to_have_count(2)
    await shot(first, "picked-before-login")
    await first.get_by_role("button", name="Log in to hold seats").first.click()
    await expect(first.get_by_role("heading", name="Log in")).to_be_visible()
    await _log_in(first, email)

    # Back on the concert page, logged in, with the same two seats picked.
    await expect(first.get_by_role("heading", name=title)).to_be_visible()
    await expect(selected.get_by_role("listitem")).to_have_count(2)
    await expect(selected).to_contain_text("Floor · Row A · Seat 1")
    await expect(selected).to_contain_text("Floor · Row A · Seat 2")
    await shot(first, "picks-survived-login")
    await first.get_by_role("button", name="Hold 2 seats").click()
    await expect(first.get_by_role("heading", name="Checkout")).to_be_visible()
    await first.get_by_role("button", name="Continue to payment").click()
    status = first.get_by_test_id("order-status")
    await expect(status).to_have_attribute("data-status", "pending_payment")
    await expect(first.get_by_role("button", name="Pay €110.00")).to_be_visible()
    order_id = first.url.rsplit("/", 1)[-1]
    await shot(first, "checked-out")

    # Another device, another time zone, nothing stored from the first: log in, open the order.
    second = await _device(browser, console, "second-device", "Asia/Tokyo")
    await second.goto(f"{base}/login?next=/orders/{order_id}")
    await _log_in(second, email)
    await expect(second.get_by_test_id("order-status")).to_have_attribute(
        "data-status", "pending_payment"
    )
    await expect(second.get_by_test_id("concert-time")).to_contain_text(shown_time)
    await expect(second.get_by_text("device where you checked out")).to_have_count(0)
    await shot(second, "order-on-second-device")
    await second.get_by_role("button", name="Pay €110.00").click()
    await expect(second.get_by_test_id("order-status")).to_have_attribute(
        "data-status", "confirmed"
    )
    await expect(second.get_by_test_id("ticket-qr")).to_have_count(2)
    await shot(second, "paid-on-second-device")
    # The first device's page follows the order to confirmed by itself.
    await expect(status).to_have_attribute("data-status", "confirmed", timeout=15_000)
    await shot(first, "confirmed-on-first-device")

    # The tickets list shows the venue's time too.
    await second.get_by_role("link", name="My tickets").click()
    await expect(second.get_by_role("heading", name=title)).to_contain_text(shown_time)
    console.assert_clean()


async def _checked_out(
    service: LiveService, concert_id: str, headers: dict[str, str], seat: str
) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=f"{service.url}/api/v1", timeout=10) as api:
        held = await api.post(
            f"/concerts/{concert_id}/holds", json={"seat_ids": [seat]}, headers=headers
        )
        assert held.status_code == 201, held.text
        r = await api.post("/checkout", json={"hold_id": held.json()["id"]}, headers=headers)
        assert r.status_code == 201, r.text
        result: dict[str, Any] = r.json()
        return result


async def _cancel_at_the_provider(intent_id: str) -> None:
    """The payment is cancelled at the (simulated) provider, and the order has not heard yet:
    it still says pending_payment, but nothing can pay it any more."""
    client = aioredis.Redis.from_url(_own_db(TEST_REDIS_URL, E2E_REDIS_DB))
    try:
        intent = await SimulatedGateway(client).cancel_intent(intent_id)
        assert intent.status == "canceled"
    finally:
        await client.aclose()


async def test_an_order_that_can_no_longer_be_paid_says_so(
    live_service: LiveService, browser: Browser, screenshot_dir: Path
) -> None:
    base = live_service.url
    concert = create_concert(live_service, unique("Unpayable Night"))
    email, headers = _sign_up(live_service)
    result = await _checked_out(live_service, str(concert["id"]), headers, "balcony-A-1")
    await _cancel_at_the_provider(result["payment"]["payment_intent_id"])
    order_id = result["order"]["id"]
    console, shot = Console(), Screenshots(screenshot_dir, "unpayable")
    page = await _device(browser, console, "buyer", "Europe/Amsterdam")

    await page.goto(f"{base}/login?next=/orders/{order_id}")
    await _log_in(page, email)

    refused = page.get_by_test_id("order-not-payable")
    await expect(refused).to_be_visible()
    await expect(refused).to_contain_text("This order can't be paid any more")
    await expect(refused).to_contain_text("payment was cancelled")
    await expect(refused.get_by_role("link", name="Pick seats again")).to_be_visible()
    await expect(page.get_by_role("button", name="Pay €40.00")).to_have_count(0)
    await shot(page, "not-payable")
    # The service answered 409 OrderNotPayable; the browser logs failed requests as errors.
    console.assert_clean(ignoring="409")
