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
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from app.payments.simulated import SimulatedGateway
from app.payments.stripe_gateway import StripeGateway
from app.platform.redis import RedisClient
from tests.servers.restartable import STRIPE_TEST_KEY, LocalStripe


@pytest.fixture(scope="session")
def simulated(redis: RedisClient) -> SimulatedGateway:
    return SimulatedGateway(redis)


@pytest.fixture(scope="session")
def localstripe_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a localstripe server on 127.0.0.1, started for this session only."""
    if importlib.util.find_spec("localstripe") is None:
        reason = "localstripe is not installed (pip install localstripe)"
        if os.environ.get("REQUIRE_LOCALSTRIPE") == "1":
            pytest.fail(f"REQUIRE_LOCALSTRIPE=1 but {reason}")
        pytest.skip(reason)

    server = LocalStripe(tmp_path_factory.mktemp("localstripe"))
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


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
