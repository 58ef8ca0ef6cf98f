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
from datetime import UTC, datetime, timedelta

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


def _capacity_plan(settings: Settings, args: argparse.Namespace) -> int:
    """Print (or apply) the scheduled scale-out of the API service around the on-sales."""
    from app.workers import capacity

    options = capacity.PlanOptions(
        peak=args.peak,
        baseline=args.baseline,
        max_capacity=args.max,
        lead=timedelta(minutes=args.lead_minutes),
        hold=timedelta(minutes=args.hold_minutes),
        within=timedelta(days=args.days),
    )
    problems = options.problems()
    if args.apply and not (args.cluster and args.service):
        problems.append("--apply needs --cluster and --service (the ECS service to scale).")
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 2

    async def work(store: Store) -> int:
        now = datetime.now(UTC)
        plan = capacity.make_plan(
            await capacity.upcoming_on_sales(store, now, options), options, now
        )
        print(capacity.render_json(plan) if args.json else capacity.render_table(plan), end="")
        if not args.apply:
            return 0
        try:
            applied = await capacity.apply_plan(
                plan,
                cluster=args.cluster,
                service=args.service,
                region=settings.aws_region,
                endpoint=args.endpoint_url,
            )
        except capacity.CapacityPlanError as exc:
            print(str(exc), file=sys.stderr)
            return 1
        print(capacity.describe_applied(applied), end="", file=sys.stderr if args.json else None)
        return 0

    return asyncio.run(_with_store(settings, work))


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
    plan = sub.add_parser(
        "capacity-plan",
        help="print (or --apply) scheduled scale-out of the API service before each on-sale",
    )
    plan.add_argument("--peak", type=int, required=True, help="tasks during an on-sale (minimum)")
    plan.add_argument("--baseline", type=int, required=True, help="tasks after it (minimum)")
    plan.add_argument(
        "--max", type=int, help="the service's maximum tasks (default: the target's, when applied)"
    )
    plan.add_argument("--days", type=float, default=30, help="on-sales this far ahead (30)")
    plan.add_argument("--lead-minutes", type=float, default=15, help="scale out this early (15)")
    plan.add_argument("--hold-minutes", type=float, default=60, help="stay out this long (60)")
    plan.add_argument("--json", action="store_true", help="the plan as JSON")
    plan.add_argument("--apply", action="store_true", help="write it to Application Auto Scaling")
    plan.add_argument("--cluster", help="the ECS cluster (with --apply)")
    plan.add_argument("--service", help="the ECS service (with --apply)")
    plan.add_argument("--endpoint-url", help="another Application Auto Scaling endpoint (tests)")
    plan.set_defaults(run=_capacity_plan)
    verify = sub.add_parser("verify-ticket", help="check a ticket code offline (exit 1 if forged)")
    verify.add_argument("code")
    verify.set_defaults(run=_verify_ticket)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = load_settings()
    run: Callable[[Settings, argparse.Namespace], int] = args.run
    return run(settings, args)
