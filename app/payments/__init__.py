"""Payments: the PaymentGateway port, its Stripe and simulated adapters, webhook signatures."""

from app.payments.gateway import PaymentGateway, PaymentIntent, ProviderName

__all__ = ["PaymentGateway", "PaymentIntent", "ProviderName"]
