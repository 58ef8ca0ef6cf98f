"""A real three-master Redis Cluster on 127.0.0.1 for the tests.

Three `redis-server --cluster-enabled yes` processes (no persistence, each in its own directory
under a temporary one), joined with `redis-cli --cluster create ... --cluster-replicas 0`; the
cluster is ready when every node reports `cluster_state:ok` and sees all 16384 slots. Client
and cluster-bus ports are picked free: Redis 7 takes the bus port as `--cluster-port`; older
servers always use port + 10000, so there both must be free. `stop` kills the servers and
removes the directory.

Without `redis-server` or `redis-cli` the tests that need a cluster are skipped, unless
REQUIRE_CLUSTER=1 makes that a failure (CI sets it).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import NoReturn

import pytest

from tests.servers.restartable import HOST, START_TIMEOUT_SECONDS, free_port

MASTERS = 3


def unavailable(reason: str) -> NoReturn:
    """Skip (or fail, with REQUIRE_CLUSTER=1) a test that needs a Redis Cluster."""
    if os.environ.get("REQUIRE_CLUSTER") == "1":
        pytest.fail(f"REQUIRE_CLUSTER=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def _answers(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.2):
            return True
    except OSError:
        return False


def _bus_port_option(server: str) -> bool:
    """Whether this redis-server takes `--cluster-port` (Redis 7 and later)."""
    done = subprocess.run([server, "--version"], capture_output=True, timeout=10, check=False)
    found = re.search(rb"v=(\d+)\.", done.stdout)
    return found is not None and int(found.group(1)) >= 7


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
        return True


def _free_ports(count: int, *, with_bus: bool) -> tuple[list[int], list[int]]:
    """`count` free client ports and their bus ports (free too; port + 10000 without
    --cluster-port)."""
    ports: set[int] = set()
    while len(ports) < count:
        port = free_port()
        if with_bus or (port + 10000 < 65536 and _port_is_free(port + 10000)):
            ports.add(port)
    clients = sorted(ports)
    if not with_bus:
        return clients, [p + 10000 for p in clients]
    buses: set[int] = set()
    while len(buses) < count:
        port = free_port()
        if port not in ports:
            buses.add(port)
    return clients, sorted(buses)


class RedisClusterServers:
    """Three masters, no replicas. `url` is the app's REDIS_URL form for it."""

    def __init__(self) -> None:
        server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
        if server is None or cli is None:
            unavailable("redis-server and redis-cli are needed for the Redis Cluster tests")
        self._server, self._cli = server, cli
        self._bus_option = _bus_port_option(server)
        self.ports, self._bus_ports = _free_ports(MASTERS, with_bus=self._bus_option)
        self.url = f"redis+cluster://{HOST}:{self.ports[0]}"
        self._root = Path(tempfile.mkdtemp(prefix="encore-cluster-", dir="/tmp"))
        self._procs: list[subprocess.Popen[bytes]] = []

    def _log(self, port: int) -> Path:
        return self._root / str(port) / "redis.log"

    def start(self) -> None:
        try:
            for port, bus in zip(self.ports, self._bus_ports, strict=True):
                self._start_node(port, bus)
            self._wait(lambda: all(_answers(p) for p in self.ports), "the cluster nodes")
            nodes = [f"{HOST}:{p}" for p in self.ports]
            created = subprocess.run(
                [self._cli, "--cluster", "create", *nodes, "--cluster-replicas", "0"]
                + ["--cluster-yes"],
                capture_output=True,
                timeout=START_TIMEOUT_SECONDS,
                check=False,
            )
            if created.returncode != 0:
                self._fail(f"redis-cli --cluster create failed:\n{created.stdout.decode()}")
            self._wait(self._ready, "cluster_state:ok on every node")
        except BaseException:
            self.stop()
            raise

    def _start_node(self, port: int, bus: int) -> None:
        workdir = self._root / str(port)
        workdir.mkdir()
        with self._log(port).open("ab") as log:
            self._procs.append(
                subprocess.Popen(
                    [
                        self._server,
                        "--port",
                        str(port),
                        "--bind",
                        HOST,
                        "--cluster-enabled",
                        "yes",
                        *(["--cluster-port", str(bus)] if self._bus_option else []),
                        "--cluster-config-file",
                        str(workdir / "nodes.conf"),
                        "--cluster-node-timeout",
                        "5000",
                        "--save",
                        "",
                        "--appendonly",
                        "no",
                        "--dir",
                        str(workdir),
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )

    def _info(self, port: int) -> dict[str, str]:
        done = subprocess.run(
            [self._cli, "-h", HOST, "-p", str(port), "cluster", "info"],
            capture_output=True,
            timeout=5,
            check=False,
        )
        pairs = (line.partition(":") for line in done.stdout.decode().splitlines())
        return {k.strip(): v.strip() for k, _, v in pairs}

    def _ready(self) -> bool:
        for port in self.ports:
            info = self._info(port)
            if info.get("cluster_state") != "ok" or info.get("cluster_slots_ok") != "16384":
                return False
            if info.get("cluster_known_nodes") != str(MASTERS):
                return False
        return True

    def _wait(self, ready: object, what: str) -> None:
        assert callable(ready)
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not ready():
            if any(p.poll() is not None for p in self._procs) or time.monotonic() > deadline:
                self._fail(f"Redis Cluster: no {what}")
            time.sleep(0.1)

    def _fail(self, message: str) -> NoReturn:
        tails = "\n".join(
            f"--- node {p}:\n{self._log(p).read_text(errors='replace')[-1500:]}"
            for p in self.ports
            if self._log(p).exists()
        )
        pytest.fail(f"{message}\n{tails}")

    def stop(self) -> None:
        for proc in self._procs:
            if proc.poll() is None:
                proc.kill()
        for proc in self._procs:
            proc.wait(timeout=10)
        self._procs.clear()
        shutil.rmtree(self._root, ignore_errors=True)
