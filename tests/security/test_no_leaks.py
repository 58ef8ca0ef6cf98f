"""API8:2023 Security Misconfiguration (verbose errors) and secrets in logs: error bodies carry
no stack trace, exception text or secret, and the logs carry no password, token or secret,
whatever goes wrong.

The logs are captured at DEBUG from the root logger, so every line any module writes (access
log, error handler, services) is inspected, including the stack trace of a forced 500.
"""

from __future__ import annotations

import logging

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from app.auth.service import Sessions
from app.main import create_app
from tests.conftest import Account, make_settings, unique_email
from tests.helpers import container_of

API = "/api/v1"


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog


def _logged(caplog: pytest.LogCaptureFixture) -> str:
    """Every captured line as a handler would write it: message, extras, stack traces."""
    formatter = logging.Formatter("%(message)s")
    out = []
    for record in caplog.records:
        out.append(formatter.format(record))
        out.append(repr(vars(record)))
    return "\n".join(out)


def _secrets(app: FastAPI) -> list[str]:
    settings = container_of(app).settings
    return [settings.signing_secret, settings.webhook_secret, settings.ticket_signing_secret]


async def test_a_failed_login_leaks_nothing(
    client: httpx.AsyncClient, app: FastAPI, user: Account, logs: pytest.LogCaptureFixture
) -> None:
    wrong = "Wrong-Pa55word-That-Is-Long"
    r = await client.post(f"{API}/auth/login", json={"email": user.email, "password": wrong})
    assert r.status_code == 401
    body = r.text
    assert wrong not in body
    assert user.email not in body, "the answer does not confirm the account exists"
    logged = _logged(logs)
    for secret in (wrong, user.password, *_secrets(app)):
        assert secret not in logged
    # A 422 does not echo the password back either.
    r = await client.post(f"{API}/auth/signup", json={"email": "bad", "password": wrong})
    assert r.status_code == 422
    assert wrong not in r.text


async def test_a_forced_500_shows_nothing_and_logs_no_secrets(
    app: FastAPI,
    user: Account,
    monkeypatch: pytest.MonkeyPatch,
    logs: pytest.LogCaptureFixture,
) -> None:
    """An unexpected exception deep in a request that carries a token and a password."""

    async def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("internal detail: table users, row 42")

    monkeypatch.setattr(Sessions, "login", explode)
    # As a server would answer: the exception is not raised into the client.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        r = await client.post(
            f"{API}/auth/login",
            json={"email": user.email, "password": user.password},
            headers={"Authorization": f"Bearer {user.access_token}"},
        )
    assert r.status_code == 500
    assert r.json() == {
        "error": "InternalError",
        "detail": "Something went wrong on our side; please retry.",
    }
    for leak in ("Traceback", "RuntimeError", "internal detail", "row 42", user.password):
        assert leak not in r.text
    logged = _logged(logs)
    assert "RuntimeError" in logged, "the log has the stack trace (control)"
    for secret in (user.password, user.access_token, user.refresh_token, *_secrets(app)):
        assert secret not in logged, "a secret is in the logs"


@pytest.fixture
def app_with_credentials(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    settings = make_settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('leaks')}/leaks.db",
        redis_url="redis://:Redis-Pa55word@127.0.0.1:1/0",  # never connected to here
        jwt_secret=SecretStr("J" * 48),
        stripe_webhook_secret=SecretStr("whsec_" + "W" * 40),
        ticket_secret=SecretStr("T" * 48),
        sweeper_in_process=False,
    )
    return create_app(settings)


async def test_startup_logs_no_credentials(
    app_with_credentials: FastAPI, logs: pytest.LogCaptureFixture
) -> None:
    """The startup line names the Redis it uses without its password (it used to log
    REDIS_URL as is), and no secret of the configuration is logged."""
    app = app_with_credentials
    async with app.router.lifespan_context(app):
        pass
    logged = _logged(logs)
    assert "service started" in logged
    assert "127.0.0.1:1" in logged
    for secret in ("Redis-Pa55word", "J" * 48, "W" * 40, "T" * 48):
        assert secret not in logged


async def test_validation_errors_do_not_echo_secrets(client: httpx.AsyncClient) -> None:
    token = "eyJhbGciOiJIUzI1NiJ9.secret-looking.token"
    r = await client.post(f"{API}/auth/refresh", json={"refresh_token": token, "extra": 1})
    assert r.status_code == 422
    assert token not in r.text
    r = await client.post(
        f"{API}/auth/signup",
        json={"email": unique_email(), "password": "short", "name": "N"},
    )
    assert r.status_code == 422
    assert '"short"' not in r.text
