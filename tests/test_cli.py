from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path}/cli.db"
    env["APP_ENV"] = "test"
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_cli_creates_an_admin_and_seeds_demo_concerts_once(tmp_path: Path) -> None:
    made = _run(tmp_path, "create-admin", "--email", "Boss@Example.com", "--password", "pw-123456")
    assert made.returncode == 0, made.stderr
    assert "Admin ready: boss@example.com" in made.stdout
    again = _run(tmp_path, "create-admin", "--email", "boss@example.com", "--password", "pw-123456")
    assert again.returncode == 0, again.stderr

    seeded = _run(tmp_path, "seed-demo")
    assert seeded.returncode == 0, seeded.stderr
    assert seeded.stdout.count("Created") == 3
    twice = _run(tmp_path, "seed-demo")
    assert "nothing seeded" in twice.stdout


def test_cli_refuses_a_short_password(tmp_path: Path) -> None:
    r = _run(tmp_path, "create-admin", "--email", "a@example.com", "--password", "short")
    assert r.returncode == 2
    assert "at least 8" in r.stderr


def test_worker_sweeps_expired_holds_and_stops_on_sigterm(tmp_path: Path) -> None:
    """`python -m app worker` alone (no web process) releases an expired hold."""
    import signal
    import time
    import uuid

    from app.platform.redis import build_redis
    from app.seats.engine import Held, SeatEngine
    from tests.conftest import TEST_REDIS_URL

    # Another Redis database than the test session's app, whose own in-process sweeper would
    # otherwise release the hold and hide a worker that does nothing.
    redis_url = TEST_REDIS_URL.rsplit("/", 1)[0] + "/3"
    env = dict(os.environ, APP_ENV="test", REDIS_URL=redis_url, LOG_LEVEL="INFO")
    env["SWEEPER_INTERVAL_SECONDS"] = "0.1"
    env["DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path}/worker.db"
    concert = f"worker-{uuid.uuid4().hex}"

    async def hold_briefly() -> None:
        redis = build_redis(redis_url, 5.0)
        engine = SeatEngine(redis)
        await engine.load(concert, "AAAA", {}, {})
        assert isinstance(await engine.hold(concert, "h1", "u1", [2], cap=4, ttl_ms=300), Held)
        await redis.aclose()

    async def seats() -> str:
        redis = build_redis(redis_url, 5.0)
        try:
            return (await SeatEngine(redis).snapshot(concert)).seats
        finally:
            await redis.aclose()

    proc = subprocess.Popen(
        [sys.executable, "-m", "app", "worker"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        # Wait until the worker runs its jobs (and has its signal handlers) before testing it.
        started = time.monotonic()
        seen = ""
        while seen.count("job started") < 2:
            assert time.monotonic() - started < 30, f"the worker did not start: {seen}"
            seen += proc.stdout.readline()
        asyncio.run(hold_briefly())
        deadline = time.monotonic() + 10
        while asyncio.run(seats()) != "AAAA":
            assert time.monotonic() < deadline, "the worker did not release the expired hold"
            time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "hold sweeper" in seen
    assert "order expiry" in seen
    assert "worker stopped" in out


def test_verify_ticket_accepts_genuine_codes_and_refuses_forgeries(tmp_path: Path) -> None:
    from app.checkout.tickets import TicketSigner

    secret = "s" * 40
    env = dict(os.environ, APP_ENV="test", TICKET_SECRET=secret)
    code = TicketSigner(secret, "encore").sign("t1", "o1", "c1", "floor-A-1")

    def verify(value: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "app", "verify-ticket", value],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    ok = verify(code)
    assert ok.returncode == 0, ok.stderr
    assert "VALID ticket t1: seat floor-A-1 of concert c1 (order o1)" in ok.stdout
    forged = TicketSigner("x" * 40, "encore").sign("t1", "o1", "c1", "floor-A-1")
    for bad in (forged, code[:-2] + "xx", "garbage"):
        refused = verify(bad)
        assert refused.returncode == 1
        assert "INVALID" in refused.stderr


async def test_create_tables_makes_the_dynamodb_tables_once() -> None:
    """`python -m app create-tables` against the DynamoDB API (moto) is idempotent."""
    from tests.servers.dynamodb import dynamodb_server

    async with dynamodb_server() as endpoint:
        env = dict(os.environ, APP_ENV="test", DYNAMODB_ENDPOINT=endpoint)
        env["DYNAMODB_TABLE_PREFIX"] = "cli-test-"
        env.setdefault("AWS_ACCESS_KEY_ID", "test")
        env.setdefault("AWS_SECRET_ACCESS_KEY", "test")
        for _ in range(2):
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "app",
                "create-tables",
                env=env,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            out, err = await asyncio.wait_for(proc.communicate(), 120)
            assert proc.returncode == 0, err.decode()
            assert "ready: cli-test-seat_sales" in out.decode()
