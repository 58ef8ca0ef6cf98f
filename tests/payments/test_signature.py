"""Stripe-format webhook signatures: our sign/verify, and agreement with the official SDK."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import stripe

from app.payments.errors import InvalidPayload, InvalidSignature
from app.payments.signature import sign, verify

SECRET = "whsec_test_0123456789abcdef"
NOW = 1_750_000_000


def _event(**overrides: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "id": "evt_123",
        "object": "event",
        "type": "payment_intent.succeeded",
        "data": {"object": {"id": "pi_123", "object": "payment_intent"}},
    }
    event.update(overrides)
    return event


PAYLOAD = json.dumps(_event()).encode()


def test_round_trip_returns_the_event() -> None:
    header = sign(PAYLOAD, SECRET, timestamp=NOW)
    assert header.startswith(f"t={NOW},v1=")
    assert verify(PAYLOAD, header, SECRET, now=NOW) == _event()


def test_default_timestamp_is_now() -> None:
    header = sign(PAYLOAD, SECRET)
    signed_at = int(header.split(",")[0].removeprefix("t="))
    assert abs(signed_at - int(time.time())) <= 2
    assert verify(PAYLOAD, header, SECRET)["id"] == "evt_123"


def test_tampered_body_is_refused() -> None:
    header = sign(PAYLOAD, SECRET, timestamp=NOW)
    tampered = PAYLOAD.replace(b"evt_123", b"evt_124")
    with pytest.raises(InvalidSignature, match="matches"):
        verify(tampered, header, SECRET, now=NOW)


def test_wrong_secret_is_refused() -> None:
    header = sign(PAYLOAD, "whsec_someone_else", timestamp=NOW)
    with pytest.raises(InvalidSignature, match="matches"):
        verify(PAYLOAD, header, SECRET, now=NOW)


@pytest.mark.parametrize("offset", [-301, 301, -10_000, 10_000])
def test_timestamps_outside_the_tolerance_are_refused(offset: int) -> None:
    # Negative: signed 301 s ago (a replay); positive: signed in the future.
    header = sign(PAYLOAD, SECRET, timestamp=NOW + offset)
    with pytest.raises(InvalidSignature, match="tolerance"):
        verify(PAYLOAD, header, SECRET, now=NOW)


@pytest.mark.parametrize("offset", [-300, 0, 300])
def test_timestamps_at_the_tolerance_edge_are_accepted(offset: int) -> None:
    header = sign(PAYLOAD, SECRET, timestamp=NOW + offset)
    assert verify(PAYLOAD, header, SECRET, now=NOW)["id"] == "evt_123"


def test_tolerance_is_configurable() -> None:
    header = sign(PAYLOAD, SECRET, timestamp=NOW - 20)
    assert verify(PAYLOAD, header, SECRET, tolerance=20, now=NOW)["id"] == "evt_123"
    with pytest.raises(InvalidSignature, match="tolerance"):
        verify(PAYLOAD, header, SECRET, tolerance=19, now=NOW)


@pytest.mark.parametrize("header", [None, ""])
def test_missing_header_is_refused(header: str | None) -> None:
    with pytest.raises(InvalidSignature, match="missing"):
        verify(PAYLOAD, header, SECRET, now=NOW)


def _v1() -> str:
    return sign(PAYLOAD, SECRET, timestamp=NOW).split(",")[1]


@pytest.mark.parametrize(
    "header",
    [
        "garbage",
        "t=,v1=abc",
        "t=abc,v1=abc",
        "t=-5,v1=abc",
        "t=1e9,v1=abc",
        "t=١٧٥٠٠٠٠٠٠٠,v1=abc",  # digits, but not ASCII ones
        "t=" + "9" * 5000 + ",v1=abc",
        f"t={NOW},t={NOW},v1=abc",
        "v1=abc",
        f"t={NOW}",
        f"t={NOW},v0=abc",
        f"t={NOW},,v1=abc",
    ],
)
def test_malformed_headers_are_refused(header: str) -> None:
    with pytest.raises(InvalidSignature):
        verify(PAYLOAD, header, SECRET, now=NOW)


def test_malformed_header_with_a_valid_signature_is_still_refused() -> None:
    # The valid v1 is there, but the timestamp is not a number: nothing is guessed.
    with pytest.raises(InvalidSignature, match="timestamp"):
        verify(PAYLOAD, f"t=now,{_v1()}", SECRET, now=NOW)


def test_any_matching_v1_among_several_is_enough() -> None:
    good = _v1()
    wrong = "v1=" + "0" * 64
    header = f"t={NOW},{wrong},v0=deadbeef,{good},v1=not-hex-é"
    assert verify(PAYLOAD, header, SECRET, now=NOW)["id"] == "evt_123"
    # Order does not matter, and spaces after commas are tolerated.
    assert verify(PAYLOAD, f"{good}, {wrong}, t={NOW}", SECRET, now=NOW)["id"] == "evt_123"


def test_only_v1_counts() -> None:
    signature = _v1().removeprefix("v1=")
    with pytest.raises(InvalidSignature, match="no v1"):
        verify(PAYLOAD, f"t={NOW},v0={signature}", SECRET, now=NOW)


def test_non_ascii_signature_is_refused_not_crashing() -> None:
    with pytest.raises(InvalidSignature, match="matches"):
        verify(PAYLOAD, f"t={NOW},v1=é{'0' * 63}", SECRET, now=NOW)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"not json", "JSON"),
        (b"\xff\xfe{}", "JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "JSON"),
        (b"[1, 2]", "object"),
        (b'"evt_123"', "object"),
        (json.dumps({k: v for k, v in _event().items() if k != "id"}).encode(), "`id`"),
        (json.dumps(_event(id=123)).encode(), "`id`"),
        (json.dumps(_event(id="")).encode(), "`id`"),
        (json.dumps({k: v for k, v in _event().items() if k != "type"}).encode(), "`type`"),
        (json.dumps(_event(type=None)).encode(), "`type`"),
        (json.dumps(_event(data=None)).encode(), "data.object"),
        (json.dumps(_event(data={})).encode(), "data.object"),
        (json.dumps(_event(data={"object": "pi_123"})).encode(), "data.object"),
    ],
)
def test_signed_bodies_that_are_not_events_are_invalid_payloads(
    payload: bytes, message: str
) -> None:
    header = sign(payload, SECRET, timestamp=NOW)
    with pytest.raises(InvalidPayload, match=message):
        verify(payload, header, SECRET, now=NOW)


def test_signature_is_checked_before_the_payload() -> None:
    # An unsigned body is never parsed: the answer is about the signature.
    with pytest.raises(InvalidSignature):
        verify(b"not json", sign(b"something else", SECRET, timestamp=NOW), SECRET, now=NOW)


def test_errors_are_400s_named_as_the_api_says() -> None:
    assert (InvalidSignature.status_code, InvalidPayload.status_code) == (400, 400)
    assert InvalidSignature().body()["error"] == "InvalidSignature"
    assert InvalidPayload().body()["error"] == "InvalidPayload"


# --- agreement with the official SDK ------------------------------------------------------


def test_our_header_is_the_sdks_header() -> None:
    ours = sign(PAYLOAD, SECRET, timestamp=NOW)
    sdk = stripe.WebhookSignature.generate_signature_header(PAYLOAD.decode(), SECRET, NOW)
    assert ours == sdk


def test_the_sdk_accepts_what_we_sign() -> None:
    header = sign(PAYLOAD, SECRET)
    event = stripe.Webhook.construct_event(PAYLOAD, header, SECRET)
    assert (event.id, event.type) == ("evt_123", "payment_intent.succeeded")
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(PAYLOAD, header, "whsec_someone_else")


def test_we_accept_what_the_sdk_signs() -> None:
    header = stripe.WebhookSignature.generate_signature_header(PAYLOAD.decode(), SECRET)
    assert verify(PAYLOAD, header, SECRET) == _event()
    with pytest.raises(InvalidSignature):
        verify(PAYLOAD, header, "whsec_someone_else")


def test_non_ascii_body_signs_the_same_bytes_as_the_sdk() -> None:
    payload = json.dumps(_event(id="evt_é✓"), ensure_ascii=False).encode()
    header = sign(payload, SECRET, timestamp=NOW)
    assert header == stripe.WebhookSignature.generate_signature_header(
        payload.decode(), SECRET, NOW
    )
    assert verify(payload, header, SECRET, now=NOW)["id"] == "evt_é✓"
