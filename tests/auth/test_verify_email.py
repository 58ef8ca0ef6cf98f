"""Email verification through the HTTP API (app/auth/verification.py): the link's token, the
verified flag on /auth/me, and resending, rate-limited. The mail itself: tests/mail/
test_verification_mail.py."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
from fastapi import FastAPI

from app.storage.records import User
from tests.conftest import Account, make_settings, running_app, unique_email
from tests.helpers import container_of

AUTH = "/api/v1/auth"


async def signup(client: httpx.AsyncClient, name: str = "Vera") -> Account:
    r = await client.post(
        f"{AUTH}/signup",
        json={"email": unique_email("verify"), "password": "longenough-1", "name": name},
    )
    assert r.status_code == 201, r.text
    return Account(r.json(), "longenough-1")


async def stored(app: FastAPI, user_id: str) -> User:
    user = await container_of(app).store.users.get(user_id)
    assert user is not None
    return user


async def me(client: httpx.AsyncClient, account: Account) -> dict[str, Any]:
    r = await client.get(f"{AUTH}/me", headers=account.headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


@asynccontextmanager
async def own_network(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client from a network of its own (IPv6 counts per /64): the per-address windows last
    an hour, longer than one run of the tests, and must not be shared between runs."""
    address = (f"2001:db8:{secrets.token_hex(2)}:{secrets.token_hex(2)}::1", 4242)
    transport = httpx.ASGITransport(app=app, client=address)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


async def verify(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post(f"{AUTH}/verify-email", json={"token": token})


def _refused(r: httpx.Response) -> str:
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "InvalidVerificationToken"
    return str(r.json()["detail"])


async def test_a_good_link_verifies_the_address_once(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    account = await signup(client)
    assert account.body["user"]["email_verified"] is False
    assert (await me(client, account))["email_verified"] is False
    token = container_of(app).verification.tokens.issue(await stored(app, account.id))

    r = await verify(client, token)
    assert r.status_code == 200, r.text
    assert r.json()["email"] == account.email
    first = r.json()["email_verified_at"]
    now = await me(client, account)
    assert now["email_verified"] is True
    assert now["email_verified_at"] == first
    # The same link again (a second click): still fine, and the first time stays.
    again = await verify(client, token)
    assert again.status_code == 200, again.text
    assert again.json()["email_verified_at"] == first


async def test_an_expired_link_is_refused(client: httpx.AsyncClient, app: FastAPI) -> None:
    account = await signup(client)
    tokens = container_of(app).verification.tokens
    long_ago = datetime.now(UTC) - tokens.ttl - timedelta(minutes=1)
    detail = _refused(
        await verify(client, tokens.issue(await stored(app, account.id), now=long_ago))
    )
    assert "expired" in detail
    assert (await me(client, account))["email_verified"] is False


async def test_a_tampered_or_foreign_token_is_refused(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    account = await signup(client)
    token = container_of(app).verification.tokens.issue(await stored(app, account.id))
    header, payload, signature = token.split(".")
    flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
    _refused(await verify(client, f"{header}.{payload}.{flipped}"))
    # Another account's id in the claims, signed with a key that is not ours.
    claims = jwt.decode(token, options={"verify_signature": False})
    forged = jwt.encode(
        {**claims, "sub": "someone-else"}, "not-our-key-" + "x" * 40, algorithm="HS256"
    )
    _refused(await verify(client, forged))
    # An access token is not a verification token (and a verification token never logs in).
    _refused(await verify(client, account.body["access_token"]))
    r = await client.get(f"{AUTH}/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401, r.text
    _refused(await verify(client, "not-a-token"))
    assert (await me(client, account))["email_verified"] is False


async def test_a_link_sent_to_another_address_verifies_nothing(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """A link minted for an address the account no longer has (as after an email change)."""
    account = await signup(client)
    user = await stored(app, account.id)
    old_address = replace(user, email=unique_email("old"))
    token = container_of(app).verification.tokens.issue(old_address)
    assert "no longer uses" in _refused(await verify(client, token))
    assert (await me(client, account))["email_verified"] is False
    # Nor does a link for an account that does not exist.
    ghost = replace(user, id="no-such-account")
    _refused(await verify(client, container_of(app).verification.tokens.issue(ghost)))


async def test_resend_answers_where_the_link_goes_and_a_verified_account_is_told(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    account = await signup(client)
    r = await client.post(f"{AUTH}/verify-email/resend", headers=account.headers)
    assert r.status_code == 202, r.text
    assert r.json() == {"email": account.email, "valid_hours": 48}
    assert (await client.post(f"{AUTH}/verify-email/resend")).status_code == 401

    token = container_of(app).verification.tokens.issue(await stored(app, account.id))
    assert (await verify(client, token)).status_code == 200
    done = await client.post(f"{AUTH}/verify-email/resend", headers=account.headers)
    assert done.status_code == 409, done.text
    assert done.json()["error"] == "EmailAlreadyVerified"
    assert "already verified" in done.json()["detail"]


async def test_resend_is_rate_limited_per_account(tmp_path: Any) -> None:
    settings = make_settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/resend.db",
        rate_limit_enabled=True,
        rate_limit_verify_resend_per_user="3/hour",
        sweeper_in_process=False,
    )
    async with running_app(settings) as limited, own_network(limited) as c:
        account = await signup(c)
        other = await signup(c)
        for _ in range(3):
            r = await c.post(f"{AUTH}/verify-email/resend", headers=account.headers)
            assert r.status_code == 202, r.text
        r = await c.post(f"{AUTH}/verify-email/resend", headers=account.headers)
        assert r.status_code == 429, r.text
        assert r.json()["error"] == "RateLimited"
        assert "newest one" in r.json()["detail"]
        assert int(r.headers["Retry-After"]) > 60
        # Another account (same address) still gets its link.
        r = await c.post(f"{AUTH}/verify-email/resend", headers=other.headers)
        assert r.status_code == 202, r.text


async def test_resend_is_rate_limited_per_address(tmp_path: Any) -> None:
    settings = make_settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/resend-ip.db",
        rate_limit_enabled=True,
        rate_limit_verify_resend_per_ip="2/hour",
        sweeper_in_process=False,
    )
    async with running_app(settings) as limited, own_network(limited) as c:
        accounts = [await signup(c) for _ in range(3)]
        codes = [
            (await c.post(f"{AUTH}/verify-email/resend", headers=a.headers)).status_code
            for a in accounts
        ]
    assert codes == [202, 202, 429]
