"""`python -m app.serve`: the service in N worker processes, each with its own listening socket.

`uvicorn --workers N` binds one socket in its supervisor and hands it to every worker; which
worker accepts a connection is then a race, and a worker that wakes up to a burst of new
connections accepts as many as it can in one go. Keep-alive clients (a load balancer, a load
generator, a browser) keep their connections, so the race decides how the load is split for
good: under bench/ratio.py, wrk's keep-alive connections ended up mostly on one worker
(docs/performance.md, "Figures moved out of code comments").

Here every worker binds its own socket to the same address with `SO_REUSEPORT`, and the kernel
spreads incoming connections over the sockets by a hash of the connection: even, whatever the
workers are doing. Linux (and other systems with `SO_REUSEPORT`) only; the port is fixed (0
would give each worker its own).

The supervisor starts the workers, starts a new one when one dies (not when one fails its
startup: that is a configuration to fix, so the supervisor stops and exits 3, as uvicorn does),
and on SIGINT or SIGTERM asks every worker to finish (uvicorn's graceful shutdown) and waits.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from types import FrameType

import uvicorn
from pydantic import ValidationError
from uvicorn.config import STARTUP_FAILURE

from app.platform.logging import configure_logging
from app.settings import UnsafeConfiguration, load_settings

__all__ = ["ServeOptions", "main", "reuse_port_socket"]

log = logging.getLogger("encore.serve")

APP = "app.main:app"
_SPAWN = multiprocessing.get_context("spawn")


@dataclass(frozen=True, slots=True)
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 2
    access_log: bool = True
    log_level: str = "info"
    timeout_graceful_shutdown: int = 10


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to host:port that other sockets of this user may share.

    Not listening yet: uvicorn listens on it once the app's startup is done, and only then does
    the kernel send it connections (a worker that is starting, or starting again after one
    died, gets none to keep waiting)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def _worker(options: ServeOptions) -> None:
    """One worker: its own socket, one uvicorn server (uvloop and httptools where installed)."""
    sock = reuse_port_socket(options.host, options.port)
    config = uvicorn.Config(
        APP,
        host=options.host,
        port=options.port,
        access_log=options.access_log,
        log_level=options.log_level,
        timeout_graceful_shutdown=options.timeout_graceful_shutdown,
        # uvicorn's own X-Forwarded-For/-Proto handling is on by default and believes them from
        # 127.0.0.1 (FORWARDED_ALLOW_IPS): a same-host proxy passing the header through would
        # let every client pick its rate-limit key. TRUSTED_PROXIES alone decides
        # (app/platform/client_ip.py).
        proxy_headers=False,
    )
    server = uvicorn.Server(config)
    try:
        server.run(sockets=[sock])
    except SystemExit as exc:  # the app refused its configuration, or did not import
        if server.started:
            raise
        if isinstance(exc.code, str):
            print(exc.code, file=sys.stderr)
    if not server.started:  # the supervisor stops rather than start it again and again
        sys.exit(STARTUP_FAILURE)


class Supervisor:
    def __init__(self, options: ServeOptions) -> None:
        self._options = options
        self._workers: list[BaseProcess] = []
        self._stopping = threading.Event()

    def _start_one(self) -> BaseProcess:
        process = _SPAWN.Process(target=_worker, args=(self._options,), name="encore-worker")
        process.start()
        log.info("worker %s started", process.pid)
        return process

    def _stop(self, signum: int, _frame: FrameType | None) -> None:
        self._stopping.set()

    def run(self) -> int:
        # Fail at once, in the supervisor, when the address is taken (by anyone not sharing it).
        reuse_port_socket(self._options.host, self._options.port).close()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._stop)
        self._workers = [self._start_one() for _ in range(self._options.workers)]
        code = 0
        while not self._stopping.wait(0.5):
            for index, process in enumerate(self._workers):
                if process.is_alive():
                    continue
                if process.exitcode == STARTUP_FAILURE:
                    log.error("a worker failed to start; stopping (see the log above)")
                    self._stopping.set()
                    code = STARTUP_FAILURE
                    break
                log.warning(
                    "worker %s died (exit %s); starting another", process.pid, process.exitcode
                )
                self._workers[index] = self._start_one()
        self._shut_down()
        return code

    def _shut_down(self) -> None:
        for process in self._workers:
            if process.is_alive() and process.pid is not None:
                os.kill(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + self._options.timeout_graceful_shutdown + 5
        for process in self._workers:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m app.serve",
        description="Serve app.main:app in worker processes, each with its own SO_REUSEPORT "
        "socket (connections spread evenly by the kernel).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="worker processes (default WEB_CONCURRENCY, else one per CPU)",
    )
    parser.add_argument("--no-access-log", dest="access_log", action="store_false")
    parser.add_argument(
        "--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"]
    )
    parser.add_argument("--timeout-graceful-shutdown", type=int, default=10, metavar="SECONDS")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.workers is None:
        default = os.environ.get("WEB_CONCURRENCY") or str(os.cpu_count() or 1)
        if not default.isdigit():
            parser.error(f"WEB_CONCURRENCY must be a number of workers, not {default!r}")
        args.workers = int(default)
    if args.workers < 1 or not 1 <= args.port <= 65535:
        parser.error("--workers must be at least 1 and --port 1..65535")
    try:
        settings = load_settings()  # a bad setting fails here, before any worker starts
    except (UnsafeConfiguration, ValidationError) as exc:
        print(f"Refusing to start: {exc}", file=sys.stderr)
        return STARTUP_FAILURE
    configure_logging(settings.log_level, json_logs=settings.log_json)
    options = ServeOptions(
        host=args.host,
        port=args.port,
        workers=args.workers,
        access_log=args.access_log,
        log_level=args.log_level,
        timeout_graceful_shutdown=args.timeout_graceful_shutdown,
    )
    try:
        return Supervisor(options).run()
    except OSError as exc:
        print(
            f"cannot listen on {options.host}:{options.port}: {exc.strerror}; "
            "choose another --port or stop what uses it",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
