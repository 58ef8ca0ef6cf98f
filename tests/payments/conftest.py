"""Payment fixtures: real Redis, a real Stripe-compatible server (localstripe), and a scripted
HTTP server on 127.0.0.1 for the failures neither can produce on demand.

Environment:
- TEST_REDIS_URL (see tests/conftest.py).
- REQUIRE_LOCALSTRIPE=1: fail, instead of skipping, when localstripe is not installed.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from app.payments.simulated import SimulatedGateway
from app.payments.stripe_gateway import StripeGateway
from app.platform.redis import RedisClient

STRIPE_TEST_KEY = "sk_test_encore"  # localstripe accepts any key that starts with sk_

# Runs localstripe's aiohttp app on a socket the test session already bound to 127.0.0.1 (its
# own CLI binds every interface, IPv4 and IPv6, and has no host option), keeps its state in
# memory (the CLI pickles it to /tmp/localstripe.pickle after every write, shared by every run
# on the machine), and exits by itself if the test session dies without stopping it.
_LAUNCHER = """
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


@pytest.fixture(scope="session")
def simulated(redis: RedisClient) -> SimulatedGateway:
    return SimulatedGateway(redis)


def _answers(base_url: str) -> bool:
    try:
        r = httpx.get(
            f"{base_url}/v1/balance",
            headers={"Authorization": f"Bearer {STRIPE_TEST_KEY}"},
            timeout=1.0,
        )
    except httpx.TransportError:
        return False
    return r.status_code == 200


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture(scope="session")
def localstripe_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a localstripe server on 127.0.0.1, started for this session only."""
    if importlib.util.find_spec("localstripe") is None:
        reason = "localstripe is not installed (pip install localstripe)"
        if os.environ.get("REQUIRE_LOCALSTRIPE") == "1":
            pytest.fail(f"REQUIRE_LOCALSTRIPE=1 but {reason}")
        pytest.skip(reason)

    log_path: Path = tmp_path_factory.mktemp("localstripe") / "localstripe.log"
    # Bound here and handed over: no window in which another process can take the port.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    with sock, log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-c", _LAUNCHER, str(sock.fileno()), str(os.getpid())],
            pass_fds=[sock.fileno()],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 20
        while not _answers(base_url):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"localstripe did not start:\n{log_path.read_text()[-2000:]}")
            time.sleep(0.1)
        yield base_url
    finally:
        _stop(proc)


@pytest.fixture(scope="session")
async def stripe_gateway(localstripe_url: str) -> AsyncIterator[StripeGateway]:
    gateway = StripeGateway(
        api_key=STRIPE_TEST_KEY,
        publishable_key="pk_test_encore",
        api_base=localstripe_url,
        timeout_seconds=5.0,
    )
    yield gateway
    await gateway.close()


@dataclass
class Reply:
    status: int
    body: bytes = b'{"error": {"type": "api_error", "message": "scripted"}}'
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering (to provoke client timeouts)


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class ScriptedServer:
    """An HTTP server on 127.0.0.1 that answers the scripted replies in order (the last one
    repeats) and records every request."""

    def __init__(self) -> None:
        self.replies: list[Reply] = [Reply(500)]
        self.received: list[Received] = []
        self._lock = threading.Lock()
        scripted = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with scripted._lock:
                    scripted.received.append(
                        Received(self.command, self.path, dict(self.headers.items()), body)
                    )
                    n = len(scripted.received)
                    reply = scripted.replies[min(n, len(scripted.replies)) - 1]
                time.sleep(reply.delay)
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply.body)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(reply.body)

            do_GET = do_POST = do_DELETE = _answer

            def log_message(self, format: str, *args: object) -> None:
                pass  # quiet: the test reads `received`

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: object, client_address: object) -> None:
                pass  # a client that timed out and left: expected in the timeout tests

        self._server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        # A short poll interval: shutdown() waits up to one interval (0.5 s by default).
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def __enter__(self) -> ScriptedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@pytest.fixture
def scripted() -> Iterator[ScriptedServer]:
    with ScriptedServer() as server:
        yield server


def stripe_error(message: str, *, code: str | None = None, kind: str = "api_error") -> bytes:
    error: dict[str, str] = {"type": kind, "message": message}
    if code is not None:
        error["code"] = code
    return json.dumps({"error": error}).encode()
