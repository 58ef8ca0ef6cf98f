"""A buyer's whole journey in a real browser, against the real service serving the built app:
sign up, find a concert, pick seats on the map (pointer and keyboard), hold, check out, pay
with the simulated provider, see the confirmed order and the tickets' QR codes. Meanwhile a
second browser (another visitor) watches the same seat map turn held, then sold, live.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from tests.e2e.conftest import LiveService, create_concert, new_page, start, unique

pytestmark = pytest.mark.timeout(180)


async def test_buy_tickets_while_another_visitor_watches_the_map(
    live_service: LiveService, browser: Browser, screenshot_dir: Path
) -> None:
    base = live_service.url
    title = unique("E2E Night")
    concert = create_concert(live_service, title)
    console, shot, buyer = await start(browser, screenshot_dir, "buyer", "buyer")
    watcher = await new_page(browser, console, "watcher", width=1100)

    # Home, then sign up.
    await buyer.goto(f"{base}/")
    await expect(buyer.get_by_role("heading", name="Concerts", exact=True)).to_be_visible()
    await expect(buyer.get_by_test_id("concert-list")).to_be_visible()
    await shot(buyer, "home")
    await buyer.get_by_role("link", name="Sign up").first.click()
    await buyer.get_by_label("Name").fill("E2E Fan")
    await buyer.get_by_label("Email").fill(f"{unique('fan').replace(' ', '-')}@example.com")
    await buyer.get_by_label("Password").fill("correct-horse-battery")
    await shot(buyer, "signup")
    await buyer.get_by_role("button", name="Sign up").click()
    await expect(buyer.get_by_test_id("signed-in-as")).to_have_text("E2E Fan")

    # Find the concert by searching for it.
    await buyer.get_by_label("Artist or title").fill(title)
    await buyer.get_by_role("button", name="Search").click()
    result = buyer.get_by_role("link", name=re.compile(re.escape(title)))
    await expect(result).to_have_count(1)
    await shot(buyer, "search")
    await result.click()
    await expect(buyer.get_by_role("heading", name=title)).to_be_visible()
    await expect(buyer.get_by_test_id("live-status")).to_have_attribute("data-connection", "live")

    # The other visitor opens the same concert: everything available.
    await watcher.goto(f"{base}/concerts/{concert['id']}")
    await expect(watcher.get_by_test_id("live-status")).to_have_attribute("data-connection", "live")
    await expect(watcher.get_by_test_id("count-available")).to_have_text("56")
    await expect(watcher.get_by_test_id("count-sold")).to_have_text("0")
    await watcher.evaluate("window.__sameDocument = true")  # gone if the page reloads
    await shot(watcher, "watcher-before")

    # Pick two seats on the map: the first with the pointer, the next with the keyboard.
    await buyer.get_by_test_id("seat-map").focus()
    cursor = buyer.get_by_test_id("seat-cursor")
    await expect(cursor).to_have_attribute("data-seat-id", "floor-A-1")
    box = await cursor.bounding_box()
    assert box is not None
    await buyer.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    selected = buyer.get_by_test_id("selected-seats")
    await expect(selected).to_contain_text("Floor · Row A · Seat 1")
    await buyer.keyboard.press("ArrowRight")
    await expect(cursor).to_have_attribute("data-seat-id", "floor-A-2")
    await buyer.keyboard.press("Enter")
    await expect(selected.get_by_role("listitem")).to_have_count(2)
    await expect(buyer.get_by_test_id("seat-announcement")).to_contain_text(
        "Selected Floor, row A, seat 2"
    )
    await shot(buyer, "seats-picked")

    # Hold them: the checkout page counts the five minutes down.
    await buyer.get_by_role("button", name="Hold 2 seats").click()
    await expect(buyer.get_by_role("heading", name="Checkout")).to_be_visible()
    await expect(buyer.get_by_test_id("countdown")).to_contain_text(re.compile(r"[45]:\d\d"))
    await expect(buyer.get_by_test_id("total")).to_have_text("€110.00")
    await shot(buyer, "checkout")

    # The watcher's map shows them held, live.
    await expect(watcher.get_by_test_id("count-held")).to_have_text("2")
    await expect(watcher.get_by_test_id("count-available")).to_have_text("54")
    await shot(watcher, "watcher-held")

    # Check out and pay with the simulated provider.
    await buyer.get_by_role("button", name="Continue to payment").click()
    await expect(buyer.get_by_test_id("order-status")).to_have_attribute(
        "data-status", "pending_payment"
    )
    await shot(buyer, "payment")
    await buyer.get_by_role("button", name="Pay €110.00").click()
    await expect(buyer.get_by_test_id("order-status")).to_have_attribute(
        "data-status", "confirmed", timeout=15_000
    )
    await expect(buyer.get_by_text("You're going!")).to_be_visible()
    qr_codes = buyer.get_by_test_id("ticket-qr")
    await expect(qr_codes).to_have_count(2)
    await expect(qr_codes.first).to_be_visible()
    await shot(buyer, "confirmed-with-tickets")

    # The watcher saw them turn sold without reloading; seat A-1 reads "sold" on the map.
    await expect(watcher.get_by_test_id("count-sold")).to_have_text("2")
    await expect(watcher.get_by_test_id("count-held")).to_have_text("0")
    assert await watcher.evaluate("window.__sameDocument === true")
    await watcher.get_by_test_id("seat-map").focus()
    await watcher.keyboard.press("Home")
    await expect(watcher.get_by_test_id("seat-cursor")).to_have_attribute(
        "data-seat-id", "floor-A-1"
    )
    await expect(watcher.get_by_test_id("seat-announcement")).to_contain_text(
        "Floor, row A, seat 1: sold"
    )
    await shot(watcher, "watcher-sold")

    # The account page lists the order and both tickets with their QR codes.
    await buyer.get_by_role("link", name="My tickets").click()
    await expect(buyer.get_by_role("heading", name="My tickets")).to_be_visible()
    await expect(buyer.get_by_test_id("ticket")).to_have_count(2)
    await expect(buyer.get_by_test_id("ticket-qr")).to_have_count(2)
    await expect(buyer.get_by_role("link", name=re.compile(re.escape(title)))).to_be_visible()
    await shot(buyer, "account")

    console.assert_clean()
