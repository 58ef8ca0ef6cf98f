"""The ASGI app: `app.main:app`, built by `create_app()`."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from pydantic import ValidationError

from app.auth import service as auth_service
from app.auth.passwords import PasswordHasher
from app.auth.router import router as auth_router
from app.auth.tokens import TokenService
from app.concerts.cache import ConcertCache
from app.concerts.demo import seed_demo
from app.concerts.router import router as concerts_router
from app.container import Container
from app.docs import install_docs
from app.errors import install_error_handlers
from app.ops import router as ops_router
from app.platform.idempotency import Idempotency
from app.platform.logging import configure_logging
from app.platform.middleware import RequestContextMiddleware
from app.platform.redis import build_redis
from app.reservations.engine import SeatEngine
from app.seats.router import router as seats_router
from app.seats.seatmap import SeatMapCache
from app.seats.state import SeatState
from app.seats.stream import SeatEventHub
from app.settings import Settings, UnsafeConfiguration, load_settings
from app.storage.factory import build_store
from app.workers.sweeper import HoldSweeper

log = logging.getLogger(__name__)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    store = build_store(settings)
    redis = build_redis(
        settings.redis_url, settings.redis_timeout_seconds, settings.redis_max_connections
    )
    engine = SeatEngine(redis)
    container = Container(
        settings=settings,
        redis=redis,
        store=store,
        tokens=TokenService(settings),
        passwords=PasswordHasher(),
        concerts=ConcertCache(settings.concert_cache_ttl_seconds),
        engine=engine,
        seat_state=SeatState(engine, store),
        seat_maps=SeatMapCache(),
        seat_events=SeatEventHub(redis),
        idempotency=Idempotency(redis),
    )
    background: list[asyncio.Task[None]] = []
    try:
        await store.initialize()
        if settings.admin_email and settings.admin_password:
            admin = await auth_service.ensure_admin(
                store,
                container.passwords,
                settings.admin_email,
                settings.admin_password.get_secret_value(),
            )
            log.info("admin account ensured", extra={"email": admin.email})
        if settings.seed_demo:
            seeded = await seed_demo(store, container.concerts)
            if seeded:
                log.info("seeded demo concerts", extra={"count": len(seeded)})
        app.state.container = container
        if settings.sweeper_in_process:
            sweeper = HoldSweeper(engine, settings.sweeper_interval_seconds)
            background.append(asyncio.create_task(sweeper.run(), name="hold-sweeper"))
        log.info(
            "service started",
            extra={"env": settings.app_env, "store": settings.store, "redis": settings.redis_url},
        )
        yield
    finally:
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        await container.seat_events.close()
        await redis.aclose()
        await store.close()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()
    configure_logging(settings.log_level, json_logs=settings.log_json)
    app = FastAPI(
        title=settings.app_name,
        version="0.1.0",
        description=(
            "Concert ticket on-sales: browse concerts, hold seats, pay, get tickets. "
            "Use **Authorize** with your email and password to call the protected routes."
        ),
        lifespan=lifespan,
        docs_url=None,  # served by install_docs, without a CDN
        redoc_url=None,
    )
    app.state.settings = settings
    install_error_handlers(app)
    install_docs(app)
    app.include_router(auth_router)
    app.include_router(concerts_router)
    app.include_router(seats_router)
    app.include_router(ops_router)
    if settings.cors_origin_list:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origin_list,
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "X-Queue-Pass"],
        )
    app.add_middleware(RequestContextMiddleware)
    return app


def _create_or_exit() -> FastAPI:
    try:
        return create_app()
    except (UnsafeConfiguration, ValidationError) as exc:
        # A clear message and a non-zero exit instead of a stack trace.
        sys.exit(f"Refusing to start: {exc}")


app = _create_or_exit()
