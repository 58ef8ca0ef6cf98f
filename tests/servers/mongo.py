"""A MongoDB for the tests: TEST_MONGO_URL, or the SecantusDB wire-protocol stand-in.

SecantusDB (PyPI `SecantusDB`, GPL, a test-only dependency) is a MongoDB-compatible server
written in Python on WiredTiger. It runs as its own process, started here and stopped at
exit; it advertises itself as a single-node replica set, so transactions work as on a real
replica set (write conflicts included). Without it the mongo tests are skipped, unless
REQUIRE_MONGO=1, which turns that into a failure.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import IO, NoReturn

import pytest
from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError

STANDIN_COMMAND = "secantusd-py"
HOST = "127.0.0.1"
START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 10.0


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("REQUIRE_MONGO") == "1":
        pytest.fail(f"REQUIRE_MONGO=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def _standin_executable() -> str | None:
    # The venv running the tests first (its bin/ need not be on PATH), then PATH.
    beside_python = Path(sys.executable).with_name(STANDIN_COMMAND)
    if beside_python.is_file():
        return str(beside_python)
    return shutil.which(STANDIN_COMMAND)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _log_tail(log: IO[bytes], limit: int = 2_000) -> str:
    log.flush()
    log.seek(0)
    return log.read().decode(errors="replace")[-limit:]


async def _wait_until_listening(
    port: int, process: asyncio.subprocess.Process, log: IO[bytes]
) -> None:
    """Poll the port with plain TCP until the server accepts connections.

    Not with pymongo: an AsyncMongoClient closed after refused connections sometimes leaks
    a monitor socket (pymongo 4.20), which the suite's warnings-as-errors would report."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + START_TIMEOUT_SECONDS
    while True:
        if process.returncode is not None:
            _unavailable(
                f"SecantusDB exited with code {process.returncode} while starting:\n"
                f"{_log_tail(log)}"
            )
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(HOST, port), 1.0)
        except (OSError, TimeoutError):
            if loop.time() > deadline:
                _unavailable(
                    f"SecantusDB did not listen on {HOST}:{port} within "
                    f"{START_TIMEOUT_SECONDS:.0f}s:\n{_log_tail(log)}"
                )
            await asyncio.sleep(0.1)
            continue
        writer.close()
        await writer.wait_closed()
        return


async def _replica_set_name(port: int, log: IO[bytes]) -> str:
    """The replica set name the listening server reports in `hello` ("" if none)."""
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
        HOST, port, directConnection=True, serverSelectionTimeoutMS=10_000
    )
    try:
        hello = await client.admin.command("hello")
    except PyMongoError as error:
        _unavailable(f"SecantusDB did not answer hello: {error}\n{_log_tail(log)}")
    finally:
        await client.close()
    return str(hello.get("setName") or "")


async def _stop(process: asyncio.subprocess.Process) -> None:
    """SIGTERM the stand-in's process group (it was started as its own session leader), wait,
    and SIGKILL it if it has not gone after a while."""
    if process.returncode is None:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), STOP_TIMEOUT_SECONDS)
    except TimeoutError:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        await process.wait()


@asynccontextmanager
async def mongo_server() -> AsyncIterator[str]:
    """The URL of a MongoDB replica set for the tests, running until the context exits."""
    external = os.environ.get("TEST_MONGO_URL")
    if external:
        yield external
        return

    executable = _standin_executable()
    if executable is None:
        _unavailable(
            f"no MongoDB for the tests: TEST_MONGO_URL is not set and {STANDIN_COMMAND} is "
            "not installed (pip install 'SecantusDB==0.7.0b3')"
        )
    # Our own data directory rather than `--storage-path :memory:` (a temp dir the server
    # removes only on a clean shutdown): this one goes even if the server has to be killed.
    with (
        tempfile.TemporaryDirectory(prefix="encore-secantus-") as data_dir,
        tempfile.TemporaryFile(prefix="encore-secantus-", suffix=".log") as log,
    ):
        port = _free_port()
        command = [executable, "--host", HOST, "--port", str(port)]
        command += ["--storage-path", data_dir, "--log-level", "WARNING"]
        try:
            process = await asyncio.create_subprocess_exec(
                *command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stopped as a whole
            )
        except OSError as error:
            _unavailable(f"SecantusDB could not be started ({command[0]}): {error}")
        try:
            await _wait_until_listening(port, process, log)
            set_name = await _replica_set_name(port, log)
            # Name the replica set when there is one: the driver then treats the server as
            # a primary (transactions, majority writes) exactly as with a real replica set.
            options = f"replicaSet={set_name}" if set_name else "directConnection=true"
            yield f"mongodb://{HOST}:{port}/?{options}"
        finally:
            await _stop(process)
