"""Fair against bots, in a real browser (issue 21): the waiting room's proof-of-work check and
email verification.

- A fan opens the queue page of a concert whose queue asks for a check: the `altcha` widget
  fetches a challenge from our API, solves it in a Web Worker under the app's strict CSP, and
  the page joins the line with the solution; the fan is let in.
- A fan signs up, opens the verification link of the mail (the `.eml` outbox, as `make run`),
  and the account page shows the address as confirmed; before that it offers a new link.
"""

from __future__ import annotations

import email
import email.policy
import re
import time
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.async_api import Browser, expect

from tests.e2e.conftest import LiveService, create_concert, sign_up, start, unique

pytestmark = pytest.mark.timeout(180)


async def test_the_widget_solves_the_check_and_the_fan_joins(
    live_service: LiveService, browser: Browser, screenshot_dir: Path
) -> None:
    base = live_service.url
    concert = create_concert(
        live_service,
        unique("E2E Checked Queue"),
        queue={
            "enabled": True,
            "admit_per_minute": 600,
            "max_active": 50,
            "challenge": True,
            "challenge_difficulty": 5_000,
        },
    )
    console, shot, page = await start(browser, screenshot_dir, "challenge", "fan")
    joins: list[dict[str, object]] = []
    page.on(
        "request",
        lambda r: (
            joins.append({"body": r.post_data_json})
            if r.method == "POST" and r.url.endswith(f"/concerts/{concert['id']}/queue")
            else None
        ),
    )
    await sign_up(page, base, "Checked Fan")

    # At this low difficulty the widget may solve, join and be gone within a few hundred
    # milliseconds: the page notes when it is shown (the web app then moves on without
    # reloading the document, so the note stays).
    await page.add_init_script(
        "new MutationObserver(() => {"
        " if (document.querySelector('[data-testid=\"altcha\"]')) window.__altchaShown = true;"
        "}).observe(document, {childList: true, subtree: true});"
    )
    await page.goto(f"{base}/concerts/{concert['id']}/queue")
    if await page.get_by_test_id("altcha").is_visible():
        await shot(page, "checking")
    # Solved by the widget's worker, then joined with the payload, then let in.
    await expect(page).to_have_url(f"{base}/concerts/{concert['id']}", timeout=60_000)
    await expect(page.get_by_text("You're in")).to_be_visible()
    assert await page.evaluate("window.__altchaShown === true"), "the check was never shown"
    await shot(page, "admitted")
    # A join without a payload first (refused: ChallengeRequired), then one with it.
    assert len(joins) == 2, joins
    assert joins[0]["body"] is None
    body = joins[1]["body"]
    assert isinstance(body, dict)
    assert isinstance(body.get("altcha"), str)
    assert len(body["altcha"]) > 100
    console.assert_clean(ignoring="403")


async def test_a_fan_who_reloads_keeps_the_place_without_a_new_check(
    live_service: LiveService, browser: Browser, screenshot_dir: Path
) -> None:
    """Before the on-sale the fan waits in the line; a reload joins again with no payload (the
    service keeps the place) and shows no check."""
    base = live_service.url
    soon = datetime.now(UTC) + timedelta(hours=2)
    concert = create_concert(
        live_service,
        unique("E2E Checked Presale"),
        on_sale_at=soon.isoformat(),
        queue={"enabled": True, "challenge": True, "challenge_difficulty": 5_000},
    )
    console, shot, page = await start(browser, screenshot_dir, "challenge-reload", "fan")
    bodies: list[object] = []
    page.on(
        "request",
        lambda r: (
            bodies.append(r.post_data_json)
            if r.method == "POST" and r.url.endswith(f"/concerts/{concert['id']}/queue")
            else None
        ),
    )
    await sign_up(page, base, "Reloading Fan")
    await page.goto(f"{base}/concerts/{concert['id']}/queue")
    await expect(page.get_by_text("You're in the line.")).to_be_visible(timeout=60_000)
    await shot(page, "in-line")
    # The first join went without a payload (refused: ChallengeRequired), the second with it.
    assert bodies[0] is None, bodies
    assert isinstance(bodies[1], dict)
    assert isinstance(bodies[1].get("altcha"), str)

    await page.reload()
    await expect(page.get_by_text("You're in the line.")).to_be_visible()
    await expect(page.get_by_test_id("altcha")).to_have_count(0)
    assert len(bodies) == 3, bodies
    assert bodies[2] is None  # kept the place without a check
    await shot(page, "reloaded")
    console.assert_clean(ignoring="403")


def _verification_link(outbox: Path, address: str, within: float = 20.0) -> str:
    deadline = time.monotonic() + within
    while True:
        for eml in outbox.glob("verify-email-*.eml"):
            message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
            assert isinstance(message, EmailMessage)
            if address in str(message["To"]):
                part = message.get_body(preferencelist=("plain",))
                assert part is not None
                [link] = re.findall(r"\S+/verify-email\?token=\S+", part.get_content())
                return str(link)
        assert time.monotonic() < deadline, f"no verification mail for {address} in {outbox}"
        time.sleep(0.2)


async def test_the_mailed_link_confirms_the_address(
    live_service: LiveService, browser: Browser, screenshot_dir: Path
) -> None:
    base = live_service.url
    console, shot, page = await start(browser, screenshot_dir, "verify-email", "fan")
    await sign_up(page, base, "Mailed Fan")
    await page.goto(f"{base}/account")
    status = page.get_by_test_id("email-status")
    await expect(status).to_have_attribute("data-verified", "false")
    address = await page.evaluate("JSON.parse(localStorage.getItem('encore.session')).user.email")
    await page.get_by_role("button", name="Resend the link").click()
    await expect(page.get_by_text("A new link is on its way")).to_be_visible()
    await shot(page, "unverified")

    link = _verification_link(live_service.log.parent / "outbox", str(address))
    [token] = parse_qs(urlsplit(link).query)["token"]
    await page.goto(f"{base}/verify-email?token={token}")
    await expect(page.get_by_text("Your email address is confirmed")).to_be_visible()
    await shot(page, "confirmed")
    await page.goto(f"{base}/account")
    await expect(status).to_have_attribute("data-verified", "true")
    # A changed link says so in plain words.
    await page.goto(f"{base}/verify-email?token={token[:-3]}xyz")
    await expect(page.get_by_text("This link does not work")).to_be_visible()
    console.assert_clean(ignoring="400")
