from __future__ import annotations

from fastapi import APIRouter

from app.api import API_PREFIX
from app.checkout.schemas import OrderList, TicketList
from app.deps import CheckoutDep, CurrentUser
from app.errors import NotAuthenticated, error_responses

router = APIRouter(prefix=f"{API_PREFIX}/me", tags=["account"])


@router.get("/orders", response_model=OrderList, responses=error_responses(NotAuthenticated))
async def my_orders(user: CurrentUser, checkout: CheckoutDep) -> OrderList:
    """Your booking history, newest first."""
    return await checkout.orders_of(user.id)


@router.get("/tickets", response_model=TicketList, responses=error_responses(NotAuthenticated))
async def my_tickets(user: CurrentUser, checkout: CheckoutDep) -> TicketList:
    """Your tickets for confirmed orders, newest first."""
    return await checkout.tickets_of(user.id)
