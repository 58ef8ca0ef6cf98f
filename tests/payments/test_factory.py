"""build_gateway picks the adapter named by PAYMENT_PROVIDER."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from app.payments.factory import build_gateway
from app.payments.simulated import SimulatedGateway
from app.payments.stripe_gateway import StripeGateway
from app.platform.redis import RedisClient
from app.settings import Settings


async def test_simulated_is_the_default(redis: RedisClient) -> None:
    gateway = build_gateway(Settings(app_env="test", payment_provider="simulated"), redis)
    assert isinstance(gateway, SimulatedGateway)
    assert (gateway.provider, gateway.publishable_key) == ("simulated", None)
    await gateway.close()


async def test_stripe(redis: RedisClient) -> None:
    settings = Settings(
        app_env="test",
        payment_provider="stripe",
        stripe_secret_key=SecretStr("sk_test_x"),
        stripe_publishable_key="pk_test_x",
        stripe_api_base="http://127.0.0.1:1",
    )
    gateway = build_gateway(settings, redis)
    assert isinstance(gateway, StripeGateway)
    assert (gateway.provider, gateway.publishable_key) == ("stripe", "pk_test_x")
    await gateway.close()


def test_stripe_without_a_secret_key_is_refused(redis: RedisClient) -> None:
    settings = Settings(app_env="test", payment_provider="stripe", stripe_secret_key=None)
    with pytest.raises(ValueError, match="STRIPE_SECRET_KEY"):
        build_gateway(settings, redis)
