"""Command line: `python -m app <command>` (or the `encore` console script)."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence

import jwt

from app.auth.passwords import PasswordHasher
from app.auth.service import Accounts
from app.checkout.tickets import TicketSigner
from app.concerts.cache import ConcertCache
from app.concerts.demo import seed_demo
from app.concerts.service import Concerts
from app.container import build_container
from app.platform.logging import configure_logging
from app.platform.redis import build_redis
from app.seats.engine import SeatEngine
from app.settings import Settings, load_settings
from app.storage.factory import build_store
from app.storage.ports import Store
from app.workers.jobs import start_jobs
from app.workers.loop import stop_all


async def _with_store(settings: Settings, work: Callable[[Store], Awaitable[int]]) -> int:
    store = build_store(settings)
    try:
        await store.initialize()
        return await work(store)
    finally:
        await store.close()


def _create_admin(settings: Settings, args: argparse.Namespace) -> int:
    password = args.password or os.environ.get("ADMIN_PASSWORD") or getpass.getpass("Password: ")
    if len(password) < 8:
        print("The password needs at least 8 characters.", file=sys.stderr)
        return 2

    async def work(store: Store) -> int:
        user = await Accounts(store, PasswordHasher()).ensure_admin(args.email, password)
        print(f"Admin ready: {user.email} (id {user.id})")
        return 0

    return asyncio.run(_with_store(settings, work))


def _seed_demo(settings: Settings, _: argparse.Namespace) -> int:
    async def work(store: Store) -> int:
        # Seeding only writes concerts: the seat engine's Redis client is never connected.
        redis = build_redis(
            settings.redis_url, settings.redis_timeout_seconds, cluster=settings.redis_cluster
        )
        try:
            created = await seed_demo(Concerts(store, ConcertCache(0), SeatEngine(redis)))
        finally:
            await redis.aclose()
        if created:
            for concert in created:
                print(f"Created {concert.title!r} ({concert.seats_total} seats): {concert.id}")
        else:
            print("The store already has concerts; nothing seeded.")
        return 0

    return asyncio.run(_with_store(settings, work))


def _migrate(settings: Settings, _: argparse.Namespace) -> int:
    async def work(_: Store) -> int:
        print("The store is migrated and ready.")
        return 0

    return asyncio.run(_with_store(settings.model_copy(update={"db_auto_migrate": True}), work))


def _worker(settings: Settings, _: argparse.Namespace) -> int:
    """Background jobs outside the web processes (run app processes with
    SWEEPER_IN_PROCESS=false then). Stops on Ctrl-C / SIGTERM."""
    configure_logging(settings.log_level, json_logs=settings.log_json)

    async def work() -> None:
        container = build_container(settings)
        await container.store.initialize()
        tasks = start_jobs(container)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            await stop_all(tasks)
            await container.close()
            logging.getLogger(__name__).info("worker stopped")

    asyncio.run(work())
    return 0


def _verify_ticket(settings: Settings, args: argparse.Namespace) -> int:
    """What a door scanner does, offline: check a ticket code's signature with TICKET_SECRET."""
    signer = TicketSigner(settings.ticket_signing_secret, settings.jwt_issuer)
    try:
        claims = signer.verify(args.code.strip())
    except (jwt.PyJWTError, ValueError) as exc:
        print(f"INVALID: {exc}", file=sys.stderr)
        return 1
    print(
        f"VALID ticket {claims.ticket_id}: seat {claims.seat_id} of concert "
        f"{claims.concert_id} (order {claims.order_id})"
    )
    return 0


def _create_tables(settings: Settings, _: argparse.Namespace) -> int:
    """Create the DynamoDB tables (on-demand billing) if missing; idempotent."""
    from app.storage.dynamo import create_tables

    names = asyncio.run(
        create_tables(
            settings.dynamodb_endpoint, settings.aws_region, settings.dynamodb_table_prefix
        )
    )
    for name in names:
        print(f"ready: {name}")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m app", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    admin = sub.add_parser("create-admin", help="create an admin, or promote an existing account")
    admin.add_argument("--email", required=True)
    admin.add_argument("--password", help="default: $ADMIN_PASSWORD, else asked for")
    admin.set_defaults(run=_create_admin)
    seed = sub.add_parser("seed-demo", help="create demo concerts if the store has none")
    seed.set_defaults(run=_seed_demo)
    migrate = sub.add_parser("migrate", help="bring the store's schema up to date")
    migrate.set_defaults(run=_migrate)
    worker = sub.add_parser(
        "worker",
        help="run background jobs until stopped: hold and order expiry, warm-up, "
        "reconciliation (one process at a time, under a Redis lease)",
    )
    worker.set_defaults(run=_worker)
    tables = sub.add_parser(
        "create-tables", help="create the DynamoDB tables (DYNAMODB_* settings) if missing"
    )
    tables.set_defaults(run=_create_tables)
    verify = sub.add_parser("verify-ticket", help="check a ticket code offline (exit 1 if forged)")
    verify.add_argument("code")
    verify.set_defaults(run=_verify_ticket)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = load_settings()
    run: Callable[[Settings, argparse.Namespace], int] = args.run
    return run(settings, args)
