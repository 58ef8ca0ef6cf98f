"""Builds the payment gateway once, in the lifespan, from PAYMENT_PROVIDER."""

from __future__ import annotations

from app.payments.gateway import PaymentGateway
from app.payments.simulated import SimulatedGateway
from app.payments.stripe_gateway import StripeGateway
from app.platform.redis import RedisClient
from app.settings import Settings

__all__ = ["build_gateway"]


def build_gateway(settings: Settings, redis: RedisClient) -> PaymentGateway:
    """The adapter named by `settings.payment_provider`. Raises ValueError for `stripe` without
    STRIPE_SECRET_KEY (prod refuses that at settings time already; dev and test get it here)."""
    if settings.payment_provider == "stripe":
        return StripeGateway.from_settings(settings)
    return SimulatedGateway(redis)
