"""The door: an organiser on a phone checks tickets in on /organiser/concerts/{id}/door, by
typed code and by the camera (Chromium's fake camera playing a QR code of a ticket)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import segno
from playwright.async_api import Browser, Page, async_playwright, expect

from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD
from tests.e2e.conftest import (
    CHROMIUM,
    CHROMIUM_ARGS,
    Console,
    LiveService,
    Screenshots,
    bought,
    create_concert,
    unique,
)

pytestmark = pytest.mark.timeout(180)
PHONE = {"viewport": {"width": 390, "height": 844}, "has_touch": True, "is_mobile": True}


def paid_codes(service: LiveService, concert_id: str, seats: list[str]) -> list[str]:
    """A buyer's paid order of `seats` through the API: the tickets' codes, in seat order."""
    _, headers, order_id = bought(service, concert_id, seats)
    order = httpx.get(f"{service.url}/api/v1/orders/{order_id}", headers=headers, timeout=10)
    assert order.status_code == 200, order.text
    by_seat = {t["seat_id"]: t["code"] for t in order.json()["tickets"]}
    return [by_seat[s] for s in seats]


def scan_via_api(service: LiveService, concert_id: str, code: str) -> httpx.Response:
    return httpx.post(
        f"{service.url}/api/v1/concerts/{concert_id}/check-ins",
        json={"code": code},
        headers=service.admin_headers(),
        timeout=10,
    )


def qr_y4m(code: str, path: Path, width: int = 640, height: int = 480, frames: int = 10) -> None:
    """A YUV4MPEG2 (4:2:0) video of `code`'s QR code, black on white, centred, for Chromium's
    fake camera (--use-file-for-fake-video-capture plays it in a loop)."""
    matrix = [list(row) for row in segno.make(code, error="m").matrix]
    quiet = 4
    modules = len(matrix) + 2 * quiet
    scale = min(width, height) // modules
    assert scale >= 3, f"the QR code ({modules} modules) does not fit in {width}x{height}"
    left = (width - modules * scale) // 2
    top = (height - modules * scale) // 2
    luma = bytearray(b"\xeb" * (width * height))  # white (video range)
    for r, row in enumerate(matrix):
        for c, dark in enumerate(row):
            if not dark:
                continue
            y0 = top + (r + quiet) * scale
            x0 = left + (c + quiet) * scale
            for y in range(y0, y0 + scale):
                luma[y * width + x0 : y * width + x0 + scale] = b"\x10" * scale
    chroma = b"\x80" * ((width // 2) * (height // 2) * 2)
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            out.write(b"FRAME\n")
            out.write(bytes(luma))
            out.write(chroma)


async def organiser_at_the_door(
    browser: Browser, base: str, concert_id: str, *, camera: bool = False
) -> Page:
    """A phone logged in as the organiser, on the concert's door page (allowed to use the
    camera if `camera`)."""
    context = await browser.new_context(
        **PHONE,  # type: ignore[arg-type]
        permissions=["camera"] if camera else [],
    )
    page = await context.new_page()
    door = f"/organiser/concerts/{concert_id}/door"
    await page.goto(f"{base}/login?next={door}")
    await page.get_by_label("Email").fill(ADMIN_EMAIL)
    await page.get_by_label("Password").fill(ADMIN_PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await page.wait_for_url(f"{base}{door}")
    return page


async def type_code(page: Page, code: str) -> None:
    result = page.get_by_test_id("door-result")
    before = await result.get_attribute("data-scan")
    await page.get_by_label("Ticket code").fill(code)
    await page.get_by_role("button", name="Check in").click()
    await expect(result).not_to_have_attribute("data-scan", before or "0", timeout=15_000)


async def assert_no_horizontal_scroll(page: Page) -> None:
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page is {width} px wide on a 390 px phone"


async def test_door_admits_once_by_typed_code_and_by_camera(
    live_service: LiveService, screenshot_dir: Path, tmp_path: Path
) -> None:
    base = live_service.url
    concert_id = str(create_concert(live_service, unique("E2E Door"))["id"])
    first, second = paid_codes(live_service, concert_id, ["floor-A-1", "floor-A-2"])
    video = tmp_path / "qr.y4m"
    qr_y4m(second, video)
    console = Console()
    shot = Screenshots(screenshot_dir, "door")

    async with async_playwright() as p:
        # Typed codes: a phone whose camera is absent or refused (no fake device).
        browser = await p.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            page = console.watch(await organiser_at_the_door(browser, base, concert_id), "door")
            result = page.get_by_test_id("door-result")
            count = page.get_by_test_id("door-count")
            await expect(page.get_by_role("heading", name="Door")).to_be_visible()
            await expect(page.get_by_test_id("door-camera")).to_have_text("Camera unavailable")
            await expect(count).to_have_text("0")

            await type_code(page, first)
            await expect(result).to_have_attribute("data-kind", "admitted")
            await expect(result).to_contain_text("Admitted")
            await expect(result).to_contain_text("Floor, row A, seat 1")
            await expect(count).to_have_text("1")
            await assert_no_horizontal_scroll(page)
            await shot(page, "admitted")

            await type_code(page, first)
            await expect(result).to_have_attribute("data-kind", "already_in")
            await expect(result).to_contain_text("Already in since")
            await shot(page, "already-in")

            await type_code(page, "not-a-ticket")
            await expect(result).to_have_attribute("data-kind", "invalid")
            await expect(result).to_contain_text("Not a ticket for this concert")
            await expect(count).to_have_text("1")
            await assert_no_horizontal_scroll(page)
            await shot(page, "invalid")
        finally:
            await browser.close()

        # The camera: Chromium's fake camera shows the second ticket's QR code.
        browser = await p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                *CHROMIUM_ARGS,
                "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-video-capture={video}",
            ],
            headless=True,
        )
        try:
            page = console.watch(
                await organiser_at_the_door(browser, base, concert_id, camera=True), "camera"
            )
            result = page.get_by_test_id("door-result")
            await expect(page.get_by_test_id("door-camera")).to_contain_text("Camera on")
            await expect(result).to_have_attribute("data-kind", "admitted", timeout=20_000)
            await expect(result).to_contain_text("Floor, row A, seat 2")
            await expect(page.get_by_test_id("door-count")).to_have_text("1")
            await shot(page, "camera-admitted")
            # The code stays in front of the camera: read again, but not checked in again
            # within the repeat window; after it, the door says it is already in.
            await expect(result).to_have_attribute("data-kind", "already_in", timeout=20_000)
            await expect(page.get_by_test_id("door-count")).to_have_text("1")
        finally:
            await browser.close()

    again = scan_via_api(live_service, concert_id, second)
    assert again.status_code == 409, again.text
    assert again.json()["error"] == "AlreadyCheckedIn"
    # The browser logs the refused scans' answers (409, 422) as failed loads: nothing else.
    refusals = ("status of 409 (Conflict)", "status of 422 (Unprocessable Entity)")
    unexpected = [e for e in console.errors if not any(r in e for r in refusals)]
    assert unexpected == [], "console errors:\n" + "\n".join(unexpected)
