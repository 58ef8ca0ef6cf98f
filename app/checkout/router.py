from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from app.api import API_PREFIX
from app.checkout.errors import (
    InvalidOrderTransition,
    OrderNotFound,
    OrderNotPayable,
    TicketsNotIssued,
)
from app.checkout.report import COLUMNS, report_filename
from app.checkout.schemas import CheckoutRequest, CheckoutResult, OrderRead, PaymentRead
from app.checkout.service import CheckoutCreated
from app.concerts.errors import ConcertNotFound
from app.deps import AdminUser, CheckoutDep, CurrentUser, IdempotencyDep
from app.errors import Forbidden, NotAuthenticated, error_responses
from app.payments.errors import PaymentProviderUnavailable
from app.platform.idempotency import IDEMPOTENCY_ERRORS, IdempotencyKeyHeader, Reply
from app.seats.errors import HoldNotFound, SaleNotOpen
from app.storage.records import Concert
from app.waiting_room.errors import QueuePassRequired
from app.waiting_room.passes import QueuePassHeader
from app.waiting_room.service import WaitingRoom

router = APIRouter(prefix=API_PREFIX, tags=["checkout"])

# OpenAPI links (documentation only): what the buyer does next with an order; Schemathesis'
# stateful phase follows them.
_ORDER_LINKS = {
    "GetOrder": {
        "operationId": "get_order_api_v1_orders__order_id__get",
        "parameters": {"order_id": "$response.body#/order/id"},
        "description": "The order, with its tickets once paid.",
    },
    "GetOrderPayment": {
        "operationId": "get_order_payment_api_v1_orders__order_id__payment_get",
        "parameters": {"order_id": "$response.body#/order/id"},
        "description": "Pay it from another tab or device.",
    },
    "CancelOrder": {
        "operationId": "cancel_order_api_v1_orders__order_id__cancel_post",
        "parameters": {"order_id": "$response.body#/order/id"},
        "description": "Cancel it while it waits for payment.",
    },
    "PaySimulated": {
        "operationId": (
            "confirm_simulated_payment_api_v1_payments_simulated__payment_intent_id__confirm_post"
        ),
        "parameters": {"payment_intent_id": "$response.body#/payment/payment_intent_id"},
        "description": "Pay (simulated provider only).",
    },
}


@router.post(
    "/checkout",
    response_model=CheckoutResult,
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {
            "model": CheckoutResult,
            "description": "The hold was already checked out",
            "links": _ORDER_LINKS,
        },
        201: {"description": "Order created", "links": _ORDER_LINKS},
        **error_responses(
            NotAuthenticated,
            HoldNotFound,
            SaleNotOpen,
            QueuePassRequired,
            PaymentProviderUnavailable,
            *IDEMPOTENCY_ERRORS,
        ),
    },
)
async def checkout(
    body: CheckoutRequest,
    request: Request,
    user: CurrentUser,
    checkout: CheckoutDep,
    idempotency: IdempotencyDep,
    idem_key: IdempotencyKeyHeader = None,
    queue_pass: QueuePassHeader = None,
) -> Response:
    """Turn your hold into an order and a payment; the same hold again returns the same order.
    When the concert's waiting room is on, send your admission pass as `X-Queue-Pass`."""
    room: WaitingRoom = request.app.state.container.waiting_room

    async def admit(concert: Concert) -> None:
        await room.require_pass(concert, user.id, queue_pass)

    async def call() -> Reply:
        result = await checkout.checkout(user.id, body.hold_id, admit)
        created = isinstance(result, CheckoutCreated)
        return Reply(result, status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    return await idempotency.run(
        user_id=user.id, key=idem_key, request=request, call=call, status_code=201
    )


@router.get(
    "/orders/{order_id}",
    response_model=OrderRead,
    responses=error_responses(NotAuthenticated, OrderNotFound),
)
async def get_order(order_id: str, user: CurrentUser, checkout: CheckoutDep) -> OrderRead:
    """One of your orders, with its tickets once confirmed."""
    return await checkout.get_order(user.id, order_id)


@router.get(
    "/orders/{order_id}/payment",
    response_model=PaymentRead,
    responses=error_responses(
        NotAuthenticated, OrderNotFound, OrderNotPayable, PaymentProviderUnavailable
    ),
)
async def get_order_payment(
    order_id: str, response: Response, user: CurrentUser, checkout: CheckoutDep
) -> PaymentRead:
    """What you need to pay one of your orders still waiting for payment, from any tab or
    device: the payment intent and its client secret for Stripe's Payment Element, or the
    simulated provider's pay button (`confirm_path`). Always the order's one intent. 409
    `OrderNotPayable` once there is nothing left to pay (paid, expired, cancelled, failed,
    refunded, or its payment window is over)."""
    response.headers["Cache-Control"] = "no-store"  # a client secret: never kept by a cache
    return await checkout.payment_of(user.id, order_id)


@router.get(
    "/orders/{order_id}/tickets.pdf",
    response_class=Response,
    responses={
        200: {
            "content": {"application/pdf": {}},
            "description": "The tickets: one page per ticket, its code as a QR code",
        },
        **error_responses(NotAuthenticated, OrderNotFound, TicketsNotIssued),
    },
)
async def get_order_tickets_pdf(
    order_id: str, user: CurrentUser, checkout: CheckoutDep
) -> Response:
    """The tickets of one of your confirmed orders as a PDF to print or show at the door: one
    page per ticket with the concert, the venue, the local time, the seat, your name and the
    ticket's code as a QR code. 409 `TicketsNotIssued` while the order is not paid, or once it
    was refunded."""
    pdf = await checkout.tickets_pdf(user.id, order_id)
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="tickets-{order_id}.pdf"',
            "Cache-Control": "private, no-store",
        },
    )


@router.get(
    "/orders/{order_id}/calendar.ics",
    response_class=Response,
    responses={
        200: {
            "content": {"text/calendar": {}},
            "description": "The show as one calendar event (iCalendar, RFC 5545)",
        },
        **error_responses(NotAuthenticated, OrderNotFound, TicketsNotIssued),
    },
)
async def get_order_calendar(
    order_id: str, request: Request, user: CurrentUser, checkout: CheckoutDep
) -> Response:
    """The show of one of your confirmed orders as an .ics file to add to a calendar (the one
    the confirmation mail attaches): the start and the venue, your seats and a link back to the
    order. Adding it again updates the same entry. 409 `TicketsNotIssued` while the order is not
    paid, or once it was refunded."""
    settings = request.app.state.container.settings
    ics = await checkout.calendar(user.id, order_id, settings.public_base_url)
    return Response(
        ics,
        media_type="text/calendar; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="concert-{order_id}.ics"',
            "Cache-Control": "private, no-store",
        },
    )


@router.post(
    "/orders/{order_id}/cancel",
    response_model=OrderRead,
    responses=error_responses(NotAuthenticated, OrderNotFound, InvalidOrderTransition),
)
async def cancel_order(order_id: str, user: CurrentUser, checkout: CheckoutDep) -> OrderRead:
    """Cancel an order still waiting for payment; its seats are freed."""
    return await checkout.cancel(user.id, order_id)


@router.post(
    "/orders/{order_id}/refund",
    response_model=OrderRead,
    responses=error_responses(
        NotAuthenticated,
        Forbidden,
        OrderNotFound,
        InvalidOrderTransition,
        PaymentProviderUnavailable,
    ),
)
async def refund_order(order_id: str, _: AdminUser, checkout: CheckoutDep) -> OrderRead:
    """Organisers: refund a confirmed order in full. The payment is refunded once at the
    provider (asking again answers the refunded order), the tickets no longer admit anyone at
    the door, and the seats go back on sale."""
    return await checkout.refund(order_id)


@router.get(
    "/concerts/{concert_id}/report.csv",
    tags=["concerts"],
    response_class=Response,
    responses={
        200: {
            "content": {"text/csv": {}},
            "description": "One row per ticket: " + ", ".join(COLUMNS),
        },
        **error_responses(NotAuthenticated, Forbidden, ConcertNotFound),
    },
)
async def get_sales_report(concert_id: str, _: AdminUser, checkout: CheckoutDep) -> Response:
    """The concert's sales (organisers): one CSV row per ticket issued, with the order, the
    buyer's email, the seat, its price, whether it is valid, checked in or refunded, and when
    it was paid and refunded."""
    concert, report = await checkout.sales_report(concert_id)
    return Response(
        report,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{report_filename(concert)}"',
            "Cache-Control": "private, no-store",
        },
    )
