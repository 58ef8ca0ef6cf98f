from __future__ import annotations

import asyncio
import base64
import json
import sqlite3
import threading
import time
import unicodedata
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI
from pwdlib.hashers.argon2 import Argon2Hasher
from pydantic import SecretStr

from app.auth.tokens import TokenService
from app.container import Container
from app.errors import ServiceUnavailable
from app.settings import Settings
from app.storage.errors import StoreUnavailable
from app.storage.records import User
from tests.conftest import Account, http_client, make_settings, running_app, signup, unique_email
from tests.helpers import token_claims as _claims

AUTH = "/api/v1/auth"


def _container(app: FastAPI) -> Container:
    container: Container = app.state.container
    return container


async def test_signup_returns_tokens_and_user(client: httpx.AsyncClient) -> None:
    email = unique_email().upper()
    r = await client.post(
        f"{AUTH}/signup", json={"email": email, "password": "longenough", "name": "Ada"}
    )
    assert r.status_code == 201
    body = r.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 900
    assert body["user"] == {
        "id": body["user"]["id"],
        "email": email.lower(),
        "name": "Ada",
        "role": "user",
        "email_verified": False,
        "email_verified_at": None,
    }
    assert body["access_token"] != body["refresh_token"]
    assert "password" not in r.text


async def test_signup_twice_with_same_email_is_409(client: httpx.AsyncClient) -> None:
    account = await signup(client)
    r = await client.post(
        f"{AUTH}/signup",
        json={"email": account.email.upper(), "password": "another-pass", "name": "B"},
    )
    assert r.status_code == 409
    assert r.json()["error"] == "EmailTaken"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "not-an-email", "password": "longenough", "name": "A"}, "email"),
        ({"email": "a@example.com", "password": "short", "name": "A"}, "password"),
        ({"email": "a@example.com", "password": "longenough"}, "name"),
        ({"email": "a@example.com", "password": "x" * 129, "name": "A"}, "password"),
        (
            {"email": "a@example.com", "password": "longenough", "name": "A", "role": "admin"},
            "role",
        ),
    ],
)
async def test_signup_validation_errors(
    client: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    r = await client.post(f"{AUTH}/signup", json=body)
    assert r.status_code == 422
    payload = r.json()
    assert payload["error"] == "ValidationError"
    assert payload["detail"].startswith("Invalid request")
    assert field in [f["field"] for f in payload["fields"]]


async def test_signup_with_malformed_json_is_422(client: httpx.AsyncClient) -> None:
    r = await client.post(
        f"{AUTH}/signup", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 422
    assert r.json()["error"] == "ValidationError"


async def test_login_and_me(client: httpx.AsyncClient, user: Account) -> None:
    r = await client.post(f"{AUTH}/login", json={"email": user.email, "password": user.password})
    assert r.status_code == 200
    token = r.json()["access_token"]
    me = await client.get(f"{AUTH}/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    assert me.json() == {
        "id": user.id,
        "email": user.email,
        "name": "Fan",
        "role": "user",
        "email_verified": False,
        "email_verified_at": None,
    }


async def test_wrong_password_and_unknown_email_look_the_same(
    client: httpx.AsyncClient, user: Account
) -> None:
    wrong = await client.post(f"{AUTH}/login", json={"email": user.email, "password": "nope-nope"})
    unknown = await client.post(
        f"{AUTH}/login", json={"email": unique_email(), "password": "nope-nope"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert wrong.json()["error"] == "InvalidCredentials"


async def test_oauth2_password_form_gives_a_usable_token(
    client: httpx.AsyncClient, user: Account
) -> None:
    r = await client.post(f"{AUTH}/token", data={"username": user.email, "password": user.password})
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"access_token", "token_type"}
    me = await client.get(f"{AUTH}/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.json()["id"] == user.id

    bad = await client.post(f"{AUTH}/token", data={"username": user.email, "password": "wrong-pw"})
    assert bad.status_code == 401
    missing = await client.post(f"{AUTH}/token", data={"username": user.email})
    assert missing.status_code == 422


async def test_refresh_rotates_and_old_token_stops_working(
    client: httpx.AsyncClient, user: Account
) -> None:
    r = await client.post(f"{AUTH}/refresh", json={"refresh_token": user.refresh_token})
    assert r.status_code == 200
    pair = r.json()
    assert set(pair) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert pair["refresh_token"] != user.refresh_token
    me = await client.get(f"{AUTH}/me", headers={"Authorization": f"Bearer {pair['access_token']}"})
    assert me.status_code == 200

    again = await client.post(f"{AUTH}/refresh", json={"refresh_token": user.refresh_token})
    assert again.status_code == 401
    assert again.json()["error"] == "NotAuthenticated"


async def test_reusing_a_rotated_refresh_token_revokes_the_family(
    client: httpx.AsyncClient, user: Account
) -> None:
    first = (
        await client.post(f"{AUTH}/refresh", json={"refresh_token": user.refresh_token})
    ).json()
    # The attacker replays the original token: the whole family dies, including `first`.
    replay = await client.post(f"{AUTH}/refresh", json={"refresh_token": user.refresh_token})
    assert replay.status_code == 401
    after = await client.post(f"{AUTH}/refresh", json={"refresh_token": first["refresh_token"]})
    assert after.status_code == 401
    # Another login (a new family) is unaffected.
    login = await client.post(
        f"{AUTH}/login", json={"email": user.email, "password": user.password}
    )
    fresh = await client.post(
        f"{AUTH}/refresh", json={"refresh_token": login.json()["refresh_token"]}
    )
    assert fresh.status_code == 200


async def test_concurrent_refreshes_of_one_token_rotate_once_and_end_the_login(
    client: httpx.AsyncClient, user: Account
) -> None:
    """One of them rotates (the store decides: tests/storage), the others are replays, which
    revoke the login: the winner's new pair is refused too (401), or answered but dead,
    depending on whether a replay's revocation came before or after the winner stored it."""
    results = await asyncio.gather(
        *(
            client.post(f"{AUTH}/refresh", json={"refresh_token": user.refresh_token})
            for _ in range(8)
        )
    )
    statuses = sorted(r.status_code for r in results)
    assert statuses in ([200] + [401] * 7, [401] * 8), statuses
    for r in results:
        if r.status_code == 200:
            assert (await _refresh(client, r.json()["refresh_token"])).status_code == 401


async def test_access_token_is_not_a_refresh_token(
    client: httpx.AsyncClient, user: Account
) -> None:
    r = await client.post(f"{AUTH}/refresh", json={"refresh_token": user.access_token})
    assert r.status_code == 401
    me = await client.get(f"{AUTH}/me", headers={"Authorization": f"Bearer {user.refresh_token}"})
    assert me.status_code == 401


async def test_me_without_token_is_401_with_challenge(client: httpx.AsyncClient) -> None:
    r = await client.get(f"{AUTH}/me")
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == "Bearer"
    assert r.json()["error"] == "NotAuthenticated"


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _forgeries(settings: Settings, user_id: str) -> dict[str, str]:
    key = settings.signing_secret
    kid = {"kid": settings.jwt_kid}
    good = _claims(settings, user_id)
    return {
        "alg_none": f"{_b64({'alg': 'none', 'typ': 'JWT', 'kid': settings.jwt_kid})}.{_b64(good)}.",
        "wrong_key": jwt.encode(good, "x" * 48, algorithm="HS256", headers=kid),
        "hs512": jwt.encode(good, key, algorithm="HS512", headers=kid),
        "unknown_kid": jwt.encode(good, key, algorithm="HS256", headers={"kid": "nope"}),
        "refresh_typ": jwt.encode(
            _claims(settings, user_id, typ="refresh"), key, algorithm="HS256", headers=kid
        ),
        "expired": jwt.encode(
            _claims(settings, user_id, exp=int(time.time()) - 60),
            key,
            algorithm="HS256",
            headers=kid,
        ),
        "future_nbf": jwt.encode(
            _claims(settings, user_id, nbf=int(time.time()) + 600),
            key,
            algorithm="HS256",
            headers=kid,
        ),
        "wrong_aud": jwt.encode(
            _claims(settings, user_id, aud="someone-else"), key, algorithm="HS256", headers=kid
        ),
        "wrong_iss": jwt.encode(
            _claims(settings, user_id, iss="evil"), key, algorithm="HS256", headers=kid
        ),
        "no_exp": jwt.encode(
            _claims(settings, user_id, exp=None), key, algorithm="HS256", headers=kid
        ),
        "garbage": "not.a.jwt",
    }


@pytest.mark.parametrize(
    "kind",
    [
        "alg_none",
        "wrong_key",
        "hs512",
        "unknown_kid",
        "refresh_typ",
        "expired",
        "future_nbf",
        "wrong_aud",
        "wrong_iss",
        "no_exp",
        "garbage",
    ],
)
async def test_forged_tokens_are_refused(
    client: httpx.AsyncClient, app: FastAPI, user: Account, kind: str
) -> None:
    token = _forgeries(_container(app).settings, user.id)[kind]
    r = await client.get(f"{AUTH}/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401, kind
    assert r.json()["error"] == "NotAuthenticated"
    # A forged admin claim must not open admin routes either.
    create = await client.post(
        "/api/v1/concerts", json={}, headers={"Authorization": f"Bearer {token}"}
    )
    assert create.status_code == 401


def test_control_a_correctly_signed_token_is_accepted(app: FastAPI) -> None:
    """The forgery set is only meaningful if the same construction, correctly signed, passes."""
    settings = _container(app).settings
    good = jwt.encode(
        _claims(settings, "u1"),
        settings.signing_secret,
        algorithm="HS256",
        headers={"kid": settings.jwt_kid},
    )
    assert TokenService(settings).decode(good, "access").sub == "u1"


def test_key_rotation_accepts_the_previous_key_during_overlap() -> None:
    old = Settings(app_env="test", jwt_secret=SecretStr("o" * 40), jwt_kid="2026-01")
    token = TokenService(old).issue("access", "u1", "user").token
    rotated = Settings(
        app_env="test",
        jwt_secret=SecretStr("n" * 40),
        jwt_kid="2026-02",
        jwt_previous_secrets="2026-01:" + "o" * 40,
    )
    assert TokenService(rotated).decode(token, "access").sub == "u1"
    new_token = TokenService(rotated).issue("access", "u2", "user").token
    assert jwt.get_unverified_header(new_token)["kid"] == "2026-02"
    after_overlap = Settings(app_env="test", jwt_secret=SecretStr("n" * 40), jwt_kid="2026-02")
    with pytest.raises(Exception, match="not signed by a key we accept"):
        TokenService(after_overlap).decode(token, "access")


def test_tokens_carry_the_required_claims(app: FastAPI) -> None:
    service = _container(app).tokens
    issued = service.issue("access", "u1", "user")
    header = jwt.get_unverified_header(issued.token)
    claims = jwt.decode(issued.token, options={"verify_signature": False})
    assert header["alg"] == "HS256"
    assert header["kid"]
    assert {"exp", "iat", "nbf", "iss", "aud", "sub", "jti", "typ"} <= set(claims)
    assert datetime.fromtimestamp(claims["exp"], UTC) - datetime.now(UTC) <= timedelta(seconds=901)


# --- Issue 16, item 10: token responses are never cached (RFC 6749, section 5.1) ------------


async def test_every_token_response_says_no_store(client: httpx.AsyncClient) -> None:
    email, password = unique_email(), "correct-horse-1"
    signed_up = await client.post(
        f"{AUTH}/signup", json={"email": email, "password": password, "name": "Fan"}
    )
    logged_in = await client.post(f"{AUTH}/login", json={"email": email, "password": password})
    refreshed = await client.post(
        f"{AUTH}/refresh", json={"refresh_token": logged_in.json()["refresh_token"]}
    )
    form = await client.post(f"{AUTH}/token", data={"username": email, "password": password})
    for name, r in {
        "signup": signed_up,
        "login": logged_in,
        "refresh": refreshed,
        "token": form,
    }.items():
        assert r.status_code in (200, 201), (name, r.text)
        assert "access_token" in r.json()
        assert r.headers.get("Cache-Control") == "no-store", name
        assert r.headers.get("Pragma") == "no-cache", name


# --- Issue 16, item 11: a correctly signed token with odd claims is a 401, never a 500 -------


def _signed(settings: Settings, claims: dict[str, Any]) -> str:
    return jwt.encode(
        claims, settings.signing_secret, algorithm="HS256", headers={"kid": settings.jwt_kid}
    )


# The first two go through the fast path (app/auth/issued.py: integer times, canonical
# segments), the others through PyJWT (app/auth/tokens.py): both paths are covered.
_ODD_CLAIMS: list[tuple[str, dict[str, Any]]] = [
    ("exp far beyond datetime", {"exp": 10**13}),
    ("iat far beyond datetime, nbf now", {"iat": -(10**13)}),
    ("exp as a string", {"exp": "9999999999"}),
    ("iat as a string", {"iat": str(int(time.time()))}),
    ("nbf as a string", {"nbf": str(int(time.time()))}),
    ("exp as a huge float", {"exp": 1e20}),
    ("exp as a float", {"exp": time.time() + 600.5}),
    ("role as a list", {"role": ["admin"]}),
    ("fam as a number", {"fam": 7}),
]


@pytest.mark.parametrize("claims", [c for _, c in _ODD_CLAIMS], ids=[n for n, _ in _ODD_CLAIMS])
@pytest.mark.parametrize("typ", ["access", "refresh"])
async def test_correctly_signed_tokens_with_wrong_typed_claims_are_401(
    client: httpx.AsyncClient,
    app: FastAPI,
    user: Account,
    claims: dict[str, Any],
    typ: str,
) -> None:
    settings = _container(app).settings
    token = _signed(settings, {**_claims(settings, user.id, typ=typ, role="user"), **claims})
    if typ == "access":
        r = await client.get(f"{AUTH}/me", headers={"Authorization": f"Bearer {token}"})
    else:
        r = await client.post(f"{AUTH}/refresh", json={"refresh_token": token})
    assert r.status_code == 401, r.text
    assert r.json()["error"] == "NotAuthenticated"


async def test_wrong_typed_claims_are_401_where_the_rate_limiter_reads_the_token(
    tmp_path: Any,
) -> None:
    """The limiter verifies access tokens before any route (app/platform/ratelimit.py)."""
    settings = make_settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/limits.db",
        rate_limit_enabled=True,
        sweeper_in_process=False,
    )
    async with running_app(settings) as limited, http_client(limited) as c:
        for _, claims in _ODD_CLAIMS:
            token = _signed(settings, {**_claims(settings, "u1", role="user"), **claims})
            r = await c.get(f"{AUTH}/me", headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 401, (claims, r.text)


# --- Issue 16, item 11: one account per email however it is spelled (NFKC + casefold) --------


def _fullwidth(text: str) -> str:
    """ASCII letters and digits as their fullwidth look-alikes (U+FF01..U+FF5E)."""
    return "".join(chr(ord(c) + 0xFEE0) if c.isascii() and c.isalnum() else c for c in text)


async def test_lookalike_emails_are_one_account(client: httpx.AsyncClient) -> None:
    local = f"alice-{uuid.uuid4().hex[:8]}"
    first = await client.post(
        f"{AUTH}/signup",
        json={"email": f"{_fullwidth(local)}@example.com", "password": "first-pass-1", "name": "A"},
    )
    assert first.status_code == 201, first.text
    assert first.json()["user"]["email"] == f"{local}@example.com"
    second = await client.post(
        f"{AUTH}/signup",
        json={"email": f"{local.upper()}@example.com", "password": "other-pass-2", "name": "B"},
    )
    assert second.status_code == 409, second.text
    assert second.json()["error"] == "EmailTaken"
    login = await client.post(
        f"{AUTH}/login", json={"email": f"{local}@example.com", "password": "first-pass-1"}
    )
    assert login.status_code == 200, login.text
    assert login.json()["user"]["id"] == first.json()["user"]["id"]


async def test_an_email_with_a_combining_accent_logs_in_as_typed(
    client: httpx.AsyncClient,
) -> None:
    typed = f"Ame\u0301lie-{uuid.uuid4().hex[:8]}@example.com"  # e + COMBINING ACUTE ACCENT
    r = await client.post(
        f"{AUTH}/signup", json={"email": typed, "password": "accent-pass-1", "name": "Amélie"}
    )
    assert r.status_code == 201, r.text
    for spelling in (typed, unicodedata.normalize("NFC", typed), typed.upper()):
        login = await client.post(
            f"{AUTH}/login", json={"email": spelling, "password": "accent-pass-1"}
        )
        assert login.status_code == 200, (spelling, login.text)
        form = await client.post(
            f"{AUTH}/token", data={"username": spelling, "password": "accent-pass-1"}
        )
        assert form.status_code == 200, (spelling, form.text)


async def test_accounts_stored_with_the_old_normalisation_still_log_in(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """Accounts created before NFKC + casefold were stored with str.lower() of the address:
    they log in as before, and their address can't be signed up again."""
    container = _container(app)
    tag = uuid.uuid4().hex[:8]
    typed_forms = [f"Straße-{tag}@example.com", f"{_fullwidth('BOB')}-{tag}@example.com"]
    for typed in typed_forms:
        legacy = User(
            id=str(uuid.uuid4()),
            email=typed.strip().lower(),  # what signup stored before
            name="Legacy",
            password_hash=await container.passwords.hash("legacy-pass-1"),
            role="user",
            created_at=datetime.now(UTC),
        )
        await container.store.users.add(legacy)
        login = await client.post(
            f"{AUTH}/login", json={"email": typed, "password": "legacy-pass-1"}
        )
        assert login.status_code == 200, (typed, login.text)
        assert login.json()["user"]["id"] == legacy.id
        again = await client.post(
            f"{AUTH}/signup", json={"email": typed, "password": "newcomer-pass-1", "name": "N"}
        )
        assert again.status_code == 409, (typed, again.text)


async def test_lookalike_spellings_share_one_login_window(tmp_path: Any) -> None:
    settings = make_settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/window.db",
        rate_limit_enabled=True,
        rate_limit_login_per_email="2/minute",
        rate_limit_auth_per_ip="1000/minute",
        sweeper_in_process=False,
    )
    local = f"carol-{uuid.uuid4().hex[:8]}"
    async with running_app(settings) as limited, http_client(limited) as c:
        for email in (f"{_fullwidth(local)}@example.com", f"{local.upper()}@EXAMPLE.com"):
            r = await c.post(f"{AUTH}/login", json={"email": email, "password": "guess-123"})
            assert r.status_code == 401, r.text
        r = await c.post(f"{AUTH}/login", json={"email": f"{local}@example.com", "password": "x"})
        assert r.status_code == 429, r.text


# --- Issue 16, item 5: server-side logout, and a password change ends every login ------------


async def _login(client: httpx.AsyncClient, email: str, password: str) -> dict[str, Any]:
    r = await client.post(f"{AUTH}/login", json={"email": email, "password": password})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def _refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post(f"{AUTH}/refresh", json={"refresh_token": token})


async def test_logout_revokes_that_login_only(client: httpx.AsyncClient, user: Account) -> None:
    phone = await _login(client, user.email, user.password)
    r = await client.post(f"{AUTH}/logout", json={"refresh_token": user.refresh_token})
    assert r.status_code == 204, r.text
    assert r.content == b""
    refused = await _refresh(client, user.refresh_token)
    assert refused.status_code == 401
    # Another login of the same account goes on.
    assert (await _refresh(client, phone["refresh_token"])).status_code == 200


async def test_logout_is_idempotent_and_ends_the_whole_login(
    client: httpx.AsyncClient, user: Account
) -> None:
    rotated = (await _refresh(client, user.refresh_token)).json()
    # The old (used) token logs the login out: its successor dies with it.
    r = await client.post(f"{AUTH}/logout", json={"refresh_token": user.refresh_token})
    assert r.status_code == 204, r.text
    assert (await _refresh(client, rotated["refresh_token"])).status_code == 401
    for token in (user.refresh_token, rotated["refresh_token"]):
        again = await client.post(f"{AUTH}/logout", json={"refresh_token": token})
        assert again.status_code == 204, again.text


async def test_logout_with_an_expired_refresh_token_still_ends_the_login(
    client: httpx.AsyncClient, app: FastAPI, user: Account
) -> None:
    settings = _container(app).settings
    family = jwt.decode(user.refresh_token, options={"verify_signature": False})["fam"]
    now = int(time.time())
    expired = _signed(
        settings,
        _claims(
            settings, user.id, typ="refresh", role="user", fam=family, iat=now - 90, nbf=now - 90
        )
        | {"exp": now - 60},
    )
    r = await client.post(f"{AUTH}/logout", json={"refresh_token": expired})
    assert r.status_code == 204, r.text
    assert (await _refresh(client, user.refresh_token)).status_code == 401


async def test_logout_refuses_what_is_not_a_genuine_refresh_token(
    client: httpx.AsyncClient, app: FastAPI, user: Account
) -> None:
    settings = _container(app).settings
    family = jwt.decode(user.refresh_token, options={"verify_signature": False})["fam"]
    forged = jwt.encode(
        _claims(settings, user.id, typ="refresh", role="user", fam=family),
        "x" * 48,
        algorithm="HS256",
        headers={"kid": settings.jwt_kid},
    )
    for token in ("not.a.jwt", user.access_token, forged):
        r = await client.post(f"{AUTH}/logout", json={"refresh_token": token})
        assert r.status_code == 401, r.text
        assert r.json()["error"] == "NotAuthenticated"
    missing = await client.post(f"{AUTH}/logout", json={})
    assert missing.status_code == 422
    # Nothing was revoked by the refusals.
    assert (await _refresh(client, user.refresh_token)).status_code == 200


async def test_password_change_ends_every_login(client: httpx.AsyncClient, user: Account) -> None:
    laptop = await _login(client, user.email, user.password)
    r = await client.post(
        f"{AUTH}/password",
        json={"current_password": user.password, "new_password": "a-new-long-pass"},
        headers=user.headers,
    )
    assert r.status_code == 204, r.text
    for token in (user.refresh_token, laptop["refresh_token"]):
        assert (await _refresh(client, token)).status_code == 401
    old = await client.post(f"{AUTH}/login", json={"email": user.email, "password": user.password})
    assert old.status_code == 401
    fresh = await _login(client, user.email, "a-new-long-pass")
    assert (await _refresh(client, fresh["refresh_token"])).status_code == 200
    # Access tokens are stateless: one issued before the change works until it expires
    # (ACCESS_TOKEN_TTL_SECONDS, 15 minutes by default).
    assert (await client.get(f"{AUTH}/me", headers=user.headers)).status_code == 200


async def test_password_change_needs_the_current_password(
    client: httpx.AsyncClient, user: Account
) -> None:
    wrong = await client.post(
        f"{AUTH}/password",
        json={"current_password": "not-my-password", "new_password": "a-new-long-pass"},
        headers=user.headers,
    )
    assert wrong.status_code == 401, wrong.text
    assert wrong.json()["error"] == "InvalidCredentials"
    anonymous = await client.post(
        f"{AUTH}/password",
        json={"current_password": user.password, "new_password": "a-new-long-pass"},
    )
    assert anonymous.status_code == 401
    assert anonymous.json()["error"] == "NotAuthenticated"
    # Nothing changed: the old password and the login still work.
    assert (await _refresh(client, user.refresh_token)).status_code == 200
    await _login(client, user.email, user.password)


@pytest.mark.parametrize("new_password", ["short", "x" * 129])
async def test_a_new_password_follows_the_signup_rules(
    client: httpx.AsyncClient, user: Account, new_password: str
) -> None:
    r = await client.post(
        f"{AUTH}/password",
        json={"current_password": user.password, "new_password": new_password},
        headers=user.headers,
    )
    assert r.status_code == 422, r.text
    assert "new_password" in [f["field"] for f in r.json()["fields"]]
    await _login(client, user.email, user.password)


async def test_password_guesses_count_in_the_accounts_login_window(tmp_path: Any) -> None:
    settings = make_settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/guesses.db",
        rate_limit_enabled=True,
        rate_limit_login_per_email="4/minute",  # the signup below counts too
        rate_limit_auth_per_ip="1000/minute",
        sweeper_in_process=False,
    )
    async with running_app(settings) as limited, http_client(limited) as c:
        account = await signup(c)
        guess = {"current_password": "guess-123", "new_password": "a-new-long-pass"}
        for _ in range(2):
            r = await c.post(f"{AUTH}/password", json=guess, headers=account.headers)
            assert r.status_code == 401, r.text
        # Logins of the same account share the window.
        r = await c.post(f"{AUTH}/login", json={"email": account.email, "password": "guess-1"})
        assert r.status_code == 401, r.text
        r = await c.post(f"{AUTH}/password", json=guess, headers=account.headers)
        assert r.status_code == 429, r.text
        assert r.json()["error"] == "RateLimited"


# --- Issue 16, item 12: a refused signup wrote nothing, or its retry answers 201 ----------------


async def test_a_signup_retried_with_the_same_password_logs_in(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """A client that got no answer (or a 503) sends its signup again: if the account was
    written meanwhile, the same email and password answer 201 with a login, never 409."""
    email, password = unique_email(), "retry-pass-1"
    body = {"email": email, "password": password, "name": "Fan"}
    first = await client.post(f"{AUTH}/signup", json=body)
    assert first.status_code == 201, first.text
    again = await client.post(f"{AUTH}/signup", json={**body, "email": email.upper()})
    assert again.status_code == 201, again.text
    assert again.json()["user"] == first.json()["user"]
    assert again.headers["Cache-Control"] == "no-store"
    assert (await _refresh(client, again.json()["refresh_token"])).status_code == 200
    # Never for another password: that is someone else trying the address.
    other = await client.post(f"{AUTH}/signup", json={**body, "password": "other-pass-2"})
    assert other.status_code == 409, other.text
    assert other.json()["error"] == "EmailTaken"


async def test_only_a_recent_signup_can_be_retried(client: httpx.AsyncClient, app: FastAPI) -> None:
    container = _container(app)
    old = User(
        id=str(uuid.uuid4()),
        email=unique_email(),
        name="Old",
        password_hash=await container.passwords.hash("old-account-1"),
        role="user",
        created_at=datetime.now(UTC) - timedelta(hours=1),
    )
    await container.store.users.add(old)
    r = await client.post(
        f"{AUTH}/signup", json={"email": old.email, "password": "old-account-1", "name": "Old"}
    )
    assert r.status_code == 409, r.text


class _BusyNeighbour:
    """Another writer of the same SQLite file, as a second worker or process is: it takes the
    write lock and keeps it `hold` seconds, lets it go for `gap` seconds, again and again."""

    def __init__(self, path: str, hold: float, gap: float) -> None:
        self._path, self._hold, self._gap = path, hold, gap
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.cycles = 0

    def _run(self) -> None:
        db = sqlite3.connect(self._path, timeout=30, isolation_level=None)
        try:
            while not self._stop.is_set():
                db.execute("BEGIN IMMEDIATE")
                self._stop.wait(self._hold)
                db.execute("COMMIT")
                self.cycles += 1
                self._stop.wait(self._gap)
        finally:
            db.close()

    def __enter__(self) -> _BusyNeighbour:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


async def test_hundreds_of_signups_against_a_busy_database_all_end_signed_up(
    tmp_path: Any,
) -> None:
    """The audit: 300 signups at once on one worker (SQLite) got many 503 "database is not
    answering", and their retry 409 EmailTaken: the 503 came after the account was written
    (the account row and the login's refresh token are two writes, and the second one waited
    too long for SQLite's write lock). Here a second writer keeps the lock busy, as another
    worker does, and the store deadline is short, so writes really fail: every signup the
    service refused must either have written nothing or be retryable, and the retries (the
    same email and password, as a client sends) all end 201 with a working login."""
    path = f"{tmp_path}/busy.db"
    settings = make_settings(
        database_url=f"sqlite+aiosqlite:///{path}",
        store_timeout_seconds=0.3,  # the default 8 s, scaled down to the neighbour's holds
        breaker_reset_seconds=0.5,
        sweeper_in_process=False,
        http_max_in_flight=0,
    )
    emails = [unique_email("storm") for _ in range(200)]

    async def sign_up(c: httpx.AsyncClient, email: str) -> httpx.Response:
        body = {"email": email, "password": f"pw-{email}", "name": "Fan"}
        return await c.post(f"{AUTH}/signup", json=body)

    async with running_app(settings) as busy, http_client(busy, timeout=300) as c:
        store = _container(busy).store
        with _BusyNeighbour(path, hold=0.5, gap=0.05):
            first = await asyncio.gather(*(sign_up(c, e) for e in emails))
        assert {r.status_code for r in first} <= {201, 503}, {r.text for r in first}
        refused = [e for e, r in zip(emails, first, strict=True) if r.status_code != 201]
        written = [e for e in refused if await _exists(store, e)]
        # The neighbour made the store refuse signups, some of them after writing the account.
        assert refused, "no signup was refused: the test did not exercise the failure"
        assert written, "no refused signup had written its account: nothing was tested"

        async def retry(email: str) -> httpx.Response:
            """What a client does after a 503: the same signup again, until it is answered."""
            for _ in range(20):
                r = await sign_up(c, email)
                if r.status_code != 503:
                    break
                await asyncio.sleep(0.2)
            return r

        finals = dict(zip(refused, await asyncio.gather(*(retry(e) for e in refused)), strict=True))
        for email, r in finals.items():
            assert r.status_code == 201, (email, r.status_code, r.text)
        for email in written:
            login = await c.post(f"{AUTH}/login", json={"email": email, "password": f"pw-{email}"})
            assert login.status_code == 200, login.text
            assert (await _refresh(c, finals[email].json()["refresh_token"])).status_code == 200


async def _exists(store: Any, email: str) -> bool:
    for _ in range(100):  # reads are not refused by the neighbour, but may meet the breaker
        try:
            return await store.users.get_by_email(email) is not None
        except (ServiceUnavailable, StoreUnavailable):
            await asyncio.sleep(0.1)
    raise AssertionError("the store never answered")


# --- Issue 16, item 12: OWASP's argon2id parameters, older hashes upgraded at login -----------

OWASP_ARGON2 = "$argon2id$v=19$m=19456,t=2,p=1$"


async def test_new_passwords_are_hashed_with_owasps_argon2id_parameters(
    client: httpx.AsyncClient, app: FastAPI, user: Account
) -> None:
    stored = await _container(app).store.users.get(user.id)
    assert stored is not None
    assert stored.password_hash.startswith(OWASP_ARGON2)


async def test_an_older_hash_is_replaced_at_login(client: httpx.AsyncClient, app: FastAPI) -> None:
    """Accounts hashed with the earlier parameters (64 MiB, t=3, p=4) log in as before, and
    that login stores a hash with the current ones."""
    container = _container(app)
    older = Argon2Hasher(memory_cost=65536, time_cost=3, parallelism=4).hash("older-pass-1")
    account = User(
        id=str(uuid.uuid4()),
        email=unique_email(),
        name="Older",
        password_hash=older,
        role="user",
        created_at=datetime.now(UTC) - timedelta(days=30),
    )
    await container.store.users.add(account)
    wrong = await client.post(f"{AUTH}/login", json={"email": account.email, "password": "nope-1"})
    assert wrong.status_code == 401
    stored = await container.store.users.get(account.id)
    assert stored is not None
    assert stored.password_hash == older  # a failed login changes nothing

    await _login(client, account.email, "older-pass-1")

    stored = await container.store.users.get(account.id)
    assert stored is not None
    assert stored.password_hash.startswith(OWASP_ARGON2)
    assert Argon2Hasher().verify("older-pass-1", stored.password_hash)
    await _login(client, account.email, "older-pass-1")  # and the new hash works
