"""Real app processes for the scale-out tests: `uvicorn app.main:app` or `python -m app.serve`
(workers with a socket each) as subprocesses on free ports of 127.0.0.1, configured only through
the environment, as in production.

A process is ready when every one of its workers has logged "service started" (its lifespan
ran: store migrated, admin ensured, jobs started) and /readyz answers 200. Each runs in its
own process group, so `stop` also ends workers a crashed supervisor would leave behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import httpx
import pytest

from tests.servers.restartable import HOST, free_port

START_TIMEOUT_SECONDS = 60.0


class AppProcess:
    def __init__(
        self,
        name: str,
        workdir: Path,
        env: dict[str, str],
        workers: int = 1,
        launcher: Literal["uvicorn", "serve"] = "uvicorn",
    ) -> None:
        self.name = name
        self.workers = workers
        self.launcher = launcher
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.log = workdir / f"{name}.log"
        self._env = env
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        # As `make run`: X-Forwarded-For counts only from TRUSTED_PROXIES, never uvicorn's.
        command = [sys.executable, "-m", "uvicorn", "app.main:app", "--no-proxy-headers"]
        if self.launcher == "serve":
            command = [sys.executable, "-m", "app.serve"]
        command += [
            "--host",
            HOST,
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
            "--log-level",
            "warning",
            "--timeout-graceful-shutdown",
            "2",
        ]
        with self.log.open("ab") as log:
            self._proc = subprocess.Popen(
                command,
                env=self._env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def _started_workers(self) -> int:
        return sum(entry.get("msg") == "service started" for entry in self.entries())

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            if self._proc is None or self._proc.poll() is not None:
                self._fail("exited during startup")
            if self._started_workers() >= self.workers and self._answers():
                return
            if time.monotonic() > deadline:
                self._fail("did not become ready")
            time.sleep(0.1)

    def _answers(self) -> bool:
        try:
            return httpx.get(f"{self.url}/readyz", timeout=2.0).status_code == 200
        except httpx.TransportError:
            return False

    def _fail(self, what: str) -> None:
        tail = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
        self.stop()
        pytest.fail(f"app process {self.name} {what}:\n{tail}")

    def entries(self) -> list[dict[str, object]]:
        """The JSON log lines written so far (other lines, e.g. a crash's traceback, skipped)."""
        found: list[dict[str, object]] = []
        if not self.log.exists():
            return found
        for line in self.log.read_text(errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict):
                found.append(entry)
        return found

    def problems(self) -> list[str]:
        """Log lines at ERROR or above, and anything that is not a JSON log line (tracebacks)."""
        bad: list[str] = []
        for line in self.log.read_text(errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                bad.append(line)
                continue
            if not isinstance(entry, dict) or entry.get("level") in ("ERROR", "CRITICAL"):
                bad.append(line)
        return bad

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    def stop(self) -> int | None:
        """SIGTERM, then the exit code (None when it had to be killed, or was not running)."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return None
        proc.send_signal(signal.SIGTERM)
        code: int | None = None
        try:
            code = proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        # Workers of a supervisor that died first share its process group.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        return code


def app_env(workdir: Path, redis_url: str, jwt_secret: str, **settings: str) -> dict[str, str]:
    """The environment of a test deployment's processes: this one's Redis, a store under
    `workdir` (unless `settings` names another DATABASE_URL), simulated payments, no rate
    limits, JSON logs (what `problems` reads); `settings` add to it or override it."""
    return {
        **os.environ,
        "APP_ENV": "test",
        "REDIS_URL": redis_url,
        "DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'shared.db'}",
        "DATA_DIR": str(workdir / "data"),
        "JWT_SECRET": jwt_secret,
        "TICKET_SECRET": secrets.token_urlsafe(48),
        "PAYMENT_PROVIDER": "simulated",
        "RATE_LIMIT_ENABLED": "false",
        "LOG_JSON": "true",
        "LOG_LEVEL": "INFO",
        **settings,
    }


@contextlib.contextmanager
def two_processes(workdir: Path, env: dict[str, str]) -> Iterator[tuple[AppProcess, AppProcess]]:
    """Two processes of two workers on one Redis and one store, `a` launched by uvicorn and
    `b` by app.serve; stopped after, and neither may have logged an error."""
    a = AppProcess("a", workdir, env, workers=2)
    b = AppProcess("b", workdir, env, workers=2, launcher="serve")
    try:
        for process in (a, b):
            process.start()
        for process in (a, b):
            process.wait_ready()
        yield a, b
    finally:
        for process in (a, b):
            process.stop()
    for process in (a, b):
        assert process.problems() == [], f"errors logged by process {process.name}"
