"""The checkout flow with the real Stripe adapter against localstripe, and signed events."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from app.container import Container
from app.payments.signature import sign
from app.payments.stripe_gateway import StripeGateway
from app.settings import Settings
from app.storage.records import OrderStatus
from tests.conftest import admin_login, http_client, make_settings, running_app, token_headers
from tests.helpers import CONCERTS, create_concert
from tests.payments.conftest import localstripe_url  # noqa: F401
from tests.servers.restartable import STRIPE_TEST_KEY

API = "/api/v1"


def _settings(settings_overrides: dict[str, Any], db: Path) -> Settings:
    return make_settings(f"sqlite+aiosqlite:///{db}", **settings_overrides)


def _stripe(localstripe: str, **extra: Any) -> dict[str, Any]:
    return {
        "payment_provider": "stripe",
        "stripe_secret_key": SecretStr(STRIPE_TEST_KEY),
        "stripe_publishable_key": "pk_test_encore",
        "stripe_api_base": localstripe,
        "stripe_webhook_secret": SecretStr("whsec_" + uuid.uuid4().hex),
        **extra,
    }


@pytest.fixture(scope="module")
async def stripe_app(
    localstripe_url: str,  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[FastAPI]:
    db = tmp_path_factory.mktemp("stripe-db") / "s.db"
    async with running_app(_settings(_stripe(localstripe_url), db)) as application:
        yield application


@pytest.fixture
async def http(stripe_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with http_client(stripe_app) as c:
        yield c


def _gateway(app: FastAPI) -> StripeGateway:
    container: Container = app.state.container
    assert isinstance(container.gateway.inner, StripeGateway)
    return container.gateway.inner


async def _checkout(
    http: httpx.AsyncClient, concert_id: str, who: dict[str, str], seat: str
) -> dict[str, Any]:
    r = await http.post(f"{CONCERTS}/{concert_id}/holds", json={"seat_ids": [seat]}, headers=who)
    assert r.status_code == 201, r.text
    r = await http.post(f"{API}/checkout", json={"hold_id": r.json()["id"]}, headers=who)
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def _pay_and_deliver(
    http: httpx.AsyncClient, app: FastAPI, intent_id: str, copies: int = 1
) -> list[httpx.Response]:
    """What Stripe.js and Stripe do: the card pays, then the signed event reaches us."""
    client = _gateway(app).client
    await client.v1.payment_intents.update_async(intent_id, {"payment_method": "pm_card_visa"})
    paid = await client.v1.payment_intents.confirm_async(intent_id)
    assert paid.status == "succeeded"
    payload = json.dumps(
        {
            "id": f"evt_{uuid.uuid4().hex}",
            "object": "event",
            "type": "payment_intent.succeeded",
            "created": int(time.time()),
            "data": {"object": paid.to_dict()},
        }
    ).encode()
    secret = app.state.container.settings.webhook_secret
    headers = {"Stripe-Signature": sign(payload, secret), "Content-Type": "application/json"}
    return list(
        await asyncio.gather(
            *(
                http.post(f"{API}/webhooks/stripe", content=payload, headers=headers)
                for _ in range(copies)
            )
        )
    )


async def test_paying_through_stripe_confirms_the_order(
    http: httpx.AsyncClient, stripe_app: FastAPI
) -> None:
    c = await create_concert(http, await admin_login(http))
    me = token_headers(stripe_app, f"stripe-{uuid.uuid4().hex[:8]}")
    result = await _checkout(http, c["id"], me, "floor-A-1")
    payment = result["payment"]
    assert payment["provider"] == "stripe"
    assert payment["publishable_key"] == "pk_test_encore"
    assert payment["client_secret"].startswith(payment["payment_intent_id"])
    intent = await _gateway(stripe_app).retrieve_intent(payment["payment_intent_id"])
    assert intent.metadata == {"order_id": result["order"]["id"]}
    assert intent.amount_cents == 5000

    delivered = await _pay_and_deliver(http, stripe_app, payment["payment_intent_id"], copies=5)
    assert [r.status_code for r in delivered] == [200] * 5
    order = (await http.get(f"{API}/orders/{result['order']['id']}", headers=me)).json()
    assert order["status"] == "confirmed"
    assert [t["seat_id"] for t in order["tickets"]] == ["floor-A-1"]


async def test_another_device_resumes_the_stripe_payment_of_a_pending_order(
    http: httpx.AsyncClient, stripe_app: FastAPI
) -> None:
    """GET /orders/{id}/payment hands the order's one PaymentIntent (its client secret from
    Stripe) to any device of the buyer; once paid there is nothing left to pay (409)."""
    c = await create_concert(http, await admin_login(http))
    subject = f"stripe-{uuid.uuid4().hex[:8]}"
    me = token_headers(stripe_app, subject)
    result = await _checkout(http, c["id"], me, "floor-A-2")
    order_id, payment = result["order"]["id"], result["payment"]
    other_device = token_headers(stripe_app, subject)

    r = await http.get(f"{API}/orders/{order_id}/payment", headers=other_device)

    assert r.status_code == 200, r.text
    resumed = r.json()
    assert resumed == {**payment, "confirm_path": None}
    assert resumed["provider"] == "stripe"
    assert resumed["publishable_key"] == "pk_test_encore"
    intent = await _gateway(stripe_app).retrieve_intent(resumed["payment_intent_id"])
    assert intent.client_secret == resumed["client_secret"]
    assert intent.metadata == {"order_id": order_id}
    stranger = token_headers(stripe_app, f"stranger-{uuid.uuid4().hex[:8]}")
    hidden = await http.get(f"{API}/orders/{order_id}/payment", headers=stranger)
    assert hidden.status_code == 404
    assert resumed["client_secret"] not in hidden.text

    await _pay_and_deliver(http, stripe_app, resumed["payment_intent_id"])
    order = (await http.get(f"{API}/orders/{order_id}", headers=me)).json()
    assert order["status"] == "confirmed"
    paid = await http.get(f"{API}/orders/{order_id}/payment", headers=other_device)
    assert paid.status_code == 409, paid.text
    assert (paid.json()["error"], paid.json()["status"]) == ("OrderNotPayable", "confirmed")


async def test_a_paid_order_whose_seat_was_sold_is_refunded_once_at_stripe(
    http: httpx.AsyncClient, stripe_app: FastAPI
) -> None:
    c = await create_concert(http, await admin_login(http))
    late = token_headers(stripe_app, f"late-{uuid.uuid4().hex[:8]}")
    quick = token_headers(stripe_app, f"quick-{uuid.uuid4().hex[:8]}")
    first = await _checkout(http, c["id"], late, "floor-B-1")
    container: Container = stripe_app.state.container
    order_id = first["order"]["id"]
    # The first buyer's order lapses (as the expiry job would do, minus cancelling the intent,
    # which is exactly the race in which a late payment still gets through).
    order = await container.store.orders.get(order_id)
    assert order is not None
    await container.store.orders.transition(
        order.id, order.version, OrderStatus.EXPIRED, "test", datetime.now(UTC)
    )
    await container.engine.release(c["id"], order.hold_id, order.user_id)
    second = await _checkout(http, c["id"], quick, "floor-B-1")
    await _pay_and_deliver(http, stripe_app, second["payment"]["payment_intent_id"])

    intent_id = first["payment"]["payment_intent_id"]
    await _pay_and_deliver(http, stripe_app, intent_id, copies=3)
    refunded = (await http.get(f"{API}/orders/{order_id}", headers=late)).json()
    assert refunded["status"] == "refunded"
    refunds = await _gateway(stripe_app).client.v1.refunds.list_async({"payment_intent": intent_id})
    assert len(refunds.data) == 1
    won = (await http.get(f"{API}/orders/{second['order']['id']}", headers=quick)).json()
    assert won["status"] == "confirmed"


async def test_an_organiser_refund_is_one_refund_at_stripe(
    http: httpx.AsyncClient, stripe_app: FastAPI
) -> None:
    """Five organisers' clicks at once, then Stripe's own charge.refunded news: one refund."""
    admin = await admin_login(http)
    c = await create_concert(http, admin)
    me = token_headers(stripe_app, f"fan-{uuid.uuid4().hex[:8]}")
    bought = await _checkout(http, c["id"], me, "balcony-A-2")
    intent_id = bought["payment"]["payment_intent_id"]
    await _pay_and_deliver(http, stripe_app, intent_id)
    order_id = bought["order"]["id"]
    clicks = await asyncio.gather(
        *(http.post(f"{API}/orders/{order_id}/refund", headers=admin) for _ in range(5))
    )
    assert [r.status_code for r in clicks] == [200] * 5, [r.text for r in clicks]
    refunds = await _gateway(stripe_app).client.v1.refunds.list_async({"payment_intent": intent_id})
    assert len(refunds.data) == 1
    order = (await http.get(f"{API}/orders/{order_id}", headers=me)).json()
    assert order["status"] == "refunded"
    seats = (await http.get(f"{CONCERTS}/{c['id']}/seats")).json()
    assert seats["counts"]["sold"] == 0


async def test_unpaid_orders_expire_and_their_intents_are_cancelled(
    localstripe_url: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    short = _stripe(localstripe_url, hold_ttl_seconds=1, payment_window_seconds=1)
    settings = _settings(short | {"sweeper_in_process": False}, tmp_path / "e.db")
    async with running_app(settings) as app, http_client(app) as http:
        c = await create_concert(http, await admin_login(http))
        me = token_headers(app, f"slow-{uuid.uuid4().hex[:8]}")
        result = await _checkout(http, c["id"], me, "balcony-A-1")
        container: Container = app.state.container
        await asyncio.sleep(1.2)
        assert await container.checkout.expire_due() == 1
        order = (await http.get(f"{API}/orders/{result['order']['id']}", headers=me)).json()
        assert order["status"] == "expired"
        intent = await container.gateway.retrieve_intent(result["payment"]["payment_intent_id"])
        assert intent.status == "canceled"
        seats = (await http.get(f"{CONCERTS}/{c['id']}/seats")).json()
        assert seats["counts"]["held"] == 0
        assert await container.checkout.expire_due() == 0  # nothing left, nothing twice
