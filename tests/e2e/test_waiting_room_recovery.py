"""The waiting page in a real browser when the service loses the line (issue 16, item 13).

A buyer waits for an on-sale; Redis loses the concert's queue (its keys and its registry
entry, as a failover to an empty replica would); the page is told QueueNotJoined, joins again
by itself, says so, and the buyer is let in once the sale opens and holds seats with the pass.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
from playwright.async_api import Browser, expect

from app.waiting_room.engine import ACTIVE_QUEUES, queue_keys
from tests.conftest import TEST_REDIS_URL
from tests.e2e.conftest import (
    E2E_REDIS_DB,
    LiveService,
    _own_db,
    create_concert,
    sign_up,
    start,
    unique,
)

pytestmark = pytest.mark.timeout(180)


async def test_the_waiting_page_rejoins_after_the_line_is_lost(
    live_service: LiveService, browser: Browser, screenshot_dir: Path
) -> None:
    base = live_service.url
    on_sale = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=20)
    concert = create_concert(
        live_service,
        unique("E2E Lost Line"),
        on_sale_at=on_sale.isoformat(),
        queue={"enabled": True, "admit_per_minute": 600, "max_active": 50},
    )
    concert_id = str(concert["id"])
    console, shot, page = await start(browser, screenshot_dir, "queue-lost", "buyer")
    await sign_up(page, base, "Patient Fan")

    await page.goto(f"{base}/concerts/{concert_id}/queue")
    await expect(page.get_by_text("You're in the line.")).to_be_visible()
    await shot(page, "waiting")

    # The service's Redis loses this queue: the line and the registry entry.
    with redis.Redis.from_url(_own_db(TEST_REDIS_URL, E2E_REDIS_DB)) as r:
        assert r.delete(*queue_keys(concert_id)) >= 1
        r.srem(ACTIVE_QUEUES, concert_id)

    # The page's next poll hears QueueNotJoined, joins again and says so.
    await expect(page.get_by_text("You're back in the line")).to_be_visible(timeout=30_000)
    await shot(page, "rejoined")

    # Let in after the on-sale, with a pass that holds seats.
    await expect(page).to_have_url(f"{base}/concerts/{concert_id}", timeout=60_000)
    await expect(page.get_by_text("You're in")).to_be_visible()
    await page.get_by_role("button", name="Find and hold the best 2").click()
    await expect(page.get_by_role("heading", name="Checkout")).to_be_visible()
    await expect(page.get_by_test_id("held-seats").get_by_role("listitem")).to_have_count(2)
    await shot(page, "held")
    # The one QueueNotJoined answer is logged by the browser as a failed request.
    console.assert_clean(ignoring="404")
