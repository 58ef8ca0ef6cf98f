"""API3:2023 Broken Object Property Level Authorization: no field a client may not set can be
smuggled into a body (mass assignment), and responses carry no property the caller should not
see.

Every request body refuses unknown fields (app/schemas.py, `RequestBody`: extra="forbid"):
`test_every_request_body_refuses_unknown_fields` checks that in the OpenAPI schema, nested
objects included, so a body model that forgets to derive from RequestBody fails here.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.checkout.test_api import checkout, hold
from tests.conftest import Account, unique_email
from tests.helpers import CONCERTS, buyer, concert_body, create_concert

API = "/api/v1"


def _objects(schema: dict[str, Any], components: dict[str, Any]) -> list[tuple[str, Any]]:
    """Every object schema reachable from `schema`, with a name for messages."""
    out: list[tuple[str, Any]] = []
    pending: list[tuple[str, Any]] = [("body", schema)]
    seen: set[str] = set()
    while pending:
        name, node = pending.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                target = ref.rsplit("/", 1)[-1]
                if target not in seen:
                    seen.add(target)
                    pending.append((target, components[target]))
                continue
            if node.get("type") == "object":  # a model, not an anyOf branch of one
                out.append((name, node))
            pending.extend((name, v) for v in node.values())
        elif isinstance(node, list):
            pending.extend((name, v) for v in node)
    return out


def test_every_request_body_refuses_unknown_fields(app: FastAPI) -> None:
    schema = app.openapi()
    components = schema["components"]["schemas"]
    open_bodies = []
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            content = operation.get("requestBody", {}).get("content", {})
            json_body = content.get("application/json")
            if json_body is None or path.endswith("/webhooks/stripe"):
                continue  # the webhook's body is Stripe's event, read as it comes
            for name, obj in _objects(json_body["schema"], components):
                if obj.get("additionalProperties") is not False:
                    open_bodies.append(f"{method.upper()} {path}: {name}")
    assert open_bodies == [], "request bodies that accept unknown fields"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("status", "confirmed"),
        ("price_cents", 1),
        ("amount_cents", 1),
        ("user_id", "someone-else"),
        ("id", "my-own-hold-id"),
        ("expires_at", "2099-01-01T00:00:00Z"),
        ("concert_id", "another-concert"),
    ],
)
async def test_holds_refuse_fields_the_server_decides(
    client: httpx.AsyncClient,
    app: FastAPI,
    admin_headers: dict[str, str],
    field: str,
    value: Any,
) -> None:
    c = await create_concert(client, admin_headers)
    me = buyer(app)
    r = await client.post(
        f"{CONCERTS}/{c['id']}/holds", json={"seat_ids": ["floor-A-1"], field: value}, headers=me
    )
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "ValidationError"
    assert field in [f["field"] for f in r.json()["fields"]]
    seats = (await client.get(f"{CONCERTS}/{c['id']}/seats")).json()
    assert seats["counts"]["held"] == 0, "a refused hold held nothing"


@pytest.mark.parametrize(
    "extra",
    [{"role": "admin"}, {"id": "chosen-id"}, {"user_id": "u1"}, {"status": "active"}],
)
async def test_signup_refuses_role_and_ids(
    client: httpx.AsyncClient, extra: dict[str, str]
) -> None:
    body = {"email": unique_email(), "password": "long-enough-1", "name": "Eve", **extra}
    r = await client.post(f"{API}/auth/signup", json=body)
    assert r.status_code == 422, r.text
    # Nothing was created: the same email signs up fine without the extra field, with another
    # password (the same one would log in an account created moments ago: signup is retryable).
    fresh = {"email": body["email"], "password": "another-password-2", "name": "Eve"}
    ok = await client.post(f"{API}/auth/signup", json=fresh)
    assert ok.status_code == 201
    assert ok.json()["user"]["role"] == "user"


@pytest.mark.parametrize(
    "extra",
    [{"status": "confirmed"}, {"user_id": "u1"}, {"amount_cents": 1}, {"seat_ids": ["x"]}],
)
async def test_checkout_refuses_fields_the_server_decides(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str], extra: dict[str, Any]
) -> None:
    c = await create_concert(client, admin_headers)
    me = buyer(app)
    h = await hold(client, c["id"], me, ["floor-A-2"])
    r = await client.post(f"{API}/checkout", json={"hold_id": h["id"], **extra}, headers=me)
    assert r.status_code == 422, r.text
    assert (await checkout(client, h["id"], me)).json()["order"]["amount_cents"] == 5000


@pytest.mark.parametrize(
    "extra",
    [{"id": "chosen"}, {"status": "on_sale"}, {"seats_available": 0}, {"price_range": {}}],
)
async def test_concert_bodies_refuse_computed_fields(
    client: httpx.AsyncClient, admin_headers: dict[str, str], extra: dict[str, Any]
) -> None:
    r = await client.post(CONCERTS, json=concert_body(**extra), headers=admin_headers)
    assert r.status_code == 422, r.text
    c = await create_concert(client, admin_headers)
    r = await client.patch(f"{CONCERTS}/{c['id']}", json=extra, headers=admin_headers)
    assert r.status_code == 422, r.text


async def test_the_simulated_pay_button_takes_no_amount(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    c = await create_concert(client, admin_headers)
    me = buyer(app)
    h = await hold(client, c["id"], me, ["floor-A-3"])
    intent = (await checkout(client, h["id"], me)).json()["payment"]["payment_intent_id"]
    r = await client.post(
        f"{API}/payments/simulated/{intent}/confirm",
        json={"outcome": "succeeded", "amount": 1},
        headers=me,
    )
    assert r.status_code == 422, r.text


async def test_responses_expose_no_internal_properties(
    client: httpx.AsyncClient, user: Account, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    """What a buyer reads about themselves and their orders is the contract's fields, no more:
    no password hash, no other buyer's id, no order version or history."""
    me = await client.get(f"{API}/auth/me", headers=user.headers)
    assert set(me.json()) == {"id", "email", "name", "role", "email_verified", "email_verified_at"}
    assert "password" not in me.text
    c = await create_concert(client, admin_headers)
    h = await hold(client, c["id"], user.headers, ["balcony-A-1"])
    body = (await checkout(client, h["id"], user.headers)).json()
    assert set(body["order"]) == {
        "id",
        "concert_id",
        "seat_ids",
        "amount_cents",
        "currency",
        "status",
        "created_at",
        "expires_at",
        "payment_intent_id",
        "tickets",
        "tickets_given",
    }
    payment_fields = {
        "provider",
        "payment_intent_id",
        "client_secret",
        "publishable_key",
        "confirm_path",
    }
    assert set(body["payment"]) <= payment_fields
    resumed = await client.get(f"{API}/orders/{body['order']['id']}/payment", headers=user.headers)
    assert set(resumed.json()) <= payment_fields
    seat_map = await client.get(f"{CONCERTS}/{c['id']}/seats")
    assert user.id not in seat_map.text, "the public seat map names who holds what"
