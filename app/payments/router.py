"""The simulated provider's pay button: the HTTP face of the simulated gateway (simulated.py).
Its events reach the webhook (app/checkout/webhook.py) signed, as Stripe's would."""

from __future__ import annotations

import json
import logging
from typing import Literal

import httpx
from fastapi import APIRouter, Request
from pydantic import BaseModel

from app.api import API_PREFIX
from app.checkout.webhook import WEBHOOK_PATH
from app.deps import CheckoutDep, ContainerDep, CurrentUser
from app.errors import NotAuthenticated, NotFound, error_responses
from app.payments.errors import PaymentIntentNotConfirmable
from app.payments.signature import sign
from app.payments.simulated import SimulatedGateway
from app.schemas import RequestBody

log = logging.getLogger(__name__)

router = APIRouter(prefix=API_PREFIX, tags=["payments"])


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
    checkout: CheckoutDep,
) -> SimulatedPaymentResult:
    """Pay (or fail to pay) a simulated payment intent. The resulting Stripe-format event is
    signed with the webhook secret and delivered to the webhook route, as Stripe would."""
    gateway = c.gateway.inner
    owned = await checkout.is_buyers_payment(user.id, payment_intent_id)
    if not isinstance(gateway, SimulatedGateway) or not owned:
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
