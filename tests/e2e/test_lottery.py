"""The presale lottery in a real browser (issue 21): a fan registers on the concert page (the
proof-of-work widget solving its check first), sees "registered", and after the draw "you won:
you may enter at HH:MM" in the venue's time; the organiser's live page shows the registrations,
the draw and its seed."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, async_playwright, expect

from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD
from tests.e2e.conftest import (
    CHROMIUM,
    CHROMIUM_ARGS,
    E2E_REDIS_DB,
    LiveService,
    create_concert,
    log_in,
    run_service,
    sign_up,
    start,
)

pytestmark = pytest.mark.timeout(180)

# A service of its own: any account may register (no verified address needed), draws soon.
LOTTERY_REDIS_DB = E2E_REDIS_DB + 3


@pytest.fixture(scope="module")
def lottery_service(
    e2e_ready: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveService]:
    with run_service(
        tmp_path_factory.mktemp("e2e-lottery"),
        LOTTERY_REDIS_DB,
        LOTTERY_REQUIRE_VERIFIED_EMAIL="false",
        LOTTERY_DRAW_INTERVAL_SECONDS="0.5",
    ) as service:
        yield service


@pytest.fixture
async def lottery_browser(lottery_service: LiveService) -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        chromium = await p.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield chromium
        finally:
            await chromium.close()


async def test_a_fan_registers_and_sees_the_draw(
    lottery_service: LiveService, lottery_browser: Browser, screenshot_dir: Path
) -> None:
    base = lottery_service.url
    now = datetime.now(UTC).replace(microsecond=0)
    closes = now + timedelta(seconds=40)
    on_sale = closes + timedelta(minutes=2)
    concert = create_concert(
        lottery_service,
        f"E2E Lottery {uuid.uuid4().hex[:6]}",
        venue={"name": "Paradiso", "city": "Amsterdam", "time_zone": "Europe/Amsterdam"},
        on_sale_at=on_sale.isoformat(),
        queue={
            "enabled": True,
            "admit_per_minute": 60,
            "max_active": 50,
            "challenge": True,
            "challenge_difficulty": 5_000,
            "mode": "lottery",
            "registration_opens_at": (now - timedelta(minutes=1)).isoformat(),
            "registration_closes_at": closes.isoformat(),
            "winners": 1,
        },
    )
    cid = concert["id"]
    console, shot, page = await start(lottery_browser, screenshot_dir, "lottery", "fan")
    await sign_up(page, base, "Lucky Fan")
    await page.goto(f"{base}/concerts/{cid}")
    panel = page.get_by_test_id("lottery-panel")
    await expect(panel).to_be_visible()
    await expect(panel).to_contain_text("Registration is open until")
    # The button waits for the device's check.
    await expect(panel.get_by_test_id("altcha")).to_have_attribute(
        "data-phase", "solved", timeout=60_000
    )
    await shot(page, "checked")
    await panel.get_by_role("button", name="Register for the presale").click()
    status = panel.get_by_test_id("lottery-status")
    await expect(status).to_have_attribute("data-status", "registered")
    await expect(status).to_contain_text("You're registered")
    await shot(page, "registered")

    # After the close the draw comes out; the page asks again by itself.
    remaining = (closes - datetime.now(UTC)).total_seconds()
    await expect(status).to_have_attribute(
        "data-status", "won", timeout=int((remaining + 30) * 1000)
    )
    # The only entrant is the first winner: let in at the on-sale, 10:xx in Amsterdam (UTC+1).
    amsterdam = on_sale + timedelta(hours=1)  # December: CET
    await expect(status).to_contain_text(f"You may enter at {amsterdam:%H:%M}")
    await expect(status).to_contain_text("Amsterdam time")
    await shot(page, "won")

    # The organiser's live page: one registration, drawn, the seed revealed.
    async with httpx.AsyncClient(timeout=10) as http:
        lottery = (await http.get(f"{base}/api/v1/concerts/{cid}/lottery")).json()
    admin = await lottery_browser.new_page()
    await log_in(admin, base, ADMIN_EMAIL, ADMIN_PASSWORD)
    await admin.goto(f"{base}/organiser/concerts/{cid}")
    result = admin.get_by_test_id("lottery-result")
    await expect(result).to_contain_text("drawn")
    await expect(admin.get_by_test_id("lr-registrations")).to_have_text("1")
    await expect(admin.get_by_test_id("lr-winners")).to_have_text("1")
    await expect(admin.get_by_test_id("lr-waitlist")).to_have_text("0")
    await expect(admin.get_by_test_id("lr-seed")).to_have_text(lottery["seed"])
    await expect(admin.get_by_test_id("lottery-fields")).to_be_visible()
    await shot(admin, "organiser")
    # The editor says what is wrong in plain words before anything is sent.
    await admin.get_by_label("Registration closes (the draw)").fill("2099-01-01T10:00")
    await expect(admin.get_by_test_id("lottery-fields")).to_contain_text(
        "Registration must close before the on-sale starts"
    )
    await expect(admin.get_by_role("button", name="Save waiting room settings")).to_be_disabled()
    await admin.get_by_label("Winners").fill("0")
    await expect(admin.get_by_test_id("lottery-fields")).to_contain_text("At least 1")
    # GET .../registrations/me answers 404 NotRegistered before the fan registers: expected.
    console.assert_clean(ignoring="registrations/me")
