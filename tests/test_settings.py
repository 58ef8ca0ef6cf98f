from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from app.settings import Settings, UnsafeConfiguration, _dev_secret


@pytest.mark.parametrize("secret", [None, "", "secret", "short-but-random-xyz"])
def test_prod_refuses_missing_or_weak_jwt_secret(secret: str | None) -> None:
    with pytest.raises(UnsafeConfiguration, match="JWT_SECRET"):
        Settings(app_env="prod", jwt_secret=SecretStr(secret) if secret is not None else None)


def test_prod_refuses_simulated_payments_and_missing_stripe_keys() -> None:
    jwt, ticket = SecretStr(secrets.token_urlsafe(48)), SecretStr(secrets.token_urlsafe(48))
    with pytest.raises(UnsafeConfiguration, match="TICKET_SECRET"):
        Settings(app_env="prod", jwt_secret=jwt)
    with pytest.raises(UnsafeConfiguration, match="PAYMENT_PROVIDER=simulated"):
        Settings(app_env="prod", jwt_secret=jwt, ticket_secret=ticket)
    with pytest.raises(UnsafeConfiguration, match="STRIPE_WEBHOOK_SECRET is not set"):
        Settings(
            app_env="prod",
            jwt_secret=jwt,
            ticket_secret=ticket,
            payment_provider="stripe",
            stripe_secret_key=SecretStr("sk_live_" + secrets.token_hex(24)),
        )


def test_dev_without_secret_generates_one(tmp_path: object) -> None:
    settings = Settings(app_env="test", jwt_secret=None)
    assert len(settings.signing_secret) >= 32


def test_the_app_refuses_to_start_in_prod_without_a_secret() -> None:
    env = {k: v for k, v in os.environ.items() if k != "JWT_SECRET"}
    env["APP_ENV"] = "prod"
    proc = subprocess.run(
        [sys.executable, "-c", "import app.main"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode != 0
    assert "Refusing to start" in proc.stderr
    assert "JWT_SECRET" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_workers_creating_the_dev_secret_at_once_all_get_the_same(tmp_path: Path) -> None:
    """Workers starting together on a new data directory: every one signs with one secret
    (each writing its own made tokens of one worker invalid at the other)."""
    for round_ in range(20):
        path = tmp_path / f"round-{round_}" / ".dev-jwt-secret"
        start = threading.Barrier(8)
        found: list[str] = []

        def worker(
            path: Path = path, start: threading.Barrier = start, found: list[str] = found
        ) -> None:
            start.wait()
            found.append(_dev_secret(path))

        threads = [threading.Thread(target=worker) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(found) == 8
        assert set(found) == {path.read_text()}
        assert [p.name for p in path.parent.iterdir()] == [".dev-jwt-secret"]  # no drafts left
        assert path.stat().st_mode & 0o777 == 0o600


# --- Issue 16, item 4: every secret and key is checked outside dev/test ---------------------

REPO = Path(__file__).resolve().parents[1]


def _strong() -> dict[str, Any]:
    """A production configuration that passes every check (random values, Stripe's forms)."""
    return {
        "app_env": "prod",
        "jwt_secret": SecretStr(secrets.token_urlsafe(48)),
        "jwt_previous_secrets": f"2026-01:{secrets.token_urlsafe(48)}",
        "ticket_secret": SecretStr(secrets.token_urlsafe(48)),
        "altcha_hmac_key": SecretStr(secrets.token_urlsafe(48)),
        "payment_provider": "stripe",
        "stripe_secret_key": SecretStr("sk_live_" + secrets.token_hex(24)),
        "stripe_webhook_secret": SecretStr("whsec_" + secrets.token_urlsafe(32)),
        "admin_email": "boss@example.com",
        "admin_password": SecretStr(secrets.token_urlsafe(16)),
    }


def test_prod_accepts_strong_secrets_and_stripes_forms() -> None:
    settings = Settings(**_strong())
    assert settings.app_env == "prod"
    restricted_key = SecretStr("rk_live_" + secrets.token_hex(24))
    restricted = Settings(**{**_strong(), "stripe_secret_key": restricted_key})
    assert restricted.stripe_secret_key is not None


@pytest.mark.parametrize(
    ("name", "value", "said"),
    [
        # The examples: each one started in prod.
        ("jwt_previous_secrets", "old:secret", "JWT_PREVIOUS_SECRETS"),
        ("jwt_secret", SecretStr("a" * 48), "JWT_SECRET"),
        ("stripe_webhook_secret", SecretStr("x"), "STRIPE_WEBHOOK_SECRET"),
        ("admin_password", SecretStr("admin-password"), "ADMIN_PASSWORD"),
        # Every other secret and key.
        ("jwt_previous_secrets", "secret", "JWT_PREVIOUS_SECRETS"),
        ("jwt_previous_secrets", f"old:{'b' * 48}", "JWT_PREVIOUS_SECRETS"),
        ("jwt_previous_secrets", f"old:{secrets.token_urlsafe(48)},k2:changeme", "k2"),
        ("jwt_secret", SecretStr("ab" * 24), "JWT_SECRET"),
        ("ticket_secret", SecretStr("t" * 48), "TICKET_SECRET"),
        ("ticket_secret", SecretStr(secrets.token_urlsafe(12)), "TICKET_SECRET"),
        ("altcha_hmac_key", SecretStr(""), "ALTCHA_HMAC_KEY"),
        ("altcha_hmac_key", SecretStr("k" * 48), "ALTCHA_HMAC_KEY"),
        ("stripe_webhook_secret", SecretStr("whsec_x"), "STRIPE_WEBHOOK_SECRET"),
        ("stripe_webhook_secret", SecretStr("whsec_" + "w" * 40), "STRIPE_WEBHOOK_SECRET"),
        ("stripe_webhook_secret", SecretStr(secrets.token_urlsafe(40)), "whsec_"),
        ("stripe_secret_key", SecretStr("sk_test_x"), "STRIPE_SECRET_KEY"),
        ("stripe_secret_key", SecretStr("pk_live_" + secrets.token_hex(24)), "sk_"),
        ("stripe_secret_key", SecretStr("sk_live_" + "0" * 40), "STRIPE_SECRET_KEY"),
        ("admin_password", SecretStr("admin-password-123"), "ADMIN_PASSWORD"),
        ("admin_password", SecretStr("Short-1"), "ADMIN_PASSWORD"),
        ("admin_password", SecretStr("z" * 20), "ADMIN_PASSWORD"),
        ("admin_password", SecretStr("CHANGEME"), "ADMIN_PASSWORD"),
    ],
)
def test_prod_refuses_each_weak_secret(name: str, value: str | SecretStr, said: str) -> None:
    with pytest.raises(UnsafeConfiguration, match=said) as refused:
        Settings(**{**_strong(), name: value})
    message = str(refused.value)
    assert len(message.splitlines()) == 2, message  # the heading and this one problem
    assert "Refusing" not in message  # app.main and app.serve add that themselves
    # It says how to fix it, and never echoes the secret.
    assert any(hint in message for hint in ("secrets.token_urlsafe", "Stripe", "at least"))
    shown = value.get_secret_value() if isinstance(value, SecretStr) else value.split(":")[-1]
    assert shown not in message or len(shown) < 8


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(UnsafeConfiguration) as refused:
        Settings(
            app_env="prod",
            jwt_secret=SecretStr("a" * 48),
            jwt_previous_secrets="old:secret",
            payment_provider="stripe",
            stripe_webhook_secret=SecretStr("x"),
            admin_password=SecretStr("admin-password"),
        )
    lines = str(refused.value).splitlines()
    assert lines[0] == "APP_ENV=prod needs these fixed (7 problems):"
    named = [line.removeprefix("- ").split(" ")[0] for line in lines[1:]]
    assert named == [
        "JWT_SECRET",
        "JWT_PREVIOUS_SECRETS",
        "TICKET_SECRET",
        "ALTCHA_HMAC_KEY",
        "STRIPE_SECRET_KEY",
        "STRIPE_WEBHOOK_SECRET",
        "ADMIN_PASSWORD",
    ]


def _documented_admin_passwords() -> set[str]:
    """Every ADMIN_PASSWORD the repository shows anyone: README, compose, Makefile, tests."""
    found: set[str] = set()
    patterns = {
        "README.md": r"`admin@example\.com` / `([^`]+)`",
        "docker-compose.yml": r"ADMIN_PASSWORD:\s*(\S+)",
        "Makefile": r"ADMIN_PASSWORD \?= (\S+)",
        "tests/conftest.py": r'ADMIN_PASSWORD = "([^"]+)"',
        "tests/scaleout/conftest.py": r'"ADMIN_PASSWORD": "([^"]+)"',
        "tests/e2e/conftest.py": r'ADMIN_PASSWORD = "([^"]+)"',
    }
    for path, pattern in patterns.items():
        text = (REPO / path).read_text() if (REPO / path).exists() else ""
        found.update(re.findall(pattern, text))
    return found


def test_every_documented_demo_value_is_refused() -> None:
    documented = _documented_admin_passwords()
    assert {"admin-password", "admin-password-123"} <= documented  # the scan finds them
    for password in documented:
        with pytest.raises(UnsafeConfiguration, match="ADMIN_PASSWORD"):
            Settings(**{**_strong(), "admin_password": SecretStr(password)})
    # The demo Stripe values of the tests and docs, too.
    for key in ("sk_test_x", "sk_live_x"):
        with pytest.raises(UnsafeConfiguration, match="STRIPE_SECRET_KEY"):
            Settings(**{**_strong(), "stripe_secret_key": SecretStr(key)})


def test_dev_and_test_keep_their_demo_values() -> None:
    """Only production is strict: `make run` and the compose stack run with the demo admin."""
    for env in ("dev", "test"):
        settings = Settings(
            app_env=env,
            jwt_secret=SecretStr("a" * 48),
            jwt_previous_secrets="old:secret",
            admin_password=SecretStr("admin-password"),
        )
        assert settings.admin_password is not None
