"""Regression tests for what Schemathesis found (tests/fuzz/test_schemathesis.py), one each."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.checkout.test_api import checkout, hold
from tests.helpers import CONCERTS, buyer, concert_body, create_concert

API = "/api/v1"


def test_422_is_documented_as_it_is_sent(app: FastAPI) -> None:
    """The schema documented FastAPI's own 422 (`detail`: a list) while every 422 is
    `{error, detail, fields}`: response schema conformance failed on every invalid request."""
    schema = app.openapi()
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    body = schema["components"]["schemas"]["ValidationErrorBody"]
    assert set(body["required"]) == {"error", "detail"}
    assert body["properties"]["detail"]["type"] == "string"
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            unprocessable = operation["responses"].get("422")
            if unprocessable is not None:
                ref = unprocessable["content"]["application/json"]["schema"]["$ref"]
                assert ref.endswith("/ValidationErrorBody"), f"{method} {path}"


async def test_405_lists_every_method_of_the_path(client: httpx.AsyncClient) -> None:
    """FastAPI makes one route per method and Starlette's 405 named only the first one's
    methods: `OPTIONS /concerts/{id}` answered `Allow: GET` though PATCH works too."""
    for method, path, allowed in (
        ("OPTIONS", f"{CONCERTS}/x", "GET, PATCH"),
        ("PUT", f"{API}/holds/x", "GET, DELETE"),
        ("DELETE", CONCERTS, "GET, POST"),
        ("PUT", f"{CONCERTS}/x/queue", "GET, POST"),
    ):
        r = await client.request(method, path)
        assert r.status_code == 405
        assert r.headers["Allow"] == allowed
        assert r.json()["error"] == "MethodNotAllowed"


async def test_a_body_that_is_not_utf8_is_a_422(client: httpx.AsyncClient) -> None:
    """Invalid UTF-8 in a JSON body was a 400 no operation documented (FastAPI's "error
    parsing the body"); it is malformed JSON, the contract's 422 ValidationError."""
    r = await client.post(
        f"{API}/auth/login",
        content=b"\xee\x93\xaf\xa9",
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 422
    assert r.json()["error"] == "ValidationError"
    assert r.json()["fields"][0]["field"] == "body"


@pytest.mark.parametrize(
    "bound", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "0001-01-01T05:00:00+06:00"]
)
async def test_a_date_filter_out_of_utc_range_is_a_422(
    client: httpx.AsyncClient, bound: str
) -> None:
    """A datetime with no UTC equivalent (year 1 east of Greenwich) raised OverflowError: 500."""
    for name in ("date_from", "date_to"):
        r = await client.get(CONCERTS, params={name: bound})
        assert r.status_code == 422, r.text
        assert r.json()["fields"][0]["field"] == name


@pytest.mark.parametrize(
    "times",
    [
        {"on_sale_at": "0001-01-01T00:00:00+01:00", "starts_at": "0001-01-01T10:00:00+05:00"},
        {"on_sale_at": "2030-01-01T00:00:00Z", "starts_at": "9999-12-31T23:00:00-05:00"},
        {"on_sale_at": "1960-01-01T00:00:00Z", "starts_at": "2030-01-01T00:00:00Z"},
        {"on_sale_at": 0, "starts_at": "2030-01-01T00:00:00Z"},
        {"on_sale_at": "2029-01-01T00:00:00Z", "starts_at": 1900000000},
    ],
)
async def test_concert_times_must_be_real_times_as_text(
    client: httpx.AsyncClient, admin_headers: dict[str, str], times: dict[str, Any]
) -> None:
    """Out-of-range times were a 500 (OverflowError converting to UTC); numbers were taken as
    Unix times although the schema says ISO 8601 text (`on_sale_at: 0` made a concert on sale
    since 1970)."""
    r = await client.post(CONCERTS, json=concert_body(**times), headers=admin_headers)
    assert r.status_code == 422, r.text
    c = await create_concert(client, admin_headers)
    r = await client.patch(f"{CONCERTS}/{c['id']}", json=times, headers=admin_headers)
    assert r.status_code == 422, r.text


def test_the_webhook_documents_its_signature_header_and_body(app: FastAPI) -> None:
    """The route reads both itself, so FastAPI documented neither: clients (and Schemathesis'
    missing-header check) could not know a signature is required."""
    operation = app.openapi()["paths"][f"{API}/webhooks/stripe"]["post"]
    header = next(p for p in operation["parameters"] if p["name"] == "Stripe-Signature")
    assert header["in"] == "header"
    assert header["required"] is True
    event = operation["requestBody"]["content"]["application/json"]["schema"]
    assert set(event["required"]) == {"id", "type", "data"}


async def test_paying_a_cancelled_order_is_a_documented_409(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    """Found following the links checkout -> cancel -> pay: 409 PaymentIntentNotConfirmable was
    not among the simulated pay button's documented answers."""
    c = await create_concert(client, admin_headers)
    me = buyer(app)
    h = await hold(client, c["id"], me, ["balcony-A-4"])
    result = (await checkout(client, h["id"], me)).json()
    await client.post(f"{API}/orders/{result['order']['id']}/cancel", headers=me)
    intent = result["payment"]["payment_intent_id"]
    r = await client.post(
        f"{API}/payments/simulated/{intent}/confirm", json={"outcome": "succeeded"}, headers=me
    )
    assert r.status_code == 409
    assert r.json()["error"] == "PaymentIntentNotConfirmable"
    responses = app.openapi()["paths"][f"{API}/payments/simulated/{{payment_intent_id}}/confirm"]
    assert "409" in responses["post"]["responses"]


def test_a_hold_body_documents_either_seats_or_a_quantity(app: FastAPI) -> None:
    """The schema allowed `{}` and both at once, which the server refuses: now it says so
    (and that seat ids are unique and at most 100 characters)."""
    body = app.openapi()["components"]["schemas"]["HoldCreate"]
    assert [set(branch["required"]) for branch in body["anyOf"]] == [{"seat_ids"}, {"quantity"}]
    seat_ids = body["properties"]["seat_ids"]
    assert seat_ids["uniqueItems"] is True
    assert seat_ids["anyOf"][0]["items"]["maxLength"] == 100
