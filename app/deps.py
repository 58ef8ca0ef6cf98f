"""Annotated dependency aliases. Tests swap what they need with `app.dependency_overrides`.
Who is calling (`CurrentUser`, `AdminUser`) is decided in app/auth/principal.py.

Every dependency is `async def`: FastAPI runs a plain `def` dependency in the thread pool, and
the thread hops cost a large share of the hold throughput (docs/performance.md, "Figures moved
out of code comments")."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.auth.passwords import PasswordHasher
from app.auth.principal import AdminUser, CurrentUser, Principal
from app.auth.service import Accounts, Sessions
from app.auth.tokens import TokenService
from app.checkout.service import Checkout
from app.concerts.cache import ConcertCache
from app.concerts.service import Concerts
from app.container import Container
from app.events.publisher import EventPublisher
from app.platform.idempotency import Idempotency
from app.platform.redis import RedisClient
from app.seats.engine import SeatEngine
from app.seats.seatmap import SeatMapCache
from app.seats.service import Seats
from app.seats.state import SeatState
from app.seats.stream import SeatEventHub
from app.settings import Settings
from app.storage.ports import Store

__all__ = ["AdminUser", "CurrentUser", "Principal"]  # re-exported for the routers


async def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


ContainerDep = Annotated[Container, Depends(get_container)]


async def get_settings(c: ContainerDep) -> Settings:
    return c.settings


async def get_store(c: ContainerDep) -> Store:
    return c.store


async def get_redis(c: ContainerDep) -> RedisClient:
    return c.redis


async def get_tokens(c: ContainerDep) -> TokenService:
    return c.tokens


async def get_passwords(c: ContainerDep) -> PasswordHasher:
    return c.passwords


async def get_concert_cache(c: ContainerDep) -> ConcertCache:
    return c.concerts


async def get_engine(c: ContainerDep) -> SeatEngine:
    return c.engine


async def get_seat_state(c: ContainerDep) -> SeatState:
    return c.seat_state


async def get_seat_maps(c: ContainerDep) -> SeatMapCache:
    return c.seat_maps


async def get_seat_events(c: ContainerDep) -> SeatEventHub:
    return c.seat_events


async def get_idempotency(c: ContainerDep) -> Idempotency:
    return c.idempotency


IdempotencyDep = Annotated[Idempotency, Depends(get_idempotency)]


async def get_events(c: ContainerDep) -> EventPublisher:
    return c.events


EventsDep = Annotated[EventPublisher, Depends(get_events)]


async def get_seats(c: ContainerDep) -> Seats:
    return c.seats


SeatsDep = Annotated[Seats, Depends(get_seats)]


async def get_checkout(c: ContainerDep) -> Checkout:
    return c.checkout


CheckoutDep = Annotated[Checkout, Depends(get_checkout)]


async def get_concerts(c: ContainerDep) -> Concerts:
    return c.catalogue


ConcertsDep = Annotated[Concerts, Depends(get_concerts)]


async def get_accounts(c: ContainerDep) -> Accounts:
    return c.accounts


AccountsDep = Annotated[Accounts, Depends(get_accounts)]


async def get_sessions(c: ContainerDep) -> Sessions:
    return c.sessions


SessionsDep = Annotated[Sessions, Depends(get_sessions)]
SeatEngineDep = Annotated[SeatEngine, Depends(get_engine)]
SeatStateDep = Annotated[SeatState, Depends(get_seat_state)]
SeatMapsDep = Annotated[SeatMapCache, Depends(get_seat_maps)]
SeatEventHubDep = Annotated[SeatEventHub, Depends(get_seat_events)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[Store, Depends(get_store)]
RedisDep = Annotated[RedisClient, Depends(get_redis)]
TokensDep = Annotated[TokenService, Depends(get_tokens)]
PasswordsDep = Annotated[PasswordHasher, Depends(get_passwords)]
ConcertCacheDep = Annotated[ConcertCache, Depends(get_concert_cache)]
