"""The payment gateway behind a circuit breaker and a deadline, with latency metrics.

Whatever the adapter does inside (Stripe's adapter retries transient failures with backoff),
one call never takes longer than `deadline_seconds`: past it the call is abandoned and answers
PaymentProviderUnavailable (503 with Retry-After). Abandoning is safe because every call that
creates something carries an idempotency key, so the client's retry finds the same intent or
refund. After `threshold` such failures in a row the breaker opens and calls are refused at once
until the provider has had `reset_seconds` to recover.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from prometheus_client import Histogram

from app.payments.errors import PaymentProviderUnavailable
from app.payments.gateway import PaymentGateway, PaymentIntent, ProviderName
from app.platform.breakers import Breaker, Breakers

T = TypeVar("T")

PAYMENT_CALL_SECONDS = Histogram(
    "payment_provider_call_seconds",
    "Payment provider calls, by operation and outcome (ok or the error's name)",
    ["operation", "outcome"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)


def provider_down(exc: BaseException) -> bool:
    return isinstance(exc, PaymentProviderUnavailable)


class GuardedGateway:
    """A PaymentGateway that wraps another one; `inner` is the adapter itself."""

    def __init__(self, inner: PaymentGateway, breakers: Breakers, deadline_seconds: float) -> None:
        self.inner = inner
        self.breaker: Breaker = breakers.add("payments", provider_down, "The payment provider")
        self._deadline = deadline_seconds

    @property
    def provider(self) -> ProviderName:
        return self.inner.provider

    @property
    def publishable_key(self) -> str | None:
        return self.inner.publishable_key

    async def create_intent(
        self, *, amount_cents: int, currency: str, order_id: str, idempotency_key: str
    ) -> PaymentIntent:
        return await self._run(
            "create_intent",
            lambda: self.inner.create_intent(
                amount_cents=amount_cents,
                currency=currency,
                order_id=order_id,
                idempotency_key=idempotency_key,
            ),
        )

    async def retrieve_intent(self, intent_id: str) -> PaymentIntent:
        return await self._run("retrieve_intent", lambda: self.inner.retrieve_intent(intent_id))

    async def cancel_intent(self, intent_id: str) -> PaymentIntent:
        return await self._run("cancel_intent", lambda: self.inner.cancel_intent(intent_id))

    async def refund(self, intent_id: str, *, idempotency_key: str) -> str:
        return await self._run(
            "refund", lambda: self.inner.refund(intent_id, idempotency_key=idempotency_key)
        )

    async def close(self) -> None:
        await self.inner.close()

    async def _run(self, operation: str, call: Callable[[], Awaitable[T]]) -> T:
        started = time.perf_counter()
        outcome = "ok"
        try:
            return await self.breaker.call(lambda: self._within_deadline(call))
        except BaseException as exc:
            outcome = type(exc).__name__
            raise
        finally:
            PAYMENT_CALL_SECONDS.labels(operation, outcome).observe(time.perf_counter() - started)

    async def _within_deadline(self, call: Callable[[], Awaitable[T]]) -> T:
        try:
            async with asyncio.timeout(self._deadline):
                return await call()
        except TimeoutError:
            raise PaymentProviderUnavailable(
                f"The payment provider did not answer within {self._deadline:g} s; "
                "retry in a few seconds."
            ) from None
