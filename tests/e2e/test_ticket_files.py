"""The buyer downloads the tickets as a PDF from the order page; the organiser downloads the
sales as CSV from the live on-sale view."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD
from tests.e2e.conftest import LiveService, create_concert, log_in, paid_order, start, unique

pytestmark = pytest.mark.timeout(180)


async def test_tickets_pdf_and_sales_csv_download_from_the_app(
    live_service: LiveService, browser: Browser, screenshot_dir: Path, tmp_path: Path
) -> None:
    base = live_service.url
    concert = create_concert(live_service, unique("E2E Files"))
    concert_id = str(concert["id"])
    email, order_id = paid_order(live_service, concert_id)
    console, shot, page = await start(browser, screenshot_dir, "files", "buyer")

    await log_in(page, base, email)
    await page.goto(f"{base}/orders/{order_id}")
    button = page.get_by_role("button", name="Download tickets (PDF)")
    await expect(button).to_be_visible(timeout=15_000)
    await shot(page, "order-with-download")
    async with page.expect_download() as pdf_download:
        await button.click()
    pdf = await pdf_download.value
    assert pdf.suggested_filename == f"tickets-{order_id}.pdf"
    saved = tmp_path / "tickets.pdf"
    await pdf.save_as(saved)
    assert saved.read_bytes().startswith(b"%PDF-")
    async with page.expect_download() as ics_download:
        await page.get_by_role("button", name="Add to calendar").click()
    ics = await ics_download.value
    assert ics.suggested_filename == f"concert-{order_id}.ics"
    saved_ics = tmp_path / "concert.ics"
    await ics.save_as(saved_ics)
    assert saved_ics.read_bytes().startswith(b"BEGIN:VCALENDAR")

    organiser = await (
        await browser.new_context(viewport={"width": 1280, "height": 900})
    ).new_page()
    console.watch(organiser, "organiser")
    await log_in(organiser, base, ADMIN_EMAIL, ADMIN_PASSWORD)
    await organiser.goto(f"{base}/organiser/concerts/{concert_id}")
    async with organiser.expect_download() as csv_download:
        await organiser.get_by_role("button", name="Sales (CSV)").click()
    report = await csv_download.value
    assert report.suggested_filename == f"sales-{concert_id}.csv"
    saved = tmp_path / "sales.csv"
    await report.save_as(saved)
    rows = list(csv.DictReader(io.StringIO(saved.read_text())))
    assert [(r["order_id"], r["seat_id"], r["buyer_email"]) for r in rows] == [
        (order_id, "floor-B-3", email)
    ]
    console.assert_clean()
