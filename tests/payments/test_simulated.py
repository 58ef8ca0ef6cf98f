"""The simulated provider against a real Redis."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest

from app.payments.errors import (
    PaymentIntentNotCancelable,
    PaymentIntentNotConfirmable,
    PaymentIntentNotFound,
    PaymentIntentNotRefundable,
    PaymentProviderError,
    PaymentProviderUnavailable,
)
from app.payments.gateway import PaymentIntent
from app.payments.signature import sign, verify
from app.payments.simulated import SimulatedGateway
from app.platform.redis import RedisClient, build_redis


def _key() -> str:
    return f"idem-{uuid.uuid4().hex}"


async def _intent(gateway: SimulatedGateway, amount: int = 4200) -> PaymentIntent:
    return await gateway.create_intent(
        amount_cents=amount,
        currency="EUR",
        order_id=f"ord-{uuid.uuid4().hex}",
        idempotency_key=_key(),
    )


async def test_create_returns_a_stripe_shaped_intent(
    simulated: SimulatedGateway, redis: RedisClient
) -> None:
    intent = await simulated.create_intent(
        amount_cents=4200, currency="EUR", order_id="ord-1", idempotency_key=_key()
    )
    assert intent.id.startswith("pi_sim_")
    assert intent.client_secret.startswith(f"{intent.id}_secret_")
    assert len(intent.client_secret) > len(f"{intent.id}_secret_") + 16
    assert (intent.status, intent.amount_cents, intent.currency, intent.metadata) == (
        "requires_payment_method",
        4200,
        "eur",
        {"order_id": "ord-1"},
    )
    # Stored under a hash-tagged key, so that a cluster keeps each intent in one slot.
    assert await redis.exists(f"sim:pi:{{{intent.id}}}") == 1
    assert (simulated.provider, simulated.publishable_key) == ("simulated", None)


async def test_same_idempotency_key_same_intent(simulated: SimulatedGateway) -> None:
    key = _key()
    args: dict[str, Any] = {"amount_cents": 1000, "currency": "eur", "order_id": "ord-2"}
    first = await simulated.create_intent(**args, idempotency_key=key)
    again = await simulated.create_intent(**args, idempotency_key=key)
    other = await simulated.create_intent(**args, idempotency_key=_key())
    assert again == first
    assert other.id != first.id


async def test_concurrent_creates_with_one_key_make_one_intent(
    simulated: SimulatedGateway,
) -> None:
    key = _key()
    intents = await asyncio.gather(
        *(
            simulated.create_intent(
                amount_cents=1000, currency="eur", order_id="ord-3", idempotency_key=key
            )
            for _ in range(10)
        )
    )
    assert len({i.id for i in intents}) == 1
    assert len({i.client_secret for i in intents}) == 1


async def test_key_reused_for_another_payment_is_refused(simulated: SimulatedGateway) -> None:
    key = _key()
    await simulated.create_intent(
        amount_cents=1000, currency="eur", order_id="ord-4", idempotency_key=key
    )
    with pytest.raises(PaymentProviderError, match="different payment"):
        await simulated.create_intent(
            amount_cents=2000, currency="eur", order_id="ord-4", idempotency_key=key
        )


async def test_create_refuses_a_non_positive_amount(simulated: SimulatedGateway) -> None:
    with pytest.raises(ValueError, match="positive"):
        await simulated.create_intent(
            amount_cents=0, currency="eur", order_id="ord-5", idempotency_key=_key()
        )


async def test_retrieve(simulated: SimulatedGateway) -> None:
    intent = await _intent(simulated)
    assert await simulated.retrieve_intent(intent.id) == intent
    with pytest.raises(PaymentIntentNotFound):
        await simulated.retrieve_intent("pi_sim_doesnotexist")


async def test_cancel_is_idempotent(simulated: SimulatedGateway) -> None:
    intent = await _intent(simulated)
    canceled = await simulated.cancel_intent(intent.id)
    assert canceled.status == "canceled"
    assert canceled.id == intent.id
    assert await simulated.cancel_intent(intent.id) == canceled
    assert (await simulated.retrieve_intent(intent.id)).status == "canceled"
    with pytest.raises(PaymentIntentNotFound):
        await simulated.cancel_intent("pi_sim_doesnotexist")


async def test_cancel_after_success_is_refused(simulated: SimulatedGateway) -> None:
    intent = await _intent(simulated)
    await simulated.confirm(intent.id, "succeeded")
    with pytest.raises(PaymentIntentNotCancelable) as err:
        await simulated.cancel_intent(intent.id)
    assert err.value.status_code == 409
    assert (await simulated.retrieve_intent(intent.id)).status == "succeeded"


async def test_confirm_success_event(simulated: SimulatedGateway) -> None:
    intent = await _intent(simulated, amount=4200)
    event = await simulated.confirm(intent.id, "succeeded")
    assert event["id"].startswith("evt_sim_")
    assert isinstance(event["created"], int)
    assert event == {
        "id": event["id"],
        "object": "event",
        "api_version": "2024-06-20",
        "created": event["created"],
        "livemode": False,
        "type": "payment_intent.succeeded",
        "data": {
            "object": {
                "id": intent.id,
                "object": "payment_intent",
                "amount": 4200,
                "amount_received": 4200,
                "currency": "eur",
                "status": "succeeded",
                "metadata": intent.metadata,
                "client_secret": intent.client_secret,
                "created": event["data"]["object"]["created"],
                "canceled_at": None,
                "last_payment_error": None,
                "livemode": False,
                "payment_method_types": ["card"],
            }
        },
    }
    assert (await simulated.retrieve_intent(intent.id)).status == "succeeded"


async def test_confirm_failure_event_leaves_the_intent_payable(
    simulated: SimulatedGateway,
) -> None:
    intent = await _intent(simulated)
    first = await simulated.confirm(intent.id, "failed")
    second = await simulated.confirm(intent.id, "failed")
    assert first["type"] == second["type"] == "payment_intent.payment_failed"
    assert first["id"] != second["id"]  # one event per failed attempt
    obj = first["data"]["object"]
    assert (obj["id"], obj["status"], obj["amount_received"]) == (
        intent.id,
        "requires_payment_method",
        0,
    )
    assert obj["last_payment_error"] == {
        "type": "card_error",
        "code": "card_declined",
        "decline_code": "generic_decline",
        "message": "Your card was declined.",
    }
    assert (await simulated.retrieve_intent(intent.id)).status == "requires_payment_method"
    # The buyer tries again and pays: the decline is gone from the intent.
    paid = await simulated.confirm(intent.id, "succeeded")
    assert paid["type"] == "payment_intent.succeeded"
    assert paid["data"]["object"]["last_payment_error"] is None


async def test_confirm_again_redelivers_the_same_event(simulated: SimulatedGateway) -> None:
    intent = await _intent(simulated)
    first = await simulated.confirm(intent.id, "succeeded")
    assert await simulated.confirm(intent.id, "succeeded") == first
    # Asking for a failure after the payment went through changes nothing either.
    assert await simulated.confirm(intent.id, "failed") == first


async def test_concurrent_confirms_make_one_transition(
    simulated: SimulatedGateway, redis: RedisClient
) -> None:
    intent = await _intent(simulated)
    events = await asyncio.gather(*(simulated.confirm(intent.id, "succeeded") for _ in range(10)))
    assert [e["type"] for e in events] == ["payment_intent.succeeded"] * 10
    # One transition, one event id: everyone got the event of the one call that flipped it.
    assert len({e["id"] for e in events}) == 1
    stored = await redis.hget(f"sim:pi:{{{intent.id}}}", "succeeded_event_id")
    assert stored == events[0]["id"].encode()


async def test_control_a_read_then_write_confirm_would_race(redis: RedisClient) -> None:
    """Proves the test above can see a race: the same 10 concurrent confirmations done as
    read-then-write from Python, instead of one script, flip the intent several times."""
    key = f"sim:pi:{{pi_sim_control_{uuid.uuid4().hex}}}"
    await redis.hset(key, mapping={"status": "requires_payment_method"})

    async def naive_confirm() -> str:
        event_id = f"evt_{uuid.uuid4().hex}"
        if await redis.hget(key, "status") == b"requires_payment_method":
            await redis.hset(key, mapping={"status": "succeeded", "succeeded_event_id": event_id})
            return event_id
        stored = await redis.hget(key, "succeeded_event_id")
        assert isinstance(stored, bytes)
        return stored.decode()

    try:
        ids = await asyncio.gather(*(naive_confirm() for _ in range(10)))
        assert len(set(ids)) > 1
    finally:
        await redis.delete(key)


async def test_confirm_after_cancel_is_refused(simulated: SimulatedGateway) -> None:
    intent = await _intent(simulated)
    await simulated.cancel_intent(intent.id)
    with pytest.raises(PaymentIntentNotConfirmable) as err:
        await simulated.confirm(intent.id, "succeeded")
    assert err.value.status_code == 409
    assert (await simulated.retrieve_intent(intent.id)).status == "canceled"
    with pytest.raises(PaymentIntentNotFound):
        await simulated.confirm("pi_sim_doesnotexist", "succeeded")


async def test_events_pass_the_webhook_signature_check(simulated: SimulatedGateway) -> None:
    intent = await _intent(simulated)
    for outcome in ("failed", "succeeded"):
        event = await simulated.confirm(intent.id, outcome)
        payload = json.dumps(event).encode()
        assert verify(payload, sign(payload, "whsec_x"), "whsec_x") == event


async def test_refund_once(simulated: SimulatedGateway) -> None:
    intent = await _intent(simulated)
    with pytest.raises(PaymentIntentNotRefundable) as err:
        await simulated.refund(intent.id, idempotency_key=_key())
    assert err.value.status_code == 409
    await simulated.confirm(intent.id, "succeeded")
    assert await simulated.refund_status(intent.id) is None

    key = _key()
    refund_id = await simulated.refund(intent.id, idempotency_key=key)
    assert refund_id.startswith("re_sim_")
    assert await simulated.refund(intent.id, idempotency_key=key) == refund_id
    # Another key cannot refund the same payment twice either.
    assert await simulated.refund(intent.id, idempotency_key=_key()) == refund_id
    assert await simulated.refund_status(intent.id) == "succeeded"
    assert (await simulated.retrieve_intent(intent.id)).status == "succeeded"  # as Stripe
    with pytest.raises(PaymentIntentNotFound):
        await simulated.refund("pi_sim_doesnotexist", idempotency_key=_key())


async def test_concurrent_refunds_make_one_refund(simulated: SimulatedGateway) -> None:
    intent = await _intent(simulated)
    await simulated.confirm(intent.id, "succeeded")
    ids = await asyncio.gather(
        *(simulated.refund(intent.id, idempotency_key=_key()) for _ in range(10))
    )
    assert len(set(ids)) == 1


async def test_redis_down_is_provider_unavailable(unused_tcp_port: int) -> None:
    dead = build_redis(f"redis://127.0.0.1:{unused_tcp_port}/0", timeout=0.5)
    gateway = SimulatedGateway(dead)
    try:
        with pytest.raises(PaymentProviderUnavailable) as err:
            await gateway.create_intent(
                amount_cents=100, currency="eur", order_id="o", idempotency_key=_key()
            )
        assert err.value.status_code == 503
        assert err.value.response_headers() == {"Retry-After": "5"}
        with pytest.raises(PaymentProviderUnavailable):
            await gateway.retrieve_intent("pi_sim_x")
    finally:
        await dead.aclose()
