"""With Stripe configured, the order page loads Stripe's Payment Element from js.stripe.com.
When Stripe can't be reached, the buyer is told so plainly, keeps the seats until the deadline,
and can still cancel. (The browser's requests to Stripe are blocked here, so the test is the
same with or without internet access.)"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Browser, Route, expect

from tests.e2e.conftest import LiveService, create_concert, sign_up, start, unique

pytestmark = pytest.mark.timeout(180)


async def test_a_clear_message_when_stripe_cannot_be_reached(
    stripe_service: LiveService, browser: Browser, screenshot_dir: Path
) -> None:
    base = stripe_service.url
    concert = create_concert(stripe_service, unique("E2E Stripe"))
    console, shot, page = await start(browser, screenshot_dir, "stripe", "buyer")
    blocked: list[str] = []

    async def block(route: Route) -> None:
        blocked.append(route.request.url)
        await route.abort("internetdisconnected")

    await page.route("https://*.stripe.com/**", block)
    await sign_up(page, base, "Stripe Fan")
    response = await page.goto(f"{base}/concerts/{concert['id']}")
    assert response is not None
    assert "https://js.stripe.com" in response.headers["content-security-policy"]

    await page.get_by_label("Seats", exact=True).select_option("1")
    await page.get_by_role("button", name="Find and hold the best 1").click()
    await page.get_by_role("button", name="Continue to payment").click()
    await expect(page.get_by_test_id("order-status")).to_have_attribute(
        "data-status", "pending_payment"
    )
    await expect(page.get_by_text("Can't reach Stripe")).to_be_visible(timeout=15_000)
    await expect(page.get_by_role("button", name="Try again")).to_be_visible()
    await expect(page.get_by_test_id("countdown")).to_be_visible()
    assert any(url.startswith("https://js.stripe.com/") for url in blocked)
    await shot(page, "stripe-unreachable")

    await page.get_by_role("button", name="Cancel order and release seats").click()
    await expect(page.get_by_test_id("order-status")).to_have_attribute("data-status", "cancelled")
    await expect(page.get_by_text("This order was cancelled")).to_be_visible()
    await shot(page, "cancelled")
    # The only console errors are the blocked requests to Stripe.
    console.assert_clean(ignoring="stripe")
