from __future__ import annotations

from app.errors import Conflict, NotFound


class InvalidOrderTransition(Conflict):
    detail = "The order can't change that way in its current state."


class OrderNotFound(NotFound):
    detail = "No such order (or it is not yours)."
