"""The Stripe webhook (the only path to CONFIRMED) and the simulated provider's pay button."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any, Literal

import httpx
from fastapi import APIRouter, Request
from pydantic import BaseModel

from app.api import API_PREFIX
from app.checkout.service import Checkout
from app.deps import CheckoutDep, ContainerDep, CurrentUser, StoreDep
from app.errors import NotAuthenticated, NotFound, error_responses
from app.payments.errors import InvalidPayload, InvalidSignature, PaymentIntentNotConfirmable
from app.payments.signature import sign, verify
from app.payments.simulated import SimulatedGateway
from app.schemas import RequestBody

log = logging.getLogger(__name__)

router = APIRouter(prefix=API_PREFIX, tags=["payments"])

WEBHOOK_PATH = f"{API_PREFIX}/webhooks/stripe"
SIGNATURE_TOLERANCE_SECONDS = 300


class WebhookAck(BaseModel):
    received: Literal[True] = True


# The route reads the raw body and the header itself (the signature covers the exact bytes), so
# FastAPI can't see them: documented by hand, so clients and Schemathesis know they exist.
_WEBHOOK_REQUEST: dict[str, Any] = {
    "parameters": [
        {
            "name": "Stripe-Signature",
            "in": "header",
            "required": True,
            "schema": {"type": "string"},
            "description": '`t=<unix seconds>,v1=<HMAC-SHA256 of "<t>.<raw body>">`',
        }
    ],
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["id", "type", "data"],
                    "properties": {
                        "id": {"type": "string", "minLength": 1},
                        "type": {"type": "string", "minLength": 1},
                        "data": {
                            "type": "object",
                            "required": ["object"],
                            "properties": {"object": {"type": "object"}},
                        },
                    },
                }
            }
        },
    },
}


async def _dispatch(checkout: Checkout, event: dict[str, Any]) -> None:
    kind = event["type"]
    obj: dict[str, Any] = event["data"]["object"]
    if kind.startswith("payment_intent."):
        intent_id = str(obj.get("id", ""))
        order_id = (obj.get("metadata") or {}).get("order_id")
        if kind == "payment_intent.succeeded":
            await checkout.payment_succeeded(intent_id, order_id)
        elif kind == "payment_intent.payment_failed":
            await checkout.payment_failed(intent_id, order_id)
        elif kind == "payment_intent.canceled":
            await checkout.payment_canceled(intent_id, order_id)
    elif kind == "charge.refunded":
        charged = obj.get("payment_intent")
        if isinstance(charged, str) and obj.get("refunded") is True:
            await checkout.refunded(charged)  # a partial refund changes no order


@router.post(
    "/webhooks/stripe",
    response_model=WebhookAck,
    responses=error_responses(InvalidSignature, InvalidPayload),
    openapi_extra=_WEBHOOK_REQUEST,
)
async def stripe_webhook(
    request: Request, c: ContainerDep, store: StoreDep, checkout: CheckoutDep
) -> WebhookAck:
    """Stripe events: verified on the raw body, recorded once, then applied; duplicates and
    unknown types are acknowledged without effect."""
    payload = await request.body()
    event = verify(
        payload,
        request.headers.get("Stripe-Signature"),
        c.settings.webhook_secret,
        tolerance=SIGNATURE_TOLERANCE_SECONDS,
    )
    event_id = str(event["id"])
    if not await store.payment_events.record_if_absent(
        event_id, str(event["type"]), datetime.now(UTC)
    ):
        return WebhookAck()  # a duplicate delivery
    try:
        await _dispatch(checkout, event)
    except BaseException:
        # Not applied: forget the event so the provider's retry runs it again.
        await store.payment_events.forget(event_id)
        raise
    return WebhookAck()


class SimulatedPayment(RequestBody):
    outcome: Literal["succeeded", "failed"]


class SimulatedPaymentResult(BaseModel):
    payment_intent_id: str
    event_id: str
    event_type: str


@router.post(
    "/payments/simulated/{payment_intent_id}/confirm",
    response_model=SimulatedPaymentResult,
    responses=error_responses(NotAuthenticated, NotFound, PaymentIntentNotConfirmable),
)
async def confirm_simulated_payment(
    payment_intent_id: str,
    body: SimulatedPayment,
    request: Request,
    user: CurrentUser,
    c: ContainerDep,
    store: StoreDep,
) -> SimulatedPaymentResult:
    """Pay (or fail to pay) a simulated payment intent. The resulting Stripe-format event is
    signed with the webhook secret and delivered to the webhook route, as Stripe would."""
    gateway = c.gateway.inner
    order = await store.orders.get_by_payment_intent(payment_intent_id)
    if not isinstance(gateway, SimulatedGateway) or order is None or order.user_id != user.id:
        raise NotFound("No such simulated payment.")
    event = await gateway.confirm(payment_intent_id, body.outcome)
    payload = json.dumps(event).encode()
    headers = {
        "Stripe-Signature": sign(payload, c.settings.webhook_secret),
        "Content-Type": "application/json",
    }
    # Through the app's own ASGI stack: the same route, checks and code path as real Stripe.
    transport = httpx.ASGITransport(app=request.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://self") as client:
        delivered = await client.post(WEBHOOK_PATH, content=payload, headers=headers)
    if delivered.status_code != 200:
        log.error("simulated webhook delivery failed", extra={"status": delivered.status_code})
        delivered.raise_for_status()
    return SimulatedPaymentResult(
        payment_intent_id=payment_intent_id, event_id=event["id"], event_type=event["type"]
    )
