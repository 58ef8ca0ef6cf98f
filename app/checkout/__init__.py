"""Checkout: orders, the purchase state machine, payment outcomes, tickets."""
