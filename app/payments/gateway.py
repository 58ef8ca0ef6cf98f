"""The payment port: what checkout needs from a payment provider, in Stripe's vocabulary.

Two adapters implement it: `StripeGateway` (the real thing, or any Stripe-compatible server)
and `SimulatedGateway` (zero setup, state in Redis). `factory.build_gateway` picks one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

ProviderName = Literal["stripe", "simulated"]


@dataclass(frozen=True, slots=True)
class PaymentIntent:
    id: str
    client_secret: str
    # Stripe's statuses: requires_payment_method, requires_confirmation, requires_action,
    # processing, requires_capture, succeeded, canceled.
    status: str
    amount_cents: int
    currency: str  # lower-case ISO 4217, as Stripe writes it ("eur")
    metadata: dict[str, str] = field(default_factory=dict)


class PaymentGateway(Protocol):
    """Every method raises only errors from `app.payments.errors`: PaymentProviderUnavailable
    for a provider that is down (after retries), PaymentProviderError for a refusal nobody but
    a developer can fix, and the specific ones documented per method."""

    # Read-only properties, so each adapter may narrow them (`provider` is always "stripe" for
    # the Stripe adapter) while still satisfying the port.
    @property
    def provider(self) -> ProviderName: ...

    @property
    def publishable_key(self) -> str | None: ...

    async def create_intent(
        self, *, amount_cents: int, currency: str, order_id: str, idempotency_key: str
    ) -> PaymentIntent:
        """A new intent with metadata {"order_id": order_id}; the same idempotency key returns
        the same intent (for at least 24 hours)."""
        ...

    async def retrieve_intent(self, intent_id: str) -> PaymentIntent:
        """Raises PaymentIntentNotFound."""
        ...

    async def cancel_intent(self, intent_id: str) -> PaymentIntent:
        """Idempotent: an intent already canceled is returned as it is. Raises
        PaymentIntentNotCancelable once the payment succeeded (or is processing) and
        PaymentIntentNotFound."""
        ...

    async def refund(self, intent_id: str, *, idempotency_key: str) -> str:
        """Refunds the whole amount and returns the refund id, exactly once per intent: the same
        key, or a later call once the intent is refunded, returns the same refund. Raises
        PaymentIntentNotRefundable (not succeeded) and PaymentIntentNotFound."""
        ...

    async def close(self) -> None: ...
