"""The payment provider (localstripe, through the real Stripe adapter) goes away, then returns.

Checkout answers 503 with Retry-After within the payment deadline while the breaker counts
failures, then at once while it is open; the service stays ready (holds don't need payments);
after the provider is back and the breaker's reset time has passed, the same checkout goes
through and the breaker closes.
"""

from __future__ import annotations

import asyncio
import importlib.util
import uuid
from pathlib import Path

import pytest
from pydantic import SecretStr

from tests.checkout.test_api import hold
from tests.conftest import make_settings
from tests.faults.conftest import admin_headers, refused_checkouts, running
from tests.helpers import buyer, create_concert
from tests.servers.restartable import STRIPE_TEST_KEY, LocalStripe

API = "/api/v1"
DEADLINE_SECONDS = 3.0
RESET_SECONDS = 1.5

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("localstripe") is None, reason="localstripe is not installed"
)


async def test_provider_unreachable_opens_the_breaker_then_recovers(tmp_path: Path) -> None:
    stripe = LocalStripe(tmp_path)
    stripe.start()
    settings = make_settings(
        f"sqlite+aiosqlite:///{tmp_path}/store.db",
        payment_provider="stripe",
        stripe_secret_key=SecretStr(STRIPE_TEST_KEY),
        stripe_api_base=stripe.url,
        stripe_webhook_secret=SecretStr("whsec_" + uuid.uuid4().hex),
        stripe_timeout_seconds=1.0,
        payment_deadline_seconds=DEADLINE_SECONDS,
        breaker_failure_threshold=2,
        breaker_reset_seconds=RESET_SECONDS,
    )
    try:
        async with running(settings) as (app, client):
            c = await create_concert(client, await admin_headers(client))
            me = buyer(app)
            held = await hold(client, c["id"], me, ["floor-A-1"])

            stripe.stop()
            timings = await refused_checkouts(client, held["id"], me, "payments", times=3)
            assert max(timings) < DEADLINE_SECONDS + 1.0, timings
            assert timings[-1] < 0.1, timings  # the open breaker answers without calling out
            ready = await client.get("/readyz")
            assert ready.status_code == 200  # holds and seat maps still work
            assert ready.json()["breakers"]["payments"] == "opened"
            # Holds still work while payments are down.
            await hold(client, c["id"], buyer(app), ["floor-A-2"])

            stripe.start()  # same port
            await asyncio.sleep(RESET_SECONDS + 0.2)
            r = await client.post(f"{API}/checkout", json={"hold_id": held["id"]}, headers=me)
            assert r.status_code in (200, 201), r.text
            assert r.json()["order"]["status"] == "pending_payment"
            assert r.json()["payment"]["payment_intent_id"].startswith("pi_")
            ready = await client.get("/readyz")
            assert ready.json()["breakers"]["payments"] == "closed"
    finally:
        stripe.stop()
