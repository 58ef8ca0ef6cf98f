"""End-to-end fixtures: the real service (uvicorn in a subprocess, serving the built web app)
and Debian's Chromium driven by Playwright.

Skipped, with the reason, when Chromium, the playwright package or the built web app is
missing; REQUIRE_E2E=1 (CI) turns those skips into failures. Playwright never downloads a
browser here: it drives the system Chromium (E2E_CHROMIUM, default /usr/bin/chromium).
Screenshots of each step go to E2E_SCREENSHOTS (default .data/e2e-screenshots).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
import redis
from playwright.async_api import Browser, ConsoleMessage, Page, async_playwright

from app.web import DIST
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, TEST_REDIS_URL
from tests.servers.restartable import STRIPE_TEST_KEY, LocalStripe

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("E2E_CHROMIUM", "/usr/bin/chromium"))
SCREENSHOTS = Path(os.environ.get("E2E_SCREENSHOTS", ROOT / ".data" / "e2e-screenshots"))
REQUIRED = os.environ.get("REQUIRE_E2E") == "1"
# Headless Chromium as a CI container can run it: no sandbox (root), no GPU, and nothing that
# phones home (updates, sync, field trials).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]
# The services' own Redis databases (this one and the next): their background jobs (hold
# sweeper, queue admission) keep registries of concerts that must not mix with those of the
# in-process test app or with each other.
E2E_REDIS_DB = 12


def missing() -> str | None:
    """Why the browser tests can't run here, or None."""
    if importlib.util.find_spec("playwright") is None:
        return "the playwright package is not installed (pip install -e '.[dev]')"
    if not CHROMIUM.exists():
        return f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    if not (DIST / "index.html").is_file():
        return (
            "the web app is not built (make ui, or "
            "npm --prefix frontend ci && npm --prefix frontend run build)"
        )
    return None


@pytest.fixture(scope="session")
def e2e_ready() -> None:
    reason = missing()
    if reason is not None:
        if REQUIRED:
            pytest.fail(f"REQUIRE_E2E=1 but {reason}")
        pytest.skip(reason)


def _own_db(url: str, db: int) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss"):
        return url
    return urlunsplit(parts._replace(path=f"/{db}"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass(frozen=True)
class LiveService:
    url: str
    log: Path

    def admin_headers(self) -> dict[str, str]:
        r = httpx.post(
            f"{self.url}/api/v1/auth/login",
            json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD},
            timeout=10,
        )
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['access_token']}"}


@contextlib.contextmanager
def run_service(workdir: Path, redis_db: int, **env_overrides: str) -> Iterator[LiveService]:
    """The service as `make run` starts it (uvicorn, the built web app), on a free port, with
    a fresh SQLite store and its own, emptied Redis database."""
    redis_url = _own_db(TEST_REDIS_URL, redis_db)
    with redis.Redis.from_url(redis_url) as r:
        r.flushdb()
    port = _free_port()
    env = {
        **os.environ,
        "APP_ENV": "test",
        "REDIS_URL": redis_url,
        "STORE": "sql",
        "DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'e2e.db'}",
        "DATA_DIR": str(workdir),
        "RATE_LIMIT_ENABLED": "false",
        "ADMIN_EMAIL": ADMIN_EMAIL,
        "ADMIN_PASSWORD": ADMIN_PASSWORD,
        "SEED_DEMO": "false",
        "PAYMENT_PROVIDER": "simulated",
        "LOG_JSON": "false",
        "LOG_LEVEL": "WARNING",
        **env_overrides,
    }
    log = workdir / "service.log"
    command = [sys.executable, "-m", "uvicorn", "app.main:app", "--no-proxy-headers"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--timeout-graceful-shutdown", "2"]
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                tail = log.read_text()[-3000:]
                pytest.fail(f"the service exited ({process.returncode}):\n{tail}")
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the service did not get ready:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield LiveService(url=url, log=log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@pytest.fixture(scope="session")
def live_service(
    e2e_ready: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveService]:
    """The service with the simulated payment provider."""
    with run_service(tmp_path_factory.mktemp("e2e-service"), E2E_REDIS_DB) as service:
        yield service


@pytest.fixture(scope="session")
def stripe_service(
    e2e_ready: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveService]:
    """The service with the Stripe provider, against localstripe (a Stripe-compatible server
    on 127.0.0.1; the browser side of Stripe is up to each test)."""
    if importlib.util.find_spec("localstripe") is None:
        reason = "localstripe is not installed (pip install -e '.[dev]')"
        if REQUIRED:
            pytest.fail(f"REQUIRE_E2E=1 but {reason}")
        pytest.skip(reason)
    workdir = tmp_path_factory.mktemp("e2e-stripe")
    stripe = LocalStripe(workdir)
    stripe.start()
    try:
        with run_service(
            workdir,
            E2E_REDIS_DB + 1,
            PAYMENT_PROVIDER="stripe",
            STRIPE_SECRET_KEY=STRIPE_TEST_KEY,
            STRIPE_PUBLISHABLE_KEY="pk_test_encore",
            STRIPE_API_BASE=stripe.url,
        ) as service:
            yield service
    finally:
        stripe.stop()


_taken: list[Path] = []


@pytest.fixture(scope="session")
def screenshot_dir() -> Path:
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    _taken.append(SCREENSHOTS)
    return SCREENSHOTS


@contextlib.asynccontextmanager
async def launched_chromium() -> AsyncIterator[Browser]:
    """Debian's Chromium, headless, as every browser test drives it."""
    async with async_playwright() as p:
        chromium = await p.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest.fixture
async def browser(live_service: LiveService) -> AsyncIterator[Browser]:
    async with launched_chromium() as chromium:
        yield chromium


@dataclass
class Console:
    """Every console error and uncaught exception of the pages it watches."""

    errors: list[str] = field(default_factory=list)

    def watch(self, page: Page, name: str) -> Page:
        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error":
                self.errors.append(f"{name}: {message.text} ({message.location.get('url')})")

        page.on("console", on_console)
        page.on("pageerror", lambda error: self.errors.append(f"{name}: uncaught {error}"))
        return page

    def assert_clean(self, ignoring: str | None = None) -> None:
        """No errors, besides those that mention `ignoring` (any case)."""
        unexpected = [e for e in self.errors if ignoring is None or ignoring not in e.lower()]
        assert unexpected == [], "console errors:\n" + "\n".join(unexpected)


@dataclass
class Screenshots:
    """Full-page screenshots of one test's steps: <dir>/<test>-<nn>-<step>.png."""

    directory: Path
    prefix: str
    taken: int = 0

    async def __call__(self, page: Page, step: str) -> None:
        self.taken += 1
        name = f"{self.prefix}-{self.taken:02d}-{step}.png"
        await page.screenshot(path=str(self.directory / name), full_page=True)


async def new_page(browser: Browser, console: Console, name: str, width: int = 1280) -> Page:
    context = await browser.new_context(viewport={"width": width, "height": 900})
    return console.watch(await context.new_page(), name)


async def start(
    browser: Browser, screenshot_dir: Path, prefix: str, page_name: str
) -> tuple[Console, Screenshots, Page]:
    """What each browser test starts with: a console watch, its screenshots
    (<prefix>-<nn>-<step>.png) and a first page, watched as `page_name`."""
    console = Console()
    page = await new_page(browser, console, page_name)
    return console, Screenshots(screenshot_dir, prefix), page


async def sign_up(page: Page, base: str, name: str, *, phone: bool = False) -> None:
    """Sign up through the form; ends on the home page, logged in (on a phone the header folds
    the account into its menu: then the home page is the sign)."""
    await page.goto(f"{base}/signup")
    await page.get_by_label("Name").fill(name)
    await page.get_by_label("Email").fill(f"{uuid.uuid4().hex[:12]}@example.com")
    await page.get_by_label("Password").fill("correct-horse-battery")
    await page.get_by_role("button", name="Sign up").click()
    if phone:
        await page.wait_for_url(f"{base}/")
    else:
        await page.get_by_test_id("signed-in-as").filter(has_text=name).wait_for()


def concert_body(title: str, **overrides: object) -> dict[str, object]:
    now = datetime.now(UTC).replace(microsecond=0)
    body: dict[str, object] = {
        "title": title,
        "artist": "The Browser Band",
        "genre": "rock",
        "description": "Created by the end-to-end tests.",
        "venue": {"name": "Test Hall", "city": "Utrecht"},
        "starts_at": (now + timedelta(days=30)).isoformat(),
        "on_sale_at": (now - timedelta(hours=1)).isoformat(),
        "currency": "EUR",
        "max_tickets_per_user": 4,
        "sections": [
            {"name": "Floor", "price_cents": 5500, "rows": 4, "seats_per_row": 10},
            {"name": "Balcony", "price_cents": 4000, "rows": 2, "seats_per_row": 8},
        ],
    }
    body.update(overrides)
    return body


def create_concert(service: LiveService, title: str, **overrides: object) -> dict[str, object]:
    r = httpx.post(
        f"{service.url}/api/v1/concerts",
        json=concert_body(title, **overrides),
        headers=service.admin_headers(),
        timeout=10,
    )
    assert r.status_code == 201, r.text
    created: dict[str, object] = r.json()
    return created


BUYER_PASSWORD = "correct-horse-battery"


def bought(
    service: LiveService, concert_id: str, seats: list[str]
) -> tuple[str, dict[str, str], str]:
    """A buyer signed up through the API and their order of `seats`, paid with the simulated
    provider: (email, the buyer's auth headers, order id)."""
    email = f"buyer-{uuid.uuid4().hex[:10]}@example.com"
    with httpx.Client(base_url=f"{service.url}/api/v1", timeout=10) as api:
        r = api.post(
            "/auth/signup", json={"email": email, "password": BUYER_PASSWORD, "name": "Ada"}
        )
        assert r.status_code == 201, r.text
        headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
        held = api.post(f"/concerts/{concert_id}/holds", json={"seat_ids": seats}, headers=headers)
        assert held.status_code == 201, held.text
        r = api.post("/checkout", json={"hold_id": held.json()["id"]}, headers=headers)
        assert r.status_code == 201, r.text
        order_id: str = r.json()["order"]["id"]
        confirm = r.json()["payment"]["confirm_path"].removeprefix("/api/v1")
        assert api.post(confirm, json={"outcome": "succeeded"}, headers=headers).is_success
    return email, headers, order_id


def paid_order(service: LiveService, concert_id: str) -> tuple[str, str]:
    """`bought` of one seat (floor-B-3): (email, order id)."""
    email, _, order_id = bought(service, concert_id, ["floor-B-3"])
    return email, order_id


async def log_in(page: Page, base: str, email: str, password: str = BUYER_PASSWORD) -> None:
    await page.goto(f"{base}/login")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Log in").click()
    await page.get_by_test_id("signed-in-as").wait_for()


def unique(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:6]}"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    shots = sorted(SCREENSHOTS.glob("*.png")) if _taken else []
    if shots:
        terminalreporter.write_line(f"e2e screenshots ({len(shots)}): {SCREENSHOTS}")
