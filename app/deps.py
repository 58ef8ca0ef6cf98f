"""Annotated dependency aliases. Tests swap what they need with `app.dependency_overrides`.
Who is calling (`CurrentUser`, `AdminUser`) is decided in app/auth/principal.py.

Every dependency is `async def`: FastAPI runs a plain `def` dependency in the thread pool, and
the thread hops cost a large share of the hold throughput (docs/performance.md, "Figures moved
out of code comments")."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.auth.principal import AdminUser, CurrentUser, Principal
from app.auth.service import Accounts, Sessions
from app.checkout.service import Checkout
from app.checkout.transfer import TicketTransfers
from app.concerts.service import Concerts
from app.container import Container
from app.platform.idempotency import Idempotency
from app.seats.service import Seats
from app.seats.stream import SeatEventHub
from app.settings import Settings

__all__ = ["AdminUser", "CurrentUser", "Principal"]  # re-exported for the routers


async def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


ContainerDep = Annotated[Container, Depends(get_container)]


async def get_settings(c: ContainerDep) -> Settings:
    return c.settings


async def get_seat_events(c: ContainerDep) -> SeatEventHub:
    return c.seat_events


async def get_idempotency(c: ContainerDep) -> Idempotency:
    return c.idempotency


IdempotencyDep = Annotated[Idempotency, Depends(get_idempotency)]


async def get_seats(c: ContainerDep) -> Seats:
    return c.seats


SeatsDep = Annotated[Seats, Depends(get_seats)]


async def get_checkout(c: ContainerDep) -> Checkout:
    return c.checkout


CheckoutDep = Annotated[Checkout, Depends(get_checkout)]


async def get_transfers(c: ContainerDep) -> TicketTransfers:
    return c.transfers


TransfersDep = Annotated[TicketTransfers, Depends(get_transfers)]


async def get_concerts(c: ContainerDep) -> Concerts:
    return c.catalogue


ConcertsDep = Annotated[Concerts, Depends(get_concerts)]


async def get_accounts(c: ContainerDep) -> Accounts:
    return c.accounts


AccountsDep = Annotated[Accounts, Depends(get_accounts)]


async def get_sessions(c: ContainerDep) -> Sessions:
    return c.sessions


SessionsDep = Annotated[Sessions, Depends(get_sessions)]
SeatEventHubDep = Annotated[SeatEventHub, Depends(get_seat_events)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
