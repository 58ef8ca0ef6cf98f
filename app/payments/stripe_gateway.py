"""The Stripe adapter: the official SDK, async, with one retry policy of our own.

Every call goes through `_call`: at most `attempts` tries, exponential backoff with full jitter,
and only for failures that a retry can fix (connection errors and timeouts, 429, 5xx). Requests
that create something carry the caller's idempotency key on every attempt, so a retry after a
lost response can never create a second intent or a second refund. The SDK's own retries stay
off: two retry layers would multiply attempts and hide the count.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal, TypeVar

import stripe
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from app.errors import AppError
from app.payments.errors import (
    PaymentIntentNotCancelable,
    PaymentIntentNotFound,
    PaymentIntentNotRefundable,
    PaymentProviderError,
    PaymentProviderUnavailable,
)
from app.payments.gateway import PaymentIntent
from app.settings import Settings

__all__ = ["StripeGateway"]

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_ATTEMPTS = 3
# Statuses from which Stripe refuses to cancel: the money is moving or has moved.
_NOT_CANCELABLE = frozenset({"succeeded", "processing"})
# A refund in one of these states counts as "the" refund of an intent.
_LIVE_REFUND = frozenset({"succeeded", "pending", "requires_action"})


class _HTTPXClient(stripe.HTTPXClient):
    """stripe.HTTPXClient, sending a POST's form-encoded body as `content=`.

    The SDK passes the already encoded string as `data=`, which httpx deprecates with a
    DeprecationWarning on every POST (as of stripe 16.1 / httpx 0.28). Under warnings-as-errors
    the SDK's blanket `except Exception` then reports every POST as a connection error."""

    def _get_request_args_kwargs(
        self, method: str, url: str, headers: Mapping[str, str], post_data: Any
    ) -> Any:
        args, kwargs = super()._get_request_args_kwargs(method, url, headers, post_data)
        if isinstance(kwargs.get("data"), str | bytes):
            kwargs["content"] = kwargs.pop("data")
        return args, kwargs


def _header(exc: stripe.StripeError, name: str) -> str | None:
    for key, value in (exc.headers or {}).items():
        if key.lower() == name:
            return value
    return None


def is_transient(exc: BaseException) -> bool:
    """A failure on the provider's side: unreachable, too slow, rate limiting, or failing (5xx).
    A 4xx (card declined, invalid request, bad key) is an answer."""
    if isinstance(exc, stripe.APIConnectionError):  # refused, reset, DNS, timeouts
        return True
    if not isinstance(exc, stripe.StripeError) or exc.http_status is None:
        return False
    return exc.http_status == 429 or exc.http_status >= 500


def _worth_retrying(exc: BaseException) -> bool:
    # Stripe marks some 5xx `Stripe-Should-Retry: false`: its idempotency layer would replay
    # the very same error to another attempt with the same key.
    if isinstance(exc, stripe.StripeError) and _header(exc, "stripe-should-retry") == "false":
        return False
    return is_transient(exc)


def _log_retry(state: RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome else None
    log.warning(
        "stripe call failed, retrying",
        extra={
            "attempt": state.attempt_number,
            "error": type(exc).__name__,
            "http_status": getattr(exc, "http_status", None),
        },
    )


def _to_intent(pi: stripe.PaymentIntent) -> PaymentIntent:
    metadata = pi.metadata.to_dict() if pi.metadata is not None else {}
    return PaymentIntent(
        id=pi.id,
        client_secret=pi.client_secret or "",
        status=pi.status,
        amount_cents=pi.amount,
        currency=pi.currency,
        metadata={str(k): str(v) for k, v in metadata.items()},
    )


class StripeGateway:
    """PaymentGateway over the Stripe API (or a Stripe-compatible server at `api_base`)."""

    def __init__(
        self,
        *,
        api_key: str,
        publishable_key: str | None = None,
        api_base: str | None = None,
        timeout_seconds: float = 10.0,
        attempts: int = DEFAULT_ATTEMPTS,
        backoff_initial_seconds: float = 0.25,
        backoff_max_seconds: float = 2.0,
    ) -> None:
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        self._publishable_key = publishable_key
        self._http = _HTTPXClient(timeout=timeout_seconds)
        self._client = stripe.StripeClient(
            api_key,
            http_client=self._http,
            base_addresses={"api": api_base} if api_base else None,
            max_network_retries=0,
        )
        # A template, copied per call: tenacity keeps a call's state on the instance.
        self._retrying = AsyncRetrying(
            stop=stop_after_attempt(attempts),
            wait=wait_random_exponential(
                multiplier=backoff_initial_seconds, max=backoff_max_seconds
            ),
            retry=retry_if_exception(_worth_retrying),
            before_sleep=_log_retry,
            reraise=True,
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> StripeGateway:
        if settings.stripe_secret_key is None or not settings.stripe_secret_key.get_secret_value():
            raise ValueError("PAYMENT_PROVIDER=stripe needs STRIPE_SECRET_KEY.")
        return cls(
            api_key=settings.stripe_secret_key.get_secret_value(),
            publishable_key=settings.stripe_publishable_key,
            api_base=settings.stripe_api_base,
            timeout_seconds=settings.stripe_timeout_seconds,
        )

    @property
    def provider(self) -> Literal["stripe"]:
        return "stripe"

    @property
    def publishable_key(self) -> str | None:
        return self._publishable_key

    @property
    def client(self) -> stripe.StripeClient:
        """The SDK client, for what the port does not cover (tests confirm payments with it)."""
        return self._client

    async def create_intent(
        self, *, amount_cents: int, currency: str, order_id: str, idempotency_key: str
    ) -> PaymentIntent:
        if amount_cents <= 0:
            raise ValueError("amount_cents must be positive")
        try:
            pi = await self._call(
                lambda: self._client.v1.payment_intents.create_async(
                    {
                        "amount": amount_cents,
                        "currency": currency.lower(),
                        "metadata": {"order_id": order_id},
                        # No payment method parameter: Stripe's default, automatic payment
                        # methods (those enabled in the dashboard, shown by the Payment
                        # Element). The SDK's API version has no `payment_method_types` on
                        # create, and localstripe refuses `automatic_payment_methods`.
                    },
                    {"idempotency_key": idempotency_key},
                )
            )
        except stripe.StripeError as exc:
            raise self._translate(exc) from exc
        return _to_intent(pi)

    async def retrieve_intent(self, intent_id: str) -> PaymentIntent:
        try:
            pi = await self._call(lambda: self._client.v1.payment_intents.retrieve_async(intent_id))
        except stripe.StripeError as exc:
            raise self._translate(exc, intent_id) from exc
        return _to_intent(pi)

    async def cancel_intent(self, intent_id: str) -> PaymentIntent:
        try:
            pi = await self._call(lambda: self._client.v1.payment_intents.cancel_async(intent_id))
        except stripe.InvalidRequestError as exc:
            if exc.http_status != 400:
                raise self._translate(exc, intent_id) from exc
            # Stripe refuses to cancel a canceled intent (payment_intent_unexpected_state) as
            # it refuses a succeeded one; only the intent itself tells the two apart.
            current = await self.retrieve_intent(intent_id)
            if current.status == "canceled":
                return current
            if current.status in _NOT_CANCELABLE:
                raise PaymentIntentNotCancelable() from exc
            raise self._translate(exc, intent_id) from exc
        except stripe.StripeError as exc:
            raise self._translate(exc, intent_id) from exc
        return _to_intent(pi)

    async def refund(self, intent_id: str, *, idempotency_key: str) -> str:
        try:
            refund = await self._call(
                lambda: self._client.v1.refunds.create_async(
                    {"payment_intent": intent_id}, {"idempotency_key": idempotency_key}
                )
            )
        except stripe.InvalidRequestError as exc:
            if exc.http_status != 400:
                raise self._translate(exc, intent_id) from exc
            if exc.code == "charge_already_refunded":
                # Refunded before under another key, or this key expired (Stripe keeps them
                # 24 h): the refund that exists is the answer.
                existing = await self._existing_refund(intent_id)
                if existing is not None:
                    return existing
            current = await self.retrieve_intent(intent_id)
            if current.status != "succeeded":
                raise PaymentIntentNotRefundable() from exc
            raise self._translate(exc, intent_id) from exc
        except stripe.StripeError as exc:
            raise self._translate(exc, intent_id) from exc
        return refund.id

    async def close(self) -> None:
        await self._http.close_async()  # type: ignore[no-untyped-call]

    async def _existing_refund(self, intent_id: str) -> str | None:
        try:
            refunds = await self._call(
                lambda: self._client.v1.refunds.list_async({"payment_intent": intent_id})
            )
        except stripe.StripeError as exc:
            raise self._translate(exc, intent_id) from exc
        return next((r.id for r in refunds.data if r.status in _LIVE_REFUND), None)

    async def _call(self, request: Callable[[], Awaitable[T]]) -> T:
        """`request()` under the retry policy; the last error is re-raised as it is."""
        async for attempt in self._retrying.copy():
            with attempt:
                return await request()
        raise AssertionError("unreachable: tenacity re-raises the last error (reraise=True)")

    def _translate(self, exc: stripe.StripeError, intent_id: str | None = None) -> AppError:
        if is_transient(exc):
            log.warning(
                "stripe unavailable, giving up",
                extra={"error": type(exc).__name__, "http_status": exc.http_status},
            )
            return PaymentProviderUnavailable()
        if intent_id is not None and exc.http_status == 404:
            return PaymentIntentNotFound()
        log.error(
            "stripe refused a request",
            extra={
                "error": type(exc).__name__,
                "http_status": exc.http_status,
                "code": exc.code,
                "stripe_request_id": exc.request_id,
                "stripe_message": exc.user_message,
            },
        )
        return PaymentProviderError()
