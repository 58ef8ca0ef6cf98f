"""POST /tickets/{id}/transfer (app/checkout/transfer.py has the rules)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from app.api import API_PREFIX
from app.checkout.errors import (
    ReceiverOverLimit,
    TicketNotFound,
    TicketNotTransferable,
    UserNotFound,
)
from app.checkout.transfer import TransferRead, TransferRequest
from app.deps import CurrentUser, IdempotencyDep, TransfersDep
from app.errors import NotAuthenticated, error_responses
from app.platform.idempotency import IDEMPOTENCY_ERRORS, IdempotencyKeyHeader

router = APIRouter(prefix=API_PREFIX, tags=["checkout"])


@router.post(
    "/tickets/{ticket_id}/transfer",
    response_model=TransferRead,
    responses=error_responses(
        NotAuthenticated,
        TicketNotFound,
        UserNotFound,
        TicketNotTransferable,
        ReceiverOverLimit,
        *IDEMPOTENCY_ERRORS,
    ),
)
async def transfer_ticket(
    ticket_id: str,
    body: TransferRequest,
    request: Request,
    user: CurrentUser,
    transfers: TransfersDep,
    idempotency: IdempotencyDep,
    idem_key: IdempotencyKeyHeader = None,
) -> Response:
    """Give one of your tickets to someone with an account here, at no price. Their ticket
    gets a new code (mailed to them); the old one no longer admits at the door. Counts toward
    their ticket limit for the concert (409 `ReceiverOverLimit`). 404 `UserNotFound` if no
    account has this address; 409 `TicketNotTransferable` once refunded, used at the door or
    the show started; 422 for your own address. Send an `Idempotency-Key` to retry safely."""

    async def call() -> TransferRead:
        return await transfers.transfer(user.id, ticket_id, str(body.email))

    return await idempotency.run(
        user_id=user.id, key=idem_key, request=request, call=call, status_code=200
    )
