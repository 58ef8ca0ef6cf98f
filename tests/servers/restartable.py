"""Real servers the fault tests can kill and start again on the same port: Redis, PostgreSQL
and localstripe. Each runs as its own process on 127.0.0.1 and is stopped when the test ends.

PostgreSQL refuses to run as root, so as root the cluster belongs to the `postgres` user (the
Debian package creates it) and its commands run through `runuser`. Without PostgreSQL's
binaries the store-outage test is skipped, unless REQUIRE_POSTGRES=1 makes that a failure.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NoReturn

import httpx
import pytest

HOST = "127.0.0.1"
START_TIMEOUT_SECONDS = 30.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _answers_tcp(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.2):
            return True
    except OSError:
        return False


def _wait(ready: object, what: str, proc: subprocess.Popen[bytes] | None, log: Path) -> None:
    assert callable(ready)
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while not ready():
        if (proc is not None and proc.poll() is not None) or time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            pytest.fail(f"{what} did not start:\n{tail}")
        time.sleep(0.05)


class RedisServer:
    """redis-server without persistence: killed, it comes back empty (as after a failover to
    a replica that had not caught up, or a restart of a cache that keeps nothing on disk)."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"redis://{HOST}:{self.port}/0"
        self._dir = workdir
        self._log = workdir / "redis.log"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            pytest.fail("redis-server is not installed (apt-get install redis-server)")
        with self._log.open("ab") as log:
            self._proc = subprocess.Popen(
                [
                    exe,
                    "--port",
                    str(self.port),
                    "--bind",
                    HOST,
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(self._dir),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        _wait(lambda: _answers_tcp(self.port), "redis-server", self._proc, self._log)

    def kill(self) -> None:
        """SIGKILL: no shutdown, no goodbye to connected clients."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGKILL)
            self._proc.wait(timeout=10)

    def stop(self) -> None:
        self.kill()


def _postgres_bindir() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(candidates[-1]).parent if candidates else None


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("REQUIRE_POSTGRES") == "1":
        pytest.fail(f"REQUIRE_POSTGRES=1 but {reason}", pytrace=False)
    pytest.skip(reason)


class PostgresServer:
    """A private PostgreSQL cluster (initdb in a temporary directory, trust auth, no fsync),
    so a test can stop the database under a running app and start it again."""

    def __init__(self) -> None:
        bindir = _postgres_bindir()
        if bindir is None:
            _unavailable("PostgreSQL's server binaries (initdb, pg_ctl) are not installed")
        self._bin = bindir
        self._as_root = os.geteuid() == 0
        if self._as_root and shutil.which("runuser") is None:
            _unavailable("running as root without runuser: can't start PostgreSQL")
        self.port = free_port()
        self.url = f"postgresql+asyncpg://postgres@{HOST}:{self.port}/postgres"
        self._root = Path(tempfile.mkdtemp(prefix="encore-pg-", dir="/tmp"))
        self._data = self._root / "data"
        self._log = self._root / "server.log"
        if self._as_root:
            shutil.chown(self._root, user="postgres", group="postgres")
        self._run(
            "initdb",
            "-D",
            str(self._data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
            "-E",
            "UTF8",
        )

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self._bin / tool), *args]
        if self._as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, timeout=120, check=False)
        if done.returncode != 0:
            pytest.fail(f"{tool} failed: {done.stdout.decode()[-1500:]}{done.stderr.decode()}")

    def start(self) -> None:
        # fsync off is safe here (`stop` kills the server, not the machine); synchronous_commit
        # must stay on, or an immediate stop loses transactions the app saw committed.
        options = (
            f"-p {self.port} -c listen_addresses={HOST} -k {self._root} -c fsync=off "
            "-c full_page_writes=off"
        )
        self._run(
            "pg_ctl", "-D", str(self._data), "-l", str(self._log), "-o", options, "-w", "start"
        )

    def stop(self) -> None:
        """Immediate shutdown: every connection is cut, as in a crash."""
        if (self._data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self._data), "-m", "immediate", "-w", "stop")

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self._root, ignore_errors=True)


# Runs localstripe's aiohttp app on a socket bound by the test process (its own CLI binds every
# interface and has no host option), keeps its state in memory only, and exits by itself if
# the test session dies without stopping it.
LOCALSTRIPE_LAUNCHER = """
import os, socket, sys, threading, time
from aiohttp import web
import localstripe.resources
import localstripe.server

localstripe.resources.Store.dump_to_disk = lambda self: None
parent = int(sys.argv[2])

def orphan_watch():
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)

threading.Thread(target=orphan_watch, daemon=True).start()
sock = socket.socket(fileno=int(sys.argv[1]))
web.run_app(localstripe.server.app, sock=sock, print=None, access_log=None)
"""
STRIPE_TEST_KEY = "sk_test_encore"  # localstripe accepts any key that starts with sk_


class LocalStripe:
    """localstripe on 127.0.0.1; `start` after `stop` serves on the same port again (with an
    empty state, as localstripe keeps nothing)."""

    def __init__(self, workdir: Path, port: int = 0) -> None:
        self._log = workdir / "localstripe.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self.port = port
        self.url = ""

    def answers(self) -> bool:
        try:
            r = httpx.get(
                f"{self.url}/v1/balance",
                headers={"Authorization": f"Bearer {STRIPE_TEST_KEY}"},
                timeout=1.0,
            )
        except httpx.TransportError:
            return False
        return r.status_code == 200

    def start(self) -> None:
        # Bound here and handed over: no window in which another process can take the port.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((HOST, self.port))
        self.port = sock.getsockname()[1]
        self.url = f"http://{HOST}:{self.port}"
        with sock, self._log.open("ab") as log:
            self._proc = subprocess.Popen(
                [sys.executable, "-c", LOCALSTRIPE_LAUNCHER, str(sock.fileno()), str(os.getpid())],
                pass_fds=[sock.fileno()],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        _wait(self.answers, "localstripe", self._proc, self._log)

    def stop(self) -> None:
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
