"""`python -m app.serve`: workers with a listening socket each (SO_REUSEPORT), supervised.

Real processes on a free port, the test Redis and a SQLite file. Which worker holds a
connection is read from /proc: the server side of each client connection is a socket inode
that exactly one worker has among its open files.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app import serve
from tests.conftest import TEST_REDIS_URL
from tests.scaleout.launcher import AppProcess
from tests.servers.restartable import HOST, free_port

SERVE_REDIS_DB = 6


def _env(workdir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "APP_ENV": "test",
        "REDIS_URL": f"{TEST_REDIS_URL.rsplit('/', 1)[0]}/{SERVE_REDIS_DB}",
        "DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'serve.db'}",
        "DATA_DIR": str(workdir / "data"),
        "RATE_LIMIT_ENABLED": "false",
        "LOG_JSON": "true",
        "LOG_LEVEL": "INFO",
    }


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppProcess]:
    process = AppProcess(
        "serve", tmp_path_factory.mktemp("serve"), _env(tmp_path_factory.mktemp("serve-data")),
        workers=2, launcher="serve",
    )  # fmt: skip
    process.start()
    try:
        process.wait_ready()
        yield process
    finally:
        process.stop()


def _children(pid: int) -> set[int]:
    """The worker processes of supervisor `pid` (not multiprocessing's resource tracker)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rpartition(")")[2].split()[1]) != pid:
                continue
            with contextlib.suppress(OSError):
                if b"spawn_main" in (entry / "cmdline").read_bytes():
                    found.add(int(entry.name))
    return found


def _socket_inodes(pid: int) -> set[int]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def _server_side_inodes(port: int) -> dict[int, int]:
    """Client port -> inode of the server's end, for established connections to `port`."""
    found: dict[int, int] = {}
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port = int(fields[1].rsplit(":", 1)[1], 16)
        remote_port = int(fields[2].rsplit(":", 1)[1], 16)
        if local_port == port and fields[3] == "01":  # 01: ESTABLISHED
            found[remote_port] = int(fields[9])
    return found


def _open_connections(port: int, count: int) -> list[socket.socket]:
    """`count` keep-alive connections, each answered once (so its worker has accepted it)."""
    connections = []
    for _ in range(count):
        sock = socket.create_connection((HOST, port), timeout=10)
        sock.sendall(f"GET /healthz HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
        assert sock.recv(4096).startswith(b"HTTP/1.1 200"), "the worker did not answer"
        connections.append(sock)
    return connections


def test_each_worker_listens_on_its_own_socket_and_gets_its_share(served: AppProcess) -> None:
    workers = _children(served.pid)
    assert len(workers) == 2, workers
    connections = _open_connections(served.port, 64)
    try:
        server_side = _server_side_inodes(served.port)
        inodes = {worker: _socket_inodes(worker) for worker in workers}
        share = dict.fromkeys(workers, 0)
        for sock in connections:
            inode = server_side[sock.getsockname()[1]]
            (owner,) = [w for w in workers if inode in inodes[w]]
            share[owner] += 1
    finally:
        for sock in connections:
            sock.close()
    # The kernel's hash splits them about evenly: fewer than 12 of 64 on either worker has a
    # probability below 1e-7. With one shared socket, one worker often takes nearly all.
    assert all(count >= 12 for count in share.values()), share


def test_a_worker_that_dies_is_replaced_and_the_service_keeps_answering(
    served: AppProcess,
) -> None:
    before = _children(served.pid)
    victim = min(before)
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while True:
        now = _children(served.pid)
        if victim not in now and len(now) == 2:
            break
        assert time.monotonic() < deadline, f"no replacement for worker {victim}: {now}"
        time.sleep(0.2)
    (replacement,) = now - before
    for _ in range(100):  # the new worker starts up; connections meanwhile go to the other
        if _answered_by(served, replacement):
            break
        time.sleep(0.2)
    else:
        pytest.fail(f"the replacement worker {replacement} never answered")
    for _ in range(20):
        assert httpx.get(f"{served.url}/healthz", timeout=5).status_code == 200


def _answered_by(served: AppProcess, worker: int) -> bool:
    """Whether a new connection (kept open until checked) landed on `worker`."""
    (sock,) = _open_connections(served.port, 1)
    try:
        inode = _server_side_inodes(served.port)[sock.getsockname()[1]]
        return inode in _socket_inodes(worker)
    finally:
        sock.close()


def test_sigterm_stops_every_worker_and_exits_cleanly(tmp_path: Path) -> None:
    process = AppProcess("stop", tmp_path, _env(tmp_path), workers=2, launcher="serve")
    process.start()
    process.wait_ready()
    workers = _children(process.pid)
    assert len(workers) == 2
    assert process.stop() == 0
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers)


def _serve(port: int, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.serve", "--host", HOST, "--port", str(port), "--workers", "2"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_a_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    taken = socket.socket()
    taken.bind((HOST, 0))
    taken.listen()
    try:
        done = _serve(taken.getsockname()[1], _env(tmp_path))
    finally:
        taken.close()
    assert done.returncode == 1
    assert "cannot listen on" in done.stderr
    assert "choose another --port" in done.stderr


def test_a_worker_that_cannot_start_stops_the_supervisor(tmp_path: Path) -> None:
    """A store that cannot be opened fails every worker's startup the same way: the supervisor
    exits 3 (as uvicorn does) instead of starting workers forever."""
    env = {**_env(tmp_path), "DATABASE_URL": "sqlite+aiosqlite:////proc/no-such-dir/serve.db"}
    started = time.monotonic()
    done = _serve(free_port(), env)
    assert done.returncode == 3, done.stderr[-2000:]
    assert time.monotonic() - started < 30


@pytest.mark.parametrize(
    ("setting", "value", "said"),
    [
        ("HOLD_TTL_SECONDS", "soon", "hold_ttl_seconds"),
        ("APP_ENV", "prod", "JWT_SECRET is not set"),  # production refuses the dev secrets
    ],
)
def test_bad_settings_fail_before_any_worker_starts(
    tmp_path: Path, setting: str, value: str, said: str
) -> None:
    env = {**_env(tmp_path), setting: value}
    env.pop("JWT_SECRET", None)
    done = _serve(free_port(), env)
    assert done.returncode == 3
    assert "Refusing to start" in done.stderr
    assert said in done.stderr
    assert "worker" not in done.stdout  # no worker was started


@pytest.mark.parametrize(
    ("argv", "concurrency", "said"),
    [
        (["--port", "0"], "2", "--port 1..65535"),
        (["--workers", "0"], "2", "--workers must be at least 1"),
        ([], "two", "WEB_CONCURRENCY must be a number of workers, not 'two'"),
    ],
)
def test_bad_arguments_are_refused_before_anything_starts(
    argv: list[str],
    concurrency: str,
    said: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("WEB_CONCURRENCY", concurrency)
    with pytest.raises(SystemExit) as exited:
        serve.main(argv)
    assert exited.value.code == 2
    assert said in capsys.readouterr().err
