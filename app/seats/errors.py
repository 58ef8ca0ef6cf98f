from __future__ import annotations

from app.errors import AppError, Conflict, NotFound


class SeatsUnavailable(Conflict):
    detail = "Some of these seats were just taken; nothing was held. Pick other seats."


class HoldLimitExceeded(Conflict):
    detail = "That would pass this concert's ticket limit per buyer."


class SaleNotOpen(Conflict):
    detail = "Tickets for this concert are not on sale now."


class UnknownSeats(AppError):
    status_code = 422
    detail = "Some seat ids do not exist in this concert's layout."


class HoldNotFound(NotFound):
    detail = (
        "No such hold: it expired, was released, was lost when seat availability restarted, "
        "or is not yours. Hold the seats again."
    )


class HoldCheckedOut(Conflict):
    detail = (
        "This hold is checked out: its seats belong to an order waiting for payment. Cancel the "
        "order (POST /api/v1/orders/{id}/cancel) to give the seats back, or pay for it."
    )
