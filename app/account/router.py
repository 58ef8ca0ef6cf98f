from __future__ import annotations

from fastapi import APIRouter

from app.api import API_PREFIX
from app.checkout.schemas import OrderList, TicketList
from app.checkout.service import order_read, ticket_read
from app.deps import CurrentUser, StoreDep
from app.errors import NotAuthenticated, error_responses
from app.storage.records import OrderStatus

router = APIRouter(prefix=f"{API_PREFIX}/me", tags=["account"])

HISTORY_LIMIT = 200


@router.get("/orders", response_model=OrderList, responses=error_responses(NotAuthenticated))
async def my_orders(user: CurrentUser, store: StoreDep) -> OrderList:
    """Your booking history, newest first."""
    orders = await store.orders.list_for_user(user.id, HISTORY_LIMIT)
    tickets = await store.tickets.list_for_orders([o.id for o in orders])
    return OrderList(items=[order_read(o, tickets) for o in orders])


@router.get("/tickets", response_model=TicketList, responses=error_responses(NotAuthenticated))
async def my_tickets(user: CurrentUser, store: StoreDep) -> TicketList:
    """Your tickets for confirmed orders, newest first."""
    tickets = await store.tickets.list_for_user(user.id)
    orders = {o.id: o for o in await store.orders.list_for_user(user.id, HISTORY_LIMIT)}
    valid = [
        t
        for t in tickets
        if (o := orders.get(t.order_id)) is None or o.status is OrderStatus.CONFIRMED
    ]
    return TicketList(items=[ticket_read(t) for t in valid])
