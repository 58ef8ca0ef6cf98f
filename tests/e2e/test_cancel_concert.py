"""Organisers change plans: on the live on-sale view the organiser edits the concert's title,
then cancels it (typing the title to confirm) and watches the refunds finish; the buyer's
order shows refunded and the concert page says it is cancelled."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD
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


async def test_an_organiser_edits_then_cancels_a_concert_and_the_buyer_is_refunded(
    live_service: LiveService, browser: Browser, screenshot_dir: Path
) -> None:
    base = live_service.url
    concert = create_concert(live_service, unique("E2E Cancel"))
    concert_id = str(concert["id"])
    email, order_id = paid_order(live_service, concert_id)
    console, shot, organiser = await start(browser, screenshot_dir, "cancel", "organiser")

    await log_in(organiser, base, ADMIN_EMAIL, ADMIN_PASSWORD)
    await organiser.goto(f"{base}/organiser/concerts/{concert_id}")
    await organiser.get_by_role("button", name="Edit details").click()
    new_title = unique("E2E Moved")
    await organiser.get_by_label("Title").fill(new_title)
    await organiser.get_by_role("button", name="Save details").click()
    await expect(organiser.get_by_role("heading", name=new_title, level=1)).to_be_visible()

    await organiser.get_by_role("button", name="Cancel concert…").click()
    confirm = organiser.get_by_role("button", name="Cancel the concert and refund everyone")
    await expect(confirm).to_be_disabled()
    await organiser.get_by_label("to confirm").fill("not the title")
    await expect(confirm).to_be_disabled()
    await organiser.get_by_label("to confirm").fill(new_title)
    await shot(organiser, "confirm-cancel")
    await confirm.click()
    await expect(organiser.get_by_test_id("cancellation-done")).to_be_visible(timeout=30_000)
    await expect(organiser.get_by_test_id("cancellation-counts")).to_contain_text("1 refunded")
    await shot(organiser, "cancelled")

    buyer = await (await browser.new_context(viewport={"width": 1280, "height": 900})).new_page()
    console.watch(buyer, "buyer")
    await log_in(buyer, base, email, PASSWORD)
    await buyer.goto(f"{base}/orders/{order_id}")
    await expect(buyer.get_by_text("Refunded").first).to_be_visible(timeout=15_000)
    await buyer.goto(f"{base}/concerts/{concert_id}")
    await expect(buyer.get_by_text("This concert is cancelled")).to_be_visible()
    await shot(buyer, "buyer-sees-cancelled")
    console.assert_clean()
