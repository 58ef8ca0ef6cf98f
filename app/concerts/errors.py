from __future__ import annotations

from app.errors import Conflict, NotFound


class ConcertNotFound(NotFound):
    detail = "No concert with this id."


class LayoutLocked(Conflict):
    detail = "Seats of this concert are already sold, so its layout and prices can't change."


class ConcertConflict(Conflict):
    detail = "The concert was changed by someone else at the same time; reload and retry."
