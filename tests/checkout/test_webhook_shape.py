"""Correctly signed webhook events whose object is malformed are 400 `InvalidPayload`, never a
5xx, and change nothing: the order stays as it was and the event id is not recorded, so the
well-formed event with that id is still applied when it comes.

Before: `metadata: "x"` answered 500 (a string has no `.get`), `metadata.order_id: ["a"]` 503
("database is not answering": the list went to the store as an order id).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.payments.signature import sign
from tests.helpers import CONCERTS, buyer, container_of, create_concert

API = "/api/v1"
Obj = dict[str, Any]


def intent(intent_id: str, order_id: str) -> Obj:
    return {
        "id": intent_id,
        "object": "payment_intent",
        "status": "succeeded",
        "metadata": {"order_id": order_id},
    }


def charge(intent_id: str, _order_id: str) -> Obj:
    return {"id": "ch_x", "object": "charge", "payment_intent": intent_id, "refunded": True}


def changed(base: Callable[[str, str], Obj], **fields: Any) -> Callable[[str, str], Obj]:
    """`base`'s object with `fields` replaced (a value of `...` removes the field)."""

    def build(intent_id: str, order_id: str) -> Obj:
        obj = base(intent_id, order_id)
        for name, value in fields.items():
            if value is ...:
                obj.pop(name)
            else:
                obj[name] = value
        return obj

    return build


SUCCEEDED = "payment_intent.succeeded"
MALFORMED: dict[str, tuple[str, Callable[[str, str], Obj]]] = {
    "metadata is a string": (SUCCEEDED, changed(intent, metadata="x")),
    "metadata is a list": (SUCCEEDED, changed(intent, metadata=["order_id"])),
    "order_id is a list": (SUCCEEDED, changed(intent, metadata={"order_id": ["a"]})),
    "order_id is a number": (SUCCEEDED, changed(intent, metadata={"order_id": 5})),
    "order_id is empty": (SUCCEEDED, changed(intent, metadata={"order_id": ""})),
    "order_id is too long": (SUCCEEDED, changed(intent, metadata={"order_id": "o" * 5000})),
    "another metadata value is an object": (
        SUCCEEDED,
        lambda i, o: changed(intent, metadata={"order_id": o, "note": {"a": 1}})(i, o),
    ),
    "intent id is missing": (SUCCEEDED, changed(intent, id=...)),
    "intent id is a number": (SUCCEEDED, changed(intent, id=12)),
    "intent id is empty": (SUCCEEDED, changed(intent, id="")),
    "intent id is too long": (SUCCEEDED, changed(intent, id="pi_" + "x" * 1000)),
    "failed, metadata is a string": (
        "payment_intent.payment_failed",
        changed(intent, metadata="x"),
    ),
    "canceled, order_id is a list": (
        "payment_intent.canceled",
        changed(intent, metadata={"order_id": ["a"]}),
    ),
    "refund, payment_intent is a number": ("charge.refunded", changed(charge, payment_intent=5)),
    "refund, payment_intent is a list": ("charge.refunded", changed(charge, payment_intent=["p"])),
    "refund, payment_intent is empty": ("charge.refunded", changed(charge, payment_intent="")),
    "refund, refunded is a string": ("charge.refunded", changed(charge, refunded="true")),
    "refund, refunded is missing": ("charge.refunded", changed(charge, refunded=...)),
}


def event(kind: str, obj: Obj, event_id: str) -> bytes:
    body = {"id": event_id, "object": "event", "type": kind, "created": int(time.time())}
    return json.dumps({**body, "data": {"object": obj}}).encode()


async def deliver(client: httpx.AsyncClient, app: FastAPI, payload: bytes) -> httpx.Response:
    secret = container_of(app).settings.webhook_secret
    headers = {"Stripe-Signature": sign(payload, secret), "Content-Type": "application/json"}
    return await client.post(f"{API}/webhooks/stripe", content=payload, headers=headers)


async def pending_order(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
) -> tuple[dict[str, Any], dict[str, str], str]:
    c = await create_concert(client, admin_headers)
    me = buyer(app)
    h = await client.post(
        f"{CONCERTS}/{c['id']}/holds", json={"seat_ids": ["floor-A-1"]}, headers=me
    )
    assert h.status_code == 201, h.text
    r = await client.post(f"{API}/checkout", json={"hold_id": h.json()["id"]}, headers=me)
    assert r.status_code == 201, r.text
    return r.json()["order"], me, c["id"]


async def status_of(client: httpx.AsyncClient, order_id: str, me: dict[str, str]) -> str:
    r = await client.get(f"{API}/orders/{order_id}", headers=me)
    assert r.status_code == 200, r.text
    return str(r.json()["status"])


@pytest.mark.parametrize("case", sorted(MALFORMED))
async def test_a_signed_but_malformed_event_is_400_and_changes_nothing(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str], case: str
) -> None:
    order, me, concert_id = await pending_order(client, app, admin_headers)
    kind, build = MALFORMED[case]
    event_id = f"evt_shape_{uuid.uuid4().hex}"
    malformed = event(kind, build(order["payment_intent_id"], order["id"]), event_id)

    r = await deliver(client, app, malformed)

    assert r.status_code == 400, r.text
    assert r.json()["error"] == "InvalidPayload"
    assert f"`{kind}`" in r.json()["detail"]
    assert "data.object" in r.json()["detail"]
    assert await status_of(client, order["id"], me) == "pending_payment"
    assert await container_of(app).store.sales.sold_seats(concert_id) == {}
    # Not recorded as processed: the well-formed event with the same id is still applied.
    good = event(SUCCEEDED, intent(order["payment_intent_id"], order["id"]), event_id)
    assert (await deliver(client, app, good)).status_code == 200
    assert await status_of(client, order["id"], me) == "confirmed"


@pytest.mark.parametrize(
    ("kind", "obj"),
    [
        ("customer.created", {"id": 5, "metadata": "x"}),  # a type we do not act on
        ("payment_intent.created", {"metadata": ["x"]}),  # nor this one
        ("charge.refunded", {"id": "ch_x", "payment_intent": None, "refunded": True}),
        ("charge.refunded", {"id": "ch_x", "payment_intent": "pi_nobody", "refunded": False}),
        ("payment_intent.succeeded", {"id": "pi_nobody", "metadata": {}}),
        ("payment_intent.succeeded", {"id": "pi_nobody", "metadata": None}),
    ],
)
async def test_events_we_do_not_act_on_are_acknowledged(
    client: httpx.AsyncClient, app: FastAPI, kind: str, obj: Obj
) -> None:
    r = await deliver(client, app, event(kind, obj, f"evt_ack_{uuid.uuid4().hex}"))
    assert r.status_code == 200, r.text
    assert r.json() == {"received": True}
