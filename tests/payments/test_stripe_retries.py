"""The Stripe adapter's retry policy and error mapping, against a scripted HTTP server on
127.0.0.1 that answers what a real Stripe answers only on a bad day."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest

from app.payments.errors import (
    PaymentIntentNotFound,
    PaymentProviderError,
    PaymentProviderUnavailable,
)
from app.payments.stripe_gateway import StripeGateway
from tests.payments.conftest import Reply, ScriptedServer, stripe_error

ATTEMPTS = 3


def _intent_json(**overrides: Any) -> bytes:
    intent: dict[str, Any] = {
        "id": "pi_scripted",
        "object": "payment_intent",
        "amount": 4200,
        "currency": "eur",
        "status": "requires_payment_method",
        "client_secret": "pi_scripted_secret_abc",
        "metadata": {"order_id": "ord-1"},
    }
    intent.update(overrides)
    return json.dumps(intent).encode()


def _gateway(url: str, *, timeout: float = 5.0) -> StripeGateway:
    # Backoff in milliseconds: the policy is the same, the test is fast.
    return StripeGateway(
        api_key="sk_test_scripted",
        api_base=url,
        timeout_seconds=timeout,
        attempts=ATTEMPTS,
        backoff_initial_seconds=0.01,
        backoff_max_seconds=0.05,
    )


@pytest.fixture
async def gateway(scripted: ScriptedServer) -> AsyncIterator[StripeGateway]:
    gw = _gateway(scripted.url)
    yield gw
    await gw.close()


async def _create(gateway: StripeGateway, key: str = "idem-1") -> Any:
    return await gateway.create_intent(
        amount_cents=4200, currency="eur", order_id="ord-1", idempotency_key=key
    )


@pytest.mark.parametrize(
    "reply",
    [
        Reply(500),
        Reply(503),
        Reply(502, b"<html>Bad Gateway</html>", {"Content-Type": "text/html"}),
        Reply(429, stripe_error("Too many requests", code="rate_limit")),
    ],
    ids=["500", "503", "502-html", "429"],
)
async def test_transient_failures_are_retried_then_reported_unavailable(
    gateway: StripeGateway, scripted: ScriptedServer, reply: Reply
) -> None:
    scripted.replies = [reply]
    with pytest.raises(PaymentProviderUnavailable) as err:
        await _create(gateway, key="idem-retried")
    assert len(scripted.received) == ATTEMPTS
    assert err.value.status_code == 503
    assert err.value.response_headers() == {"Retry-After": "5"}
    assert "retry" in err.value.message
    # Every attempt carries the caller's key: Stripe runs a create at most once per key.
    assert [r.headers.get("Idempotency-Key") for r in scripted.received] == [
        "idem-retried"
    ] * ATTEMPTS


async def test_a_transient_failure_then_success_succeeds(
    gateway: StripeGateway, scripted: ScriptedServer
) -> None:
    scripted.replies = [Reply(503), Reply(429), Reply(200, _intent_json())]
    intent = await _create(gateway)
    assert (intent.id, intent.metadata) == ("pi_scripted", {"order_id": "ord-1"})
    assert len(scripted.received) == 3
    first = scripted.received[0]
    assert (first.method, first.path) == ("POST", "/v1/payment_intents")
    assert first.headers["Authorization"] == "Bearer sk_test_scripted"
    assert first.headers["Idempotency-Key"] == "idem-1"
    # The form body, sent as raw content (see _HTTPXClient), arrives intact.
    assert b"amount=4200" in first.body
    assert b"metadata[order_id]=ord-1" in first.body.replace(b"%5B", b"[").replace(b"%5D", b"]")


@pytest.mark.parametrize(
    "reply",
    [
        Reply(400, stripe_error("Invalid currency", kind="invalid_request_error")),
        Reply(
            402, stripe_error("Your card was declined.", code="card_declined", kind="card_error")
        ),
        Reply(401, stripe_error("Invalid API Key", kind="invalid_request_error")),
        Reply(403, stripe_error("Forbidden", kind="invalid_request_error")),
        Reply(400, stripe_error("Keys for idempotent requests...", kind="idempotency_error")),
    ],
    ids=["400", "402-card", "401", "403", "idempotency-error"],
)
async def test_refusals_are_not_retried(
    gateway: StripeGateway, scripted: ScriptedServer, reply: Reply
) -> None:
    scripted.replies = [reply, Reply(200, _intent_json())]
    with pytest.raises(PaymentProviderError) as err:
        await _create(gateway)
    assert len(scripted.received) == 1
    assert err.value.status_code == 502


async def test_stripe_should_retry_false_is_obeyed(
    gateway: StripeGateway, scripted: ScriptedServer
) -> None:
    # Stripe's idempotency layer would replay this very error: another attempt is useless.
    scripted.replies = [Reply(500, headers={"Stripe-Should-Retry": "false"}), Reply(200)]
    with pytest.raises(PaymentProviderUnavailable):
        await _create(gateway)
    assert len(scripted.received) == 1


async def test_not_found_is_mapped_and_not_retried(
    gateway: StripeGateway, scripted: ScriptedServer
) -> None:
    scripted.replies = [
        Reply(
            404,
            stripe_error(
                "No such payment_intent: 'pi_nope'",
                code="resource_missing",
                kind="invalid_request_error",
            ),
        )
    ]
    with pytest.raises(PaymentIntentNotFound):
        await gateway.retrieve_intent("pi_nope")
    assert len(scripted.received) == 1
    assert (scripted.received[0].method, scripted.received[0].path) == (
        "GET",
        "/v1/payment_intents/pi_nope",
    )


async def test_timeouts_are_retried(scripted: ScriptedServer) -> None:
    scripted.replies = [Reply(200, _intent_json(), delay=1.0)]
    gateway = _gateway(scripted.url, timeout=0.2)
    try:
        with pytest.raises(PaymentProviderUnavailable):
            await gateway.retrieve_intent("pi_scripted")
    finally:
        await gateway.close()
    assert len(scripted.received) == ATTEMPTS


async def test_unreachable_provider_is_unavailable_after_retries(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    gateway = _gateway(f"http://127.0.0.1:{port}")
    try:
        with (
            caplog.at_level(logging.WARNING, logger="app.payments.stripe_gateway"),
            pytest.raises(PaymentProviderUnavailable),
        ):
            await _create(gateway)
    finally:
        await gateway.close()
    retries = [r for r in caplog.records if r.getMessage() == "stripe call failed, retrying"]
    assert [getattr(r, "attempt", None) for r in retries] == list(range(1, ATTEMPTS))
    assert {getattr(r, "error", None) for r in retries} == {"APIConnectionError"}


async def test_refund_sends_the_key_and_returns_an_earlier_refund(
    gateway: StripeGateway, scripted: ScriptedServer
) -> None:
    # Already refunded (under another key, or one Stripe has forgotten): the refund that
    # exists is the answer, not an error.
    scripted.replies = [
        Reply(
            400,
            stripe_error(
                "Charge ch_1 has already been refunded.",
                code="charge_already_refunded",
                kind="invalid_request_error",
            ),
        ),
        Reply(
            200,
            json.dumps(
                {
                    "object": "list",
                    "url": "/v1/refunds",
                    "has_more": False,
                    "data": [
                        {"id": "re_failed", "object": "refund", "status": "failed"},
                        {"id": "re_first", "object": "refund", "status": "succeeded"},
                    ],
                }
            ).encode(),
        ),
    ]
    assert await gateway.refund("pi_scripted", idempotency_key="idem-refund") == "re_first"
    create, lookup = scripted.received
    assert (create.method, create.path) == ("POST", "/v1/refunds")
    assert create.headers["Idempotency-Key"] == "idem-refund"
    assert create.body == b"payment_intent=pi_scripted"
    assert (lookup.method, lookup.path) == ("GET", "/v1/refunds?payment_intent=pi_scripted")


async def test_refund_is_retried_with_the_same_key(
    gateway: StripeGateway, scripted: ScriptedServer
) -> None:
    refund = json.dumps({"id": "re_1", "object": "refund", "status": "succeeded"}).encode()
    scripted.replies = [Reply(503), Reply(200, refund)]
    assert await gateway.refund("pi_scripted", idempotency_key="idem-r") == "re_1"
    assert [r.headers["Idempotency-Key"] for r in scripted.received] == ["idem-r", "idem-r"]


async def test_concurrent_calls_each_get_their_own_attempts(
    gateway: StripeGateway, scripted: ScriptedServer
) -> None:
    # Retry state is per call: five calls failing together make exactly 5 x ATTEMPTS requests.
    scripted.replies = [Reply(503)]
    results = await asyncio.gather(
        *(_create(gateway, key=f"idem-{n}") for n in range(5)), return_exceptions=True
    )
    assert all(isinstance(r, PaymentProviderUnavailable) for r in results)
    assert len(scripted.received) == 5 * ATTEMPTS
    keys = sorted(r.headers["Idempotency-Key"] for r in scripted.received)
    assert keys == sorted(f"idem-{n}" for n in range(5) for _ in range(ATTEMPTS))
