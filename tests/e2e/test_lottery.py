"""The presale lottery in a real browser (issue 21): two fans register on the concert page (the
proof-of-work widget solving its check first) for one place and see "registered"; after the
draw one sees "you won: you may enter at HH:MM" in the venue's time, the other "not this time:
waitlist #1"; the organiser's live page shows the registrations, the draw and its seed, and the
lottery settings say what is wrong in plain words."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.async_api import Browser, expect

from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD
from tests.e2e.conftest import (
    E2E_REDIS_DB,
    Console,
    LiveService,
    create_concert,
    launched_chromium,
    log_in,
    new_page,
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
    async with launched_chromium() as chromium:
        yield chromium


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
    other = await new_page(lottery_browser, console, "other fan")
    statuses = []
    for fan, name in ((page, "Lucky Fan"), (other, "Other Fan")):
        await sign_up(fan, base, name)
        await fan.goto(f"{base}/concerts/{cid}")
        panel = fan.get_by_test_id("lottery-panel")
        await expect(panel).to_be_visible()
        await expect(panel).to_contain_text("Registration is open until")
        # The button waits for the device's check.
        await expect(panel.get_by_test_id("altcha")).to_have_attribute(
            "data-phase", "solved", timeout=60_000
        )
        await shot(fan, "checked")
        await panel.get_by_role("button", name="Register for the presale").click()
        status = panel.get_by_test_id("lottery-status")
        await expect(status).to_have_attribute("data-status", "registered")
        await expect(status).to_contain_text("You're registered")
        await shot(fan, "registered")
        statuses.append(status)

    # After the close the draw comes out; each page asks again by itself. One place: one fan
    # wins, the other is first on the waitlist.
    remaining = (closes - datetime.now(UTC)).total_seconds()
    wait_ms = int((remaining + 30) * 1000)
    for status in statuses:
        await expect(status).not_to_have_attribute("data-status", "registered", timeout=wait_ms)
    results = [await s.get_attribute("data-status") for s in statuses]
    assert sorted(r or "" for r in results) == ["lost", "won"], results
    won, lost = statuses if results[0] == "won" else statuses[::-1]
    # The first winner is let in at the on-sale, shown in Amsterdam's time.
    enter = on_sale.astimezone(ZoneInfo("Europe/Amsterdam"))
    await expect(won).to_contain_text(f"You may enter at {enter:%H:%M}")
    await expect(won).to_contain_text("Amsterdam time")
    await expect(lost).to_contain_text("Not this time")
    await expect(lost).to_contain_text("#1")
    await shot(page, "result")
    await shot(other, "result")

    # A fan who did not register joins the line before the on-sale (after the device's check):
    # the page says the draw's winners and waitlist go first. (Its first join, without a
    # check, is refused with 403 ChallengeRequired: its own console.)
    newcomer_console = Console()
    newcomer = await new_page(lottery_browser, newcomer_console, "newcomer")
    await sign_up(newcomer, base, "Late Fan")
    await newcomer.goto(f"{base}/concerts/{cid}/queue")
    card = newcomer.get_by_test_id("queue-card")
    await expect(card).to_contain_text("You're in the line", timeout=60_000)
    await expect(card).to_contain_text("The presale draw's winners go first")
    await expect(card).to_contain_text("Everyone else who arrives before the on-sale")
    await shot(newcomer, "newcomer-in-line")
    newcomer_console.assert_clean(ignoring="403")

    # The organiser's live page: one registration, drawn, the seed revealed.
    async with httpx.AsyncClient(timeout=10) as http:
        lottery = (await http.get(f"{base}/api/v1/concerts/{cid}/lottery")).json()
    admin = await lottery_browser.new_page()
    await log_in(admin, base, ADMIN_EMAIL, ADMIN_PASSWORD)
    await admin.goto(f"{base}/organiser/concerts/{cid}")
    result = admin.get_by_test_id("lottery-result")
    await expect(result).to_contain_text("drawn")
    await expect(admin.get_by_test_id("lr-registrations")).to_have_text("2")
    await expect(admin.get_by_test_id("lr-winners")).to_have_text("1")
    await expect(admin.get_by_test_id("lr-waitlist")).to_have_text("1")
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
