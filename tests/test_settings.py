from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from pydantic import SecretStr

from app.settings import Settings, UnsafeConfiguration, _dev_secret


@pytest.mark.parametrize("secret", [None, "", "secret", "short-but-random-xyz"])
def test_prod_refuses_missing_or_weak_jwt_secret(secret: str | None) -> None:
    with pytest.raises(UnsafeConfiguration, match="JWT_SECRET"):
        Settings(app_env="prod", jwt_secret=SecretStr(secret) if secret is not None else None)


def test_prod_accepts_a_strong_secret_with_real_payments() -> None:
    settings = Settings(
        app_env="prod",
        jwt_secret=SecretStr("k" * 48),
        ticket_secret=SecretStr("t" * 48),
        payment_provider="stripe",
        stripe_secret_key=SecretStr("sk_live_x"),
        stripe_webhook_secret=SecretStr("whsec_x"),
    )
    assert settings.signing_secret == "k" * 48


def test_prod_refuses_simulated_payments_and_missing_stripe_keys() -> None:
    with pytest.raises(UnsafeConfiguration, match="TICKET_SECRET"):
        Settings(app_env="prod", jwt_secret=SecretStr("k" * 48))
    with pytest.raises(UnsafeConfiguration, match="PAYMENT_PROVIDER=simulated"):
        Settings(app_env="prod", jwt_secret=SecretStr("k" * 48), ticket_secret=SecretStr("t" * 48))
    with pytest.raises(UnsafeConfiguration, match="STRIPE_WEBHOOK_SECRET"):
        Settings(
            app_env="prod",
            jwt_secret=SecretStr("k" * 48),
            ticket_secret=SecretStr("t" * 48),
            payment_provider="stripe",
            stripe_secret_key=SecretStr("sk_live_x"),
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
