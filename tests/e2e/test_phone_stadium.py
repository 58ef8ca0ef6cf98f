"""A 50,000-seat stadium on a phone and on a laptop, in a real browser.

- On a 390 x 844 touch screen a fan sees the sections overview (the map fits the width, no
  keyboard hints), pinches it, taps a section, gets seats of at least 24 CSS px, taps a free
  one, is told so when tapping a held one, and holds, pays and sees the ticket from the sticky
  bottom bar.
- On a laptop the same map zooms with the wheel, a click zooms into a section and "All
  sections" goes back; hovering a seat shows a tooltip that stays inside the map.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Locator, Page, expect

from tests.e2e.conftest import (
    Console,
    LiveService,
    Screenshots,
    create_concert,
    new_page,
    sign_up,
    unique,
)

pytestmark = pytest.mark.timeout(240)

# 10 blocks x 50 rows x 100 seats.
STADIUM = [
    {"name": f"Block {n}", "price_cents": 4000 + 1000 * (n % 5), "rows": 50, "seats_per_row": 100}
    for n in range(1, 11)
]


def stadium(service: LiveService) -> dict[str, object]:
    return create_concert(
        service, unique("E2E Stadium"), sections=STADIUM, venue={"name": "Arena", "city": "Rome"}
    )


async def phone(browser: Browser, console: Console) -> tuple[BrowserContext, Page]:
    context = await browser.new_context(
        viewport={"width": 390, "height": 844},
        has_touch=True,
        is_mobile=True,
        device_scale_factor=2,
    )
    return context, console.watch(await context.new_page(), "phone")


async def cell(seat_map: Locator) -> float:
    """The size of a seat on screen now, in CSS px (the map's zoom)."""
    value = await seat_map.get_attribute("data-cell")
    assert value is not None
    return float(value)


async def settled_cell(seat_map: Locator, ok: Callable[[float], bool]) -> float:
    """The seat size once `ok` holds for it (zooms animate), or the test fails."""
    deadline = time.monotonic() + 5
    while True:
        value = await cell(seat_map)
        if ok(value):
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"the seat size stayed at {value} px")
        await asyncio.sleep(0.05)


async def screen_shot(page: Page, shots: Screenshots, step: str) -> None:
    """What the phone's screen shows (a full-page capture would resize the emulated screen)."""
    shots.taken += 1
    name = f"{shots.prefix}-{shots.taken:02d}-{step}.png"
    await page.screenshot(path=str(shots.directory / name))


# The widest run of one seat colour along the rows of pixels around the middle of the map, in
# CSS px: the on-screen width of a drawn seat (its square, without the gap around it).
DRAWN_SEAT_WIDTH = """(canvas) => {
  const ctx = canvas.getContext("2d");
  const ratio = canvas.width / canvas.clientWidth;
  const size = Math.round(80 * ratio);
  const x0 = Math.round(canvas.width / 2 - size / 2);
  const y0 = Math.round(canvas.height / 2 - size / 2);
  const data = ctx.getImageData(x0, y0, size, size).data;
  const counts = new Map();
  for (let i = 0; i < data.length; i += 4) {
    const key = (data[i] << 16) | (data[i + 1] << 8) | data[i + 2];
    counts.set(key, (counts.get(key) || 0) + 1);
  }
  const seat = [...counts.entries()].sort((a, b) => b[1] - a[1])[0][0];
  let best = 0;
  for (let y = 0; y < size; y++) {
    let run = 0;
    for (let x = 0; x < size; x++) {
      const i = (y * size + x) * 4;
      const key = (data[i] << 16) | (data[i + 1] << 8) | data[i + 2];
      run = key === seat ? run + 1 : 0;
      best = Math.max(best, run);
    }
  }
  return best / ratio;
}"""


def hold_as_someone_else(service: LiveService, concert_id: str, seat_ids: list[str]) -> None:
    email = f"{uuid.uuid4().hex[:12]}@example.com"
    password = "correct-horse-battery"
    with httpx.Client(base_url=f"{service.url}/api/v1", timeout=10) as api:
        r = api.post("/auth/signup", json={"email": email, "password": password, "name": "Other"})
        assert r.status_code in (200, 201), r.text
        r = api.post("/auth/login", json={"email": email, "password": password})
        assert r.status_code == 200, r.text
        headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
        r = api.post(f"/concerts/{concert_id}/holds", json={"seat_ids": seat_ids}, headers=headers)
        assert r.status_code in (200, 201), r.text


async def pinch(context: BrowserContext, page: Page, x: float, y: float, spread: float) -> None:
    """Two fingers moving apart around (x, y) (Playwright has no multi-touch helper)."""
    cdp = await context.new_cdp_session(page)

    def points(d: float) -> list[dict[str, float]]:
        return [{"x": x - d, "y": y, "id": 0}, {"x": x + d, "y": y, "id": 1}]

    await cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": points(20)})
    for k in range(1, 9):
        d = 20 + spread * k / 8
        await cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": points(d)})
    await cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    await cdp.detach()


async def test_a_fan_picks_a_stadium_seat_on_a_phone(
    live_service: LiveService, browser: Browser, screenshot_dir: Path
) -> None:
    base = live_service.url
    concert = stadium(live_service)
    concert_id = str(concert["id"])
    console = Console()
    shot = Screenshots(screenshot_dir, "phone")
    context, page = await phone(browser, console)
    await sign_up(page, base, "Phone Fan", phone=True)

    await page.goto(f"{base}/concerts/{concert_id}")
    await expect(page.get_by_test_id("live-status")).to_have_attribute("data-connection", "live")
    await expect(page.get_by_test_id("count-available")).to_have_text("50,000")
    seat_map = page.get_by_test_id("seat-map")
    await expect(seat_map).to_have_attribute("data-view", "overview")
    assert await cell(seat_map) < 24

    # The whole page fits the phone's width; the map is as wide as its box, on screen.
    widths = await page.evaluate(
        "[document.documentElement.scrollWidth, window.innerWidth, document.body.scrollWidth]"
    )
    assert widths[0] <= widths[1], widths
    assert widths[2] <= widths[1], widths
    box = await seat_map.bounding_box()
    assert box is not None
    assert box["x"] >= 0, box
    assert box["x"] + box["width"] <= 390, box
    # Touch screen: the help speaks of tapping, and no keyboard hints anywhere.
    await expect(page.get_by_test_id("seatmap-help")).to_contain_text("Tap a section")
    text = (await page.locator("body").inner_text()).lower()
    for hint in ("keyboard", "tab to the map", "arrows", "enter to pick"):
        assert hint not in text, hint
    # The bottom bar is there before anything is picked.
    bar = page.get_by_test_id("selection-bar")
    await expect(bar).to_be_visible()
    await expect(bar).to_contain_text("No seats picked yet")
    await seat_map.scroll_into_view_if_needed()
    await screen_shot(page, shot, "overview")

    # A pinch zooms in; "All sections" goes back to the overview.
    box = await seat_map.bounding_box()
    assert box is not None
    before = await cell(seat_map)
    await pinch(context, page, box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, 60)
    await settled_cell(seat_map, lambda c: c > before * 1.3)
    await page.get_by_test_id("seatmap-all").tap()
    await expect(seat_map).to_have_attribute("data-view", "overview")
    await settled_cell(seat_map, lambda c: abs(c - before) < 0.01)

    # Tap a section (the left column, a third of the way down): its seats fill the screen.
    box = await seat_map.bounding_box()
    assert box is not None
    await page.touchscreen.tap(box["x"] + box["width"] * 0.25, box["y"] + box["height"] * 0.35)
    await expect(seat_map).to_have_attribute("data-view", "seats")
    await expect(seat_map).to_have_attribute("data-section", re.compile(r".+"))
    assert await cell(seat_map) >= 24
    drawn = await seat_map.evaluate(DRAWN_SEAT_WIDTH)
    assert 24 <= drawn < 40, drawn  # one seat, not a block of them
    breadcrumb = page.get_by_test_id("seatmap-breadcrumb")
    await expect(breadcrumb).to_contain_text(re.compile(r"Block \d+"))
    section_name = (await breadcrumb.inner_text()).split("›")[-1].strip()
    await expect(page.get_by_test_id("seatmap-minimap")).to_be_visible()
    await screen_shot(page, shot, "section")

    # Tap the seat in the middle of the map: picked, in the bottom bar with the total.
    box = await seat_map.bounding_box()
    assert box is not None
    await page.touchscreen.tap(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    await expect(page.get_by_test_id("bar-total")).to_have_text(re.compile(r"^1 seat · €\d+\.00$"))
    await expect(page.get_by_test_id("bar-seats")).to_contain_text(section_name)
    # The bar sits at the bottom of the screen while the map is in view (sticky).
    bar_box = await bar.bounding_box()
    assert bar_box is not None
    assert bar_box["y"] >= 844 - 160, bar_box
    assert bar_box["y"] + bar_box["height"] <= 844, bar_box
    picked = await page.get_by_test_id("selected-seats").get_by_role("listitem").inner_text()
    match = re.match(r"(Block \d+) · Row (\w+) · Seat (\d+)", picked)
    assert match is not None, picked
    section_id = next(
        s["id"]
        for s in concert["sections"]  # type: ignore[attr-defined]
        if s["name"] == match.group(1)
    )
    row, number = match.group(2), int(match.group(3))

    # The seat to its right is held by someone else, live: tapping it says so.
    neighbour = f"{section_id}-{row}-{number + 1}"
    hold_as_someone_else(live_service, concert_id, [neighbour])
    await expect(page.get_by_test_id("count-held")).to_have_text("1")
    size = await cell(seat_map)
    await page.touchscreen.tap(box["x"] + box["width"] / 2 + size, box["y"] + box["height"] / 2)
    await expect(page.get_by_test_id("seat-feedback")).to_contain_text(
        f"{match.group(1)}, row {row}, seat {number + 1} is held by someone"
    )
    await expect(page.get_by_test_id("bar-total")).to_contain_text("1 seat")
    await screen_shot(page, shot, "picked")

    # Hold from the bottom bar, pay, see the ticket.
    price = (await page.get_by_test_id("bar-total").inner_text()).split("·")[-1].strip()
    await page.get_by_test_id("bar-hold").tap()
    await expect(page.get_by_role("heading", name="Checkout")).to_be_visible()
    await page.get_by_role("button", name="Continue to payment").tap()
    await page.get_by_role("button", name=f"Pay {price}").tap()
    await expect(page.get_by_test_id("order-status")).to_have_attribute(
        "data-status", "confirmed", timeout=15_000
    )
    await expect(page.get_by_test_id("ticket-qr")).to_have_count(1)
    await expect(page.get_by_test_id("ticket-qr").first).to_be_visible()
    await screen_shot(page, shot, "ticket")
    await context.close()
    console.assert_clean()


async def test_the_stadium_map_on_a_laptop(
    live_service: LiveService, browser: Browser, screenshot_dir: Path
) -> None:
    base = live_service.url
    concert = stadium(live_service)
    console = Console()
    shot = Screenshots(screenshot_dir, "laptop")
    page = await new_page(browser, console, "laptop")
    await page.goto(f"{base}/concerts/{concert['id']}")
    await expect(page.get_by_test_id("live-status")).to_have_attribute("data-connection", "live")
    seat_map = page.get_by_test_id("seat-map")
    await expect(seat_map).to_have_attribute("data-view", "overview")
    await expect(page.get_by_test_id("seatmap-help")).to_contain_text("Keyboard")
    await expect(page.get_by_test_id("selection-bar")).to_be_hidden()
    await seat_map.scroll_into_view_if_needed()
    box = await seat_map.bounding_box()
    assert box is not None
    await shot(page, "overview")

    # Hovering a section tells its figures; the wheel zooms in around the pointer.
    x, y = box["x"] + box["width"] * 0.25, box["y"] + box["height"] * 0.35
    await page.mouse.move(x, y)
    await expect(page.get_by_test_id("seat-tooltip")).to_contain_text("seats free")
    before = await cell(seat_map)
    await page.mouse.wheel(0, -400)
    await settled_cell(seat_map, lambda c: c > before)
    await page.get_by_test_id("seatmap-all").click()
    await settled_cell(seat_map, lambda c: abs(c - before) < 0.01)

    # A click on a section zooms into it; hovering a seat near the right edge keeps the
    # tooltip inside the map.
    await page.mouse.click(x, y)
    await expect(seat_map).to_have_attribute("data-view", "seats")
    assert await cell(seat_map) >= 8
    size = await cell(seat_map)
    await page.mouse.move(box["x"] + box["width"] - size * 8.5, box["y"] + box["height"] / 2)
    tooltip = page.get_by_test_id("seat-tooltip")
    await expect(tooltip).to_contain_text("Row")
    tip = await tooltip.bounding_box()
    assert tip is not None
    assert tip["x"] >= box["x"], tip
    assert tip["x"] + tip["width"] <= box["x"] + box["width"], tip
    await shot(page, "section")

    # The minimap moves the view: its bottom right corner is the last block.
    minimap = page.get_by_test_id("seatmap-minimap")
    mini = await minimap.bounding_box()
    assert mini is not None
    await page.mouse.click(mini["x"] + mini["width"] * 0.8, mini["y"] + mini["height"] * 0.92)
    await expect(page.get_by_test_id("seatmap-breadcrumb")).to_contain_text("Block 10")
    await page.get_by_test_id("seatmap-all").click()
    await expect(seat_map).to_have_attribute("data-view", "overview")
    await expect(minimap).to_be_hidden()

    # The keyboard from the overview: the view follows the cursor into its section.
    sections = [str(s["id"]) for s in concert["sections"]]  # type: ignore[attr-defined]
    await seat_map.focus()
    cursor = page.get_by_test_id("seat-cursor")
    await expect(cursor).to_have_attribute("data-seat-id", f"{sections[0]}-A-1")
    await expect(seat_map).to_have_attribute("data-view", "seats")
    await expect(seat_map).to_have_attribute("data-section", sections[0])
    await page.keyboard.press("PageDown")
    await expect(cursor).to_have_attribute("data-seat-id", f"{sections[1]}-A-1")
    await expect(seat_map).to_have_attribute("data-section", sections[1])
    await page.keyboard.press("End")
    await expect(cursor).to_have_attribute("data-seat-id", f"{sections[1]}-A-100")
    await expect(page.get_by_test_id("seat-announcement")).to_contain_text(
        "Block 2, row A, seat 100: available"
    )
    cursor_box = await cursor.bounding_box()
    assert cursor_box is not None
    assert cursor_box["x"] + cursor_box["width"] <= box["x"] + box["width"] + 2, cursor_box
    await page.keyboard.press("Escape")
    await expect(seat_map).to_have_attribute("data-view", "overview")
    console.assert_clean()
