from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path}/cli.db"
    env["APP_ENV"] = "test"
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_cli_creates_an_admin_and_seeds_demo_concerts_once(tmp_path: Path) -> None:
    made = _run(tmp_path, "create-admin", "--email", "Boss@Example.com", "--password", "pw-123456")
    assert made.returncode == 0, made.stderr
    assert "Admin ready: boss@example.com" in made.stdout
    again = _run(tmp_path, "create-admin", "--email", "boss@example.com", "--password", "pw-123456")
    assert again.returncode == 0, again.stderr

    seeded = _run(tmp_path, "seed-demo")
    assert seeded.returncode == 0, seeded.stderr
    assert seeded.stdout.count("Created") == 3
    twice = _run(tmp_path, "seed-demo")
    assert "nothing seeded" in twice.stdout


def test_cli_refuses_a_short_password(tmp_path: Path) -> None:
    r = _run(tmp_path, "create-admin", "--email", "a@example.com", "--password", "short")
    assert r.returncode == 2
    assert "at least 8" in r.stderr
