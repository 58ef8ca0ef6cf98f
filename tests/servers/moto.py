"""moto's server (PyPI `moto[server]`, a test-only dependency) in a thread, for every AWS API the
tests use: DynamoDB (dynamodb.py), EventBridge and SQS (tests/events), Application Auto
Scaling (tests/test_capacity_plan.py). It serves them from memory on 127.0.0.1 and is stopped
when the context exits.

moto runs each request in its own thread with no locking, and its TransactWriteItems is not
isolated: it applies the actions one by one and, on a failed condition, restores a deep copy
of every table it touched, taken when it started. Concurrent requests can then see half a
transaction, or have their own committed writes undone by that restore. DynamoDB itself
serializes conflicting transactions, so this server runs one request at a time: clients
still send concurrently, and every operation is atomic, as on DynamoDB.

`middleware` wraps moto's WSGI app (inside that lock): a test can put a real fault between the
client and the service (an entry refused, as AWS refuses one) without touching the client.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any, NoReturn

import pytest

HOST = "127.0.0.1"
DEFAULT_REGION = "eu-west-1"

# Dummy values for a local endpoint; restored (or removed) when the server stops.
_DUMMY_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_DEFAULT_REGION": DEFAULT_REGION,
}

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
Middleware = Callable[[WsgiApp], WsgiApp]


def skip_or_fail(reason: str, require: str = "REQUIRE_MOTO") -> NoReturn:
    """Skip the test, or fail it when the environment variable `require` is 1."""
    if os.environ.get(require) == "1":
        pytest.fail(f"{require}=1 but {reason}", pytrace=False)
    pytest.skip(reason)


@contextmanager
def dummy_credentials() -> Iterator[None]:
    """AWS credentials for the test process unless it has some (a local server accepts any)."""
    if os.environ.get("AWS_ACCESS_KEY_ID") or os.environ.get("AWS_PROFILE"):
        yield
        return
    saved = {name: os.environ.get(name) for name in _DUMMY_ENVIRONMENT}
    for name, value in _DUMMY_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    try:
        yield
    finally:
        for name, previous in saved.items():
            if previous is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = previous


def _serialized(app: WsgiApp) -> WsgiApp:
    """The app, one request at a time (the response is produced inside the lock)."""
    lock = threading.Lock()

    def handle(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        with lock:
            return list(app(environ, start_response))

    return handle


@contextmanager
def _quiet_request_log() -> Iterator[None]:
    # werkzeug logs every request at INFO, on stderr unless logging is configured.
    logger = logging.getLogger("werkzeug")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


@asynccontextmanager
async def moto_server(
    *,
    middleware: Middleware | None = None,
    unavailable: Callable[[str], NoReturn] = skip_or_fail,
) -> AsyncIterator[str]:
    """The URL of a fresh moto server, running until the context exits (with dummy AWS
    credentials in the environment unless the process has some). `unavailable(reason)` is
    called when moto's server cannot run here."""
    with dummy_credentials():
        try:
            from moto.moto_server.werkzeug_app import (
                DomainDispatcherApplication,
                MotoRequestHandler,
                create_backend_app,
            )
            from moto.server import ThreadedMotoServer
            from werkzeug.serving import make_server
        except ImportError as error:
            unavailable(f"moto's server is not installed (pip install 'moto[server]'): {error}")

        class SerializedMotoServer(ThreadedMotoServer):
            """ThreadedMotoServer whose WSGI app handles one request at a time."""

            def _server_entry(self) -> None:
                # As ThreadedMotoServer._server_entry does, with the app wrapped.
                try:
                    app: WsgiApp = DomainDispatcherApplication(create_backend_app)
                    if middleware is not None:
                        app = middleware(app)
                    self._server = make_server(
                        self._ip_address,
                        self._port,
                        _serialized(app),
                        threaded=True,
                        request_handler=MotoRequestHandler,
                    )
                finally:
                    # Also on failure: start() waits for this event and would hang.
                    self._server_ready_event.set()
                self._server.serve_forever()

        with _quiet_request_log():
            # Port 0: the OS picks a free port as it binds, so no other process can take it
            # between choosing and binding.
            server = SerializedMotoServer(ip_address=HOST, port=0, verbose=False)
            server.start()
            if server._server is None:
                unavailable("moto's server did not start (see the thread's traceback)")
            try:
                host, port = server.get_host_and_port()
                yield f"http://{host}:{port}"
            finally:
                # stop() joins the server thread (up to its 0.5 s poll): off the event loop.
                await asyncio.to_thread(server.stop)
