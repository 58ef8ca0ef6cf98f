"""The simulated provider: zero setup, Stripe's shapes, state in Redis.

Intents live in Redis so every app process sees the same ones: `sim:pi:{<intent id>}` is a hash
(the hash tag keeps each intent in one cluster slot); `sim:idem:{<sha256 of a key>}` binds an
idempotency key to the intent it created, for 24 h as Stripe does. Every status change is one
Lua script (app/payments/lua/), so concurrent confirmations or cancellations cannot interleave.

Only this adapter has `confirm`: the buyer's "pay" button. It returns the Stripe-format event
that Stripe would send; the route that calls it signs the event and delivers it to the webhook,
so a simulated payment takes exactly the path of a real one.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import string
import time
from collections.abc import Awaitable, Callable, Sequence
from importlib.resources import files
from typing import Any, Literal, TypeVar

from redis.exceptions import RedisError

from app.payments.errors import (
    PaymentIntentNotCancelable,
    PaymentIntentNotConfirmable,
    PaymentIntentNotFound,
    PaymentIntentNotRefundable,
    PaymentProviderError,
    PaymentProviderUnavailable,
)
from app.payments.gateway import PaymentIntent
from app.platform.redis import RedisClient

__all__ = ["EVENT_API_VERSION", "SimulatedGateway"]

T = TypeVar("T")

IDEMPOTENCY_TTL_SECONDS = 86_400
EVENT_API_VERSION = "2024-06-20"
# What Stripe reports for a generic decline (test card 4000 0000 0000 0002).
_DECLINE = {
    "type": "card_error",
    "code": "card_declined",
    "decline_code": "generic_decline",
    "message": "Your card was declined.",
}
_ALPHABET = string.ascii_letters + string.digits


def _random(n: int = 24) -> str:
    # One uniform draw below 62**n written in base 62: the same distribution as n calls of
    # secrets.choice, at a fraction of the cost (an intent makes two of these).
    value = secrets.randbelow(len(_ALPHABET) ** n)
    chars = []
    for _ in range(n):
        value, digit = divmod(value, len(_ALPHABET))
        chars.append(_ALPHABET[digit])
    return "".join(chars)


def _intent_key(intent_id: str) -> str:
    return f"sim:pi:{{{intent_id}}}"


def _idempotency_key(key: str) -> str:
    # Hashed: a fixed-length Redis key whatever the caller sends.
    return f"sim:idem:{{{hashlib.sha256(key.encode('utf-8')).hexdigest()}}}"


def _load_script(name: str) -> str:
    return files("app.payments").joinpath("lua", name).read_text(encoding="utf-8")


_CLAIM_LUA = _load_script("sim_claim.lua")
_CREATE_LUA = _load_script("sim_create.lua")
_CANCEL_LUA = _load_script("sim_cancel.lua")
_CONFIRM_LUA = _load_script("sim_confirm.lua")
_REFUND_LUA = _load_script("sim_refund.lua")


def _text(value: bytes | str) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else value


def _fields(flat: Sequence[bytes | str]) -> dict[str, str]:
    """An HGETALL reply ([k1, v1, k2, v2...]) as a dict."""
    items = [_text(v) for v in flat]
    return dict(zip(items[0::2], items[1::2], strict=True))


def _to_intent(fields: dict[str, str]) -> PaymentIntent:
    return PaymentIntent(
        id=fields["id"],
        client_secret=fields["client_secret"],
        status=fields["status"],
        amount_cents=int(fields["amount"]),
        currency=fields["currency"],
        metadata=json.loads(fields["metadata"]),
    )


def _render(fields: dict[str, str]) -> dict[str, Any]:
    """The intent as Stripe renders a payment_intent object (the fields a webhook reads)."""
    amount = int(fields["amount"])
    error = fields.get("last_payment_error")
    canceled_at = fields.get("canceled_at")
    return {
        "id": fields["id"],
        "object": "payment_intent",
        "amount": amount,
        "amount_received": amount if fields["status"] == "succeeded" else 0,
        "currency": fields["currency"],
        "status": fields["status"],
        "metadata": json.loads(fields["metadata"]),
        "client_secret": fields["client_secret"],
        "created": int(fields["created"]),
        "canceled_at": int(canceled_at) if canceled_at else None,
        "last_payment_error": json.loads(error) if error else None,
        "livemode": False,
        "payment_method_types": ["card"],
    }


def _event(event_id: str, event_type: str, created: int, obj: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": event_id,
        "object": "event",
        "api_version": EVENT_API_VERSION,
        "created": created,
        "livemode": False,
        "type": event_type,
        "data": {"object": obj},
    }


class SimulatedGateway:
    """PaymentGateway with no provider at all: intents in Redis, payments by `confirm`."""

    def __init__(self, redis: RedisClient) -> None:
        self._claim = redis.register_script(_CLAIM_LUA)
        self._create = redis.register_script(_CREATE_LUA)
        self._cancel = redis.register_script(_CANCEL_LUA)
        self._confirm = redis.register_script(_CONFIRM_LUA)
        self._refund = redis.register_script(_REFUND_LUA)
        self._redis = redis

    @property
    def provider(self) -> Literal["simulated"]:
        return "simulated"

    @property
    def publishable_key(self) -> None:
        return None

    async def create_intent(
        self, *, amount_cents: int, currency: str, order_id: str, idempotency_key: str
    ) -> PaymentIntent:
        if amount_cents <= 0:
            raise ValueError("amount_cents must be positive")
        candidate = f"pi_sim_{_random()}"
        # Claim the key first, then create under the claimed id: a process that dies between
        # the two leaves a key bound to a missing intent, which the retry creates.
        intent_id = _text(
            await self._run(
                self._claim,
                [_idempotency_key(idempotency_key)],
                [candidate, IDEMPOTENCY_TTL_SECONDS],
            )
        )
        reply = await self._run(
            self._create,
            [_intent_key(intent_id)],
            [
                intent_id,
                amount_cents,
                currency.lower(),
                json.dumps({"order_id": order_id}),
                f"{intent_id}_secret_{_random()}",
                int(time.time()),
            ],
        )
        intent = _to_intent(_fields(reply))
        if (intent.amount_cents, intent.currency, intent.metadata) != (
            amount_cents,
            currency.lower(),
            {"order_id": order_id},
        ):
            # Stripe answers this with an idempotency_error: the key was reused for another
            # payment, a bug in the caller.
            raise PaymentProviderError(
                "This idempotency key was already used for a different payment."
            )
        return intent

    async def retrieve_intent(self, intent_id: str) -> PaymentIntent:
        return _to_intent(await self._get(intent_id))

    async def cancel_intent(self, intent_id: str) -> PaymentIntent:
        reply = await self._run(self._cancel, [_intent_key(intent_id)], [int(time.time())])
        code = _text(reply[0])
        if code == "NOT_FOUND":
            raise PaymentIntentNotFound()
        if code == "NOT_CANCELABLE":
            raise PaymentIntentNotCancelable()
        return _to_intent(_fields(reply[1]))

    async def refund(self, intent_id: str, *, idempotency_key: str) -> str:
        # The intent itself records its one refund, which makes any key (the same one or not)
        # return the same refund id: exactly once per intent, as a full refund is with Stripe.
        del idempotency_key
        reply = await self._run(
            self._refund, [_intent_key(intent_id)], [f"re_sim_{_random()}", int(time.time())]
        )
        code = _text(reply[0])
        if code == "NOT_FOUND":
            raise PaymentIntentNotFound()
        if code == "NOT_REFUNDABLE":
            raise PaymentIntentNotRefundable()
        return _text(reply[1])

    async def refund_status(self, intent_id: str) -> str | None:
        """The status of the intent's refund ("succeeded"), None if it has none."""
        return (await self._get(intent_id)).get("refund_status")

    async def confirm(
        self, intent_id: str, outcome: Literal["succeeded", "failed"]
    ) -> dict[str, Any]:
        """Pay (outcome "succeeded") or fail to pay ("failed") an intent; the Stripe event.

        A success moves requires_payment_method -> succeeded once, atomically, and the event
        it returns (payment_intent.succeeded) has an id fixed at that moment: any later
        confirmation, or a concurrent one that lost the race, returns that same event again,
        as Stripe re-delivers an event under its original id. A webhook that records event
        ids therefore applies a payment once, however many times the buyer presses "pay".
        A failure returns a new payment_intent.payment_failed event per attempt and leaves the
        intent payable (requires_payment_method, with last_payment_error), as Stripe does.

        Raises PaymentIntentNotFound, PaymentIntentNotConfirmable (canceled).
        """
        if outcome not in ("succeeded", "failed"):
            raise ValueError(f"unknown outcome {outcome!r}")
        event_id = f"evt_sim_{_random()}"
        now = int(time.time())
        reply = await self._run(
            self._confirm,
            [_intent_key(intent_id)],
            [outcome, event_id, now, json.dumps(_DECLINE)],
        )
        code = _text(reply[0])
        if code == "NOT_FOUND":
            raise PaymentIntentNotFound()
        if code == "NOT_CONFIRMABLE":
            raise PaymentIntentNotConfirmable()
        fields = _fields(reply[1])
        if code == "FAILED":
            return _event(event_id, "payment_intent.payment_failed", now, _render(fields))
        return _event(
            fields["succeeded_event_id"],
            "payment_intent.succeeded",
            int(fields["succeeded_event_at"]),
            _render(fields),
        )

    async def close(self) -> None:
        """Nothing to close: the Redis client belongs to the caller."""

    async def _get(self, intent_id: str) -> dict[str, str]:
        try:
            reply = await self._redis.hgetall(_intent_key(intent_id))
        except RedisError as exc:
            raise PaymentProviderUnavailable() from exc
        if not reply:
            raise PaymentIntentNotFound()
        return {_text(k): _text(v) for k, v in reply.items()}

    async def _run(
        self, script: Callable[..., Awaitable[T]], keys: list[str], args: list[Any]
    ) -> T:
        try:
            return await script(keys=keys, args=args)
        except RedisError as exc:
            # Redis is this provider's back end: down means the provider is down.
            raise PaymentProviderUnavailable() from exc
