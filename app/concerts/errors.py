from __future__ import annotations

from app.errors import Conflict, NotFound


class ConcertNotFound(NotFound):
    detail = "No concert with this id."


class LayoutLocked(Conflict):
    detail = "Seats of this concert are already sold, so its layout and prices can't change."


class ConcertCancelled(Conflict):
    detail = "This concert is cancelled; it can't be changed or cancelled again."


class ConcertStarted(Conflict):
    detail = "This concert has already started, so it can't be cancelled any more."


class ConcertConflict(Conflict):
    detail = "The concert was changed by someone else at the same time; reload and retry."
