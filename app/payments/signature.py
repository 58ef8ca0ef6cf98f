"""Stripe's webhook signature scheme, for verifying Stripe's events and signing simulated ones.

    Stripe-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>[,v1=...]

Several `v1` entries appear while a webhook secret is being rolled (one per live secret), and
other schemes (`v0`) may be present; one matching `v1` is enough. The key is the whole secret
string, `whsec_` prefix included, exactly as Stripe and its SDK use it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

from app.payments.errors import InvalidPayload, InvalidSignature

__all__ = ["DEFAULT_TOLERANCE_SECONDS", "sign", "verify"]

DEFAULT_TOLERANCE_SECONDS = 300  # Stripe's own default


def _digest(payload: bytes, secret: str, timestamp: int) -> str:
    signed = f"{timestamp}.".encode() + payload
    return hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def sign(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """The `Stripe-Signature` header value for `payload` (the exact bytes that will be sent)."""
    ts = int(time.time()) if timestamp is None else timestamp
    return f"t={ts},v1={_digest(payload, secret, ts)}"


def _parse(header: str) -> tuple[int, list[str]]:
    timestamp: int | None = None
    signatures: list[str] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            raise InvalidSignature("The Stripe-Signature header is malformed.")
        if key == "t":
            # Bounded length: int() of thousands of digits is slow (and refused past 4300).
            # Digits only, and few: int() of thousands of digits is slow (refused past 4300).
            valid = value.isascii() and value.isdigit() and len(value) <= 12
            if timestamp is not None or not valid:
                raise InvalidSignature("The Stripe-Signature header has a bad timestamp.")
            timestamp = int(value)
        elif key == "v1":
            signatures.append(value)
    if timestamp is None:
        raise InvalidSignature("The Stripe-Signature header has no timestamp.")
    if not signatures:
        raise InvalidSignature("The Stripe-Signature header has no v1 signature.")
    return timestamp, signatures


def verify(
    payload: bytes,
    header: str | None,
    secret: str,
    *,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
    now: int | None = None,
) -> dict[str, Any]:
    """The event in `payload`, once its signature is proven.

    Raises InvalidSignature (no or malformed header, no matching v1, or a timestamp more than
    `tolerance` seconds away from now in either direction: a replayed old event, or one signed
    with a clock far ahead) and then, only for a correctly signed body, InvalidPayload (not a
    JSON object with string `id` and `type` and an object `data.object`).
    """
    if not header:
        raise InvalidSignature("The Stripe-Signature header is missing.")
    timestamp, candidates = _parse(header)
    current = int(time.time()) if now is None else now
    if abs(current - timestamp) > tolerance:
        raise InvalidSignature("The Stripe-Signature timestamp is outside the tolerance window.")
    expected = _digest(payload, secret, timestamp).encode("ascii")
    # compare_digest on bytes: constant time, and no TypeError for a non-ASCII header value.
    # Every candidate is compared (no early exit), so timing says nothing about which matched.
    matched = False
    for candidate in candidates:
        matched |= hmac.compare_digest(expected, candidate.encode("utf-8", "replace"))
    if not matched:
        raise InvalidSignature("No Stripe-Signature v1 signature matches the body.")
    return _event(payload)


def _event(payload: bytes) -> dict[str, Any]:
    try:
        event = json.loads(payload)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise InvalidPayload("The webhook body is not valid UTF-8 JSON.") from exc
    if not isinstance(event, dict):
        raise InvalidPayload("The webhook body is not a JSON object.")
    for name in ("id", "type"):
        value = event.get(name)
        if not isinstance(value, str) or not value:
            raise InvalidPayload(f"The webhook event has no string `{name}`.")
    data = event.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("object"), dict):
        raise InvalidPayload("The webhook event has no `data.object` object.")
    return event
