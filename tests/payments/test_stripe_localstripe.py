"""The Stripe adapter against localstripe, a Stripe-compatible server (see conftest.py).

localstripe does not implement Idempotency-Key, so "same key, same intent / refund" is proven
on the wire in test_stripe_retries.py (the key is sent, and resent on every retry), and Stripe
itself keeps the promise.
"""

from __future__ import annotations

import uuid

import pytest

from app.payments.errors import (
    PaymentIntentNotCancelable,
    PaymentIntentNotFound,
    PaymentIntentNotRefundable,
)
from app.payments.gateway import PaymentIntent
from app.payments.stripe_gateway import StripeGateway


async def _intent(gateway: StripeGateway, amount: int = 4200) -> PaymentIntent:
    return await gateway.create_intent(
        amount_cents=amount,
        currency="EUR",
        order_id=f"ord-{uuid.uuid4().hex}",
        idempotency_key=f"idem-{uuid.uuid4().hex}",
    )


async def _pay(gateway: StripeGateway, intent_id: str) -> None:
    """What the buyer's browser does with Stripe.js: attach a test card and confirm.
    (localstripe takes the card by update, then a bare confirm.)"""
    await gateway.client.v1.payment_intents.update_async(
        intent_id, {"payment_method": "pm_card_visa"}
    )
    paid = await gateway.client.v1.payment_intents.confirm_async(intent_id)
    assert paid.status == "succeeded"


async def test_create(stripe_gateway: StripeGateway) -> None:
    intent = await stripe_gateway.create_intent(
        amount_cents=4200, currency="EUR", order_id="ord-42", idempotency_key="idem-create"
    )
    assert intent.id.startswith("pi_")
    assert intent.client_secret.startswith(f"{intent.id}_secret_")
    assert (intent.status, intent.amount_cents, intent.currency, intent.metadata) == (
        "requires_payment_method",
        4200,
        "eur",
        {"order_id": "ord-42"},
    )
    assert (stripe_gateway.provider, stripe_gateway.publishable_key) == (
        "stripe",
        "pk_test_encore",
    )


async def test_retrieve(stripe_gateway: StripeGateway) -> None:
    intent = await _intent(stripe_gateway)
    assert await stripe_gateway.retrieve_intent(intent.id) == intent


async def test_unknown_intent_is_not_found(stripe_gateway: StripeGateway) -> None:
    with pytest.raises(PaymentIntentNotFound) as err:
        await stripe_gateway.retrieve_intent("pi_doesnotexist")
    assert err.value.status_code == 404
    with pytest.raises(PaymentIntentNotFound):
        await stripe_gateway.cancel_intent("pi_doesnotexist")
    with pytest.raises(PaymentIntentNotFound):
        await stripe_gateway.refund("pi_doesnotexist", idempotency_key="idem-x")


async def test_cancel_twice(stripe_gateway: StripeGateway) -> None:
    intent = await _intent(stripe_gateway)
    canceled = await stripe_gateway.cancel_intent(intent.id)
    assert (canceled.id, canceled.status) == (intent.id, "canceled")
    # Stripe answers a second cancel with an error; the port promises the intent back.
    assert await stripe_gateway.cancel_intent(intent.id) == canceled
    assert (await stripe_gateway.retrieve_intent(intent.id)).status == "canceled"


async def test_cancel_after_payment_is_refused(stripe_gateway: StripeGateway) -> None:
    intent = await _intent(stripe_gateway)
    await _pay(stripe_gateway, intent.id)
    with pytest.raises(PaymentIntentNotCancelable) as err:
        await stripe_gateway.cancel_intent(intent.id)
    assert err.value.status_code == 409
    assert (await stripe_gateway.retrieve_intent(intent.id)).status == "succeeded"


async def test_refund_after_payment(stripe_gateway: StripeGateway) -> None:
    intent = await _intent(stripe_gateway, amount=4200)
    with pytest.raises(PaymentIntentNotRefundable) as err:
        await stripe_gateway.refund(intent.id, idempotency_key=f"idem-{uuid.uuid4().hex}")
    assert err.value.status_code == 409

    await _pay(stripe_gateway, intent.id)
    refund_id = await stripe_gateway.refund(intent.id, idempotency_key=f"idem-{uuid.uuid4().hex}")
    assert refund_id.startswith("re_")
    refund = await stripe_gateway.client.v1.refunds.retrieve_async(refund_id)
    assert (refund.payment_intent, refund.amount, refund.status) == (intent.id, 4200, "succeeded")
