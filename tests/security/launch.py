"""The service as a real process, started by the very command lines that start it in production:
`python -m app.serve` (the Docker image, the README) and the uvicorn line of `make run` (read
from the Makefile with `make -n`, so the test runs whatever the Makefile says today).

Each process gets a fresh SQLite file and data directory, a Redis database of the test Redis,
its log in a file, and is stopped (its whole process group) when the block ends.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import TEST_REDIS_URL
from tests.servers.restartable import HOST, free_port

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_SECONDS = 60.0


@dataclass(frozen=True)
class Launched:
    url: str
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def serve_command(port: int) -> list[str]:
    """`python -m app.serve` as the Dockerfile runs it (one worker is enough here)."""
    return [sys.executable, "-m", "app.serve", "--host", HOST, "--port", str(port),
            "--workers", "1", "--timeout-graceful-shutdown", "2"]  # fmt: skip


def make_run_command(port: int) -> list[str]:
    """The command `make run` serves with, as the Makefile writes it: `make -n` prints the
    recipe without running it; its last command (continuation lines joined) starts the server.
    REDIS_PORT points it at the test Redis (database 0, as `make run` has it)."""
    redis_port = urlsplit(TEST_REDIS_URL).port or 6379
    printed = subprocess.run(
        ["make", "--no-print-directory", "-n", "run", f"HOST={HOST}", f"PORT={port}",
         f"REDIS_PORT={redis_port}"],
        cwd=ROOT, capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    commands = [line for line in printed.replace("\\\n", " ").splitlines() if line.strip()]
    serving = [c for c in commands if re.search(r"\buvicorn\b|app\.serve", c)]
    assert serving, f"no server command in `make -n run`:\n{printed}"
    return ["bash", "-c", serving[-1]]


def _env(workdir: Path, overrides: dict[str, str]) -> dict[str, str]:
    env = {
        **os.environ,
        "APP_ENV": "test",
        "REDIS_URL": TEST_REDIS_URL,
        "DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'app.db'}",
        "DATA_DIR": str(workdir / "data"),
        "RECONCILE_INTERVAL_SECONDS": "0",
        "WARMUP_INTERVAL_SECONDS": "0",
        "LOG_LEVEL": "INFO",
        **overrides,
    }
    # Make's own variables must not leak into a `make -n` run by a test under `make test`.
    for name in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL"):
        env.pop(name, None)
    return env


@contextlib.contextmanager
def launched(command: list[str], port: int, workdir: Path, **env: str) -> Iterator[Launched]:
    """The process of `command` (listening on `port`), ready (/readyz 200) for the block."""
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=ROOT, env=_env(workdir, env), stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    url = f"http://{HOST}:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            if process.poll() is not None:
                pytest.fail(f"the server exited ({process.returncode}):\n{log.read_text()[-3000:]}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                pytest.fail(f"the server did not get ready:\n{log.read_text()[-3000:]}")
            time.sleep(0.1)
        yield Launched(url=url, log=log)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
        with contextlib.suppress(ProcessLookupError):  # workers left by a supervisor
            os.killpg(process.pid, signal.SIGKILL)


LAUNCHERS = {"app.serve": serve_command, "make run": make_run_command}


def command_for(launcher: str) -> tuple[list[str], int]:
    port = free_port()
    return LAUNCHERS[launcher](port), port


__all__ = ["LAUNCHERS", "Launched", "command_for", "launched"]
