"""The Stripe webhook: the only path to CONFIRMED. Payment events are checked here and applied
by Checkout; the signature format is the Stripe adapter's (app/payments/signature.py)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    ValidationError,
)

from app.api import API_PREFIX
from app.checkout.service import Checkout
from app.deps import CheckoutDep, SettingsDep
from app.errors import error_responses
from app.payments.errors import InvalidPayload, InvalidSignature
from app.payments.signature import verify

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


# The objects of the events we act on, as far as we read them (metadata values are strings of
# up to 500 characters, Stripe's own limit). Anything else in them is ignored. A signed event
# that does not fit is refused with 400 before it is recorded, instead of reaching the store
# with a list for an order id (503) or failing on a string for metadata (500).
_Id = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=255)]
_OrderId = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=100)]
_MetaValue = Annotated[str, StringConstraints(strict=True, max_length=500)]


class _Metadata(BaseModel):
    model_config = ConfigDict(extra="allow")
    __pydantic_extra__: dict[str, _MetaValue] = Field(init=False)  # every other value a string

    order_id: _OrderId | None = None


class _PaymentIntent(BaseModel):
    id: _Id
    metadata: _Metadata | None = None

    @property
    def order_id(self) -> str | None:
        return None if self.metadata is None else self.metadata.order_id


class _Charge(BaseModel):
    payment_intent: _Id | None  # null for a charge made without a payment intent
    refunded: StrictBool  # false for a partial refund


_INTENT_EVENTS = (
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "payment_intent.canceled",
)
_OBJECTS: dict[str, type[BaseModel]] = dict.fromkeys(_INTENT_EVENTS, _PaymentIntent) | {
    "charge.refunded": _Charge
}


def _object_of(event: dict[str, Any]) -> BaseModel | None:
    """The event's object, checked, for the types we act on; None for any other type."""
    kind = event["type"]
    shape = _OBJECTS.get(kind)
    if shape is None:
        return None
    try:
        return shape.model_validate(event["data"]["object"])
    except ValidationError as exc:
        # Where and what, never the value (it is the sender's text).
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(["data.object", *map(str, first["loc"])])
        what = "should be an object" if first["type"] == "model_type" else first["msg"]
        raise InvalidPayload(f"The `{kind}` event's {where} is malformed: {what}.") from None


async def _dispatch(checkout: Checkout, kind: str, obj: BaseModel | None) -> None:
    if isinstance(obj, _PaymentIntent):
        order_id = obj.order_id
        if kind == "payment_intent.succeeded":
            await checkout.payment_succeeded(obj.id, order_id)
        elif kind == "payment_intent.payment_failed":
            await checkout.payment_failed(obj.id, order_id)
        elif kind == "payment_intent.canceled":
            await checkout.payment_canceled(obj.id, order_id)
    elif isinstance(obj, _Charge) and obj.payment_intent is not None and obj.refunded:
        await checkout.refunded(obj.payment_intent)  # a partial refund changes no order


@router.post(
    "/webhooks/stripe",
    response_model=WebhookAck,
    responses=error_responses(InvalidSignature, InvalidPayload),
    openapi_extra=_WEBHOOK_REQUEST,
)
async def stripe_webhook(
    request: Request, settings: SettingsDep, checkout: CheckoutDep
) -> WebhookAck:
    """Stripe events: verified on the raw body, recorded once, then applied; duplicates and
    unknown types are acknowledged without effect."""
    payload = await request.body()
    event = verify(
        payload,
        request.headers.get("Stripe-Signature"),
        settings.webhook_secret,
        tolerance=SIGNATURE_TOLERANCE_SECONDS,
    )
    obj = _object_of(event)  # a malformed object is refused before the event is recorded
    kind = str(event["type"])
    await checkout.apply_event_once(str(event["id"]), kind, lambda: _dispatch(checkout, kind, obj))
    return WebhookAck()
