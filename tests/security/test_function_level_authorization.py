"""API5:2023 Broken Function Level Authorization: organiser routes are closed to buyers.

The routes are enumerated from the app. Every organiser route (one that depends on
`admin_user`) is called without a token (401) and as a buyer (403), and changes nothing. Every
other route must be listed below as public or as a buyer route: a new route fails
`test_every_route_is_classified` until someone decides who may call it.
"""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from app.main import create_app
from tests.conftest import Account, make_settings
from tests.helpers import CONCERTS, create_concert
from tests.security.routes import Route, api_routes, concrete

PUBLIC = {
    "POST /api/v1/auth/signup",
    "POST /api/v1/auth/login",
    "POST /api/v1/auth/token",
    "POST /api/v1/auth/refresh",
    "POST /api/v1/auth/verify-email",  # authenticated by the link's signed token
    "GET /api/v1/concerts/{concert_id}/queue/challenge",  # a puzzle to solve, per address limited
    "POST /api/v1/auth/logout",  # authenticated by the refresh token it ends
    "GET /api/v1/concerts",
    "GET /api/v1/concerts/{concert_id}",
    "GET /api/v1/concerts/{concert_id}/seats",
    "GET /api/v1/concerts/{concert_id}/seats/stream",
    "GET /api/v1/concerts/{concert_id}/lottery",  # the draw is public so anyone can check it
    "GET /api/v1/concerts/{concert_id}/lottery/entries",
    "POST /api/v1/webhooks/stripe",  # authenticated by its signature instead
    "GET /healthz",
    "GET /readyz",
}
BUYER = {
    "GET /api/v1/auth/me",
    "POST /api/v1/auth/password",
    "POST /api/v1/auth/verify-email/resend",
    "POST /api/v1/concerts/{concert_id}/holds",
    "GET /api/v1/holds/{hold_id}",
    "DELETE /api/v1/holds/{hold_id}",
    "POST /api/v1/concerts/{concert_id}/queue",
    "GET /api/v1/concerts/{concert_id}/queue",
    "POST /api/v1/concerts/{concert_id}/registrations",
    "GET /api/v1/concerts/{concert_id}/registrations/me",
    "POST /api/v1/checkout",
    "GET /api/v1/orders/{order_id}",
    "GET /api/v1/orders/{order_id}/payment",
    "GET /api/v1/orders/{order_id}/tickets.pdf",
    "GET /api/v1/orders/{order_id}/calendar.ics",
    "POST /api/v1/orders/{order_id}/cancel",
    "POST /api/v1/payments/simulated/{payment_intent_id}/confirm",
    "GET /api/v1/me/orders",
    "GET /api/v1/me/tickets",
    "POST /api/v1/tickets/{ticket_id}/transfer",
}


def _routes() -> list[Route]:
    return list(api_routes(create_app(make_settings())))


def _organiser_routes() -> list[Route]:
    return [r for r in _routes() if r.admin_only]


def test_every_route_is_classified() -> None:
    routes = _routes()
    organiser = {r.label for r in routes if r.admin_only}
    assert organiser >= {"POST /api/v1/concerts", "PATCH /api/v1/concerts/{concert_id}"}
    unclassified = {r.label for r in routes} - organiser - PUBLIC - BUYER
    assert unclassified == set(), "decide who may call these; list them in PUBLIC or BUYER"
    assert not (organiser & (PUBLIC | BUYER)), "an organiser route is listed as open"
    for route in routes:
        if route.label in BUYER:
            assert route.needs_login, f"{route.label} is listed as a buyer route but is open"
        if route.label in PUBLIC:
            assert not route.needs_login, f"{route.label} now needs a login: move it to BUYER"


@pytest.mark.parametrize("route", _organiser_routes(), ids=lambda r: r.label)
async def test_organiser_routes_are_closed_to_buyers(
    client: httpx.AsyncClient,
    app: FastAPI,
    admin_headers: dict[str, str],
    user: Account,
    route: Route,
) -> None:
    c = await create_concert(client, admin_headers)
    before = (await client.get(f"{CONCERTS}/{c['id']}")).json()
    url = concrete(route.path, concert_id=c["id"])
    body = {"title": "Pwned", "sections": []}
    anonymous = await client.request(route.method, url, json=body)
    assert anonymous.status_code == 401, anonymous.text
    assert anonymous.json()["error"] == "NotAuthenticated"
    as_buyer = await client.request(route.method, url, json=body, headers=user.headers)
    assert as_buyer.status_code == 403, as_buyer.text
    assert as_buyer.json()["error"] == "Forbidden"
    assert (await client.get(f"{CONCERTS}/{c['id']}")).json() == before
    # Control: the organiser gets past the check (any answer but 401/403).
    as_admin = await client.request(route.method, url, json=body, headers=admin_headers)
    assert as_admin.status_code not in (401, 403), as_admin.text


async def test_a_buyer_token_claiming_admin_is_not_admin(
    client: httpx.AsyncClient, app: FastAPI, user: Account
) -> None:
    """The role comes from the signed token the server issued at login; a buyer can't change
    it, and signing up never makes an organiser (tests/security/test_tokens.py: forged
    tokens; test_property_level_authorization.py: `role` in the signup body)."""
    me = (await client.get("/api/v1/auth/me", headers=user.headers)).json()
    assert me["role"] == "user"
    r = await client.post(CONCERTS, json={}, headers=user.headers)
    assert r.status_code == 403
