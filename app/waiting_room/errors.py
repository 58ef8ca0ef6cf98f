"""Waiting-room errors, rendered by app.errors."""

from __future__ import annotations

from app.errors import Conflict, Forbidden, NotFound


class QueuePassRequired(Forbidden):
    detail = (
        "This on-sale has a waiting room: join the queue and send the pass you get as the "
        "X-Queue-Pass header."
    )


class QueueNotEnabled(Conflict):
    detail = "This concert has no waiting room: go straight to seat selection."


class QueueNotOpen(Conflict):
    detail = "This concert's waiting room is not open yet; come back when it opens."


class QueueNotJoined(NotFound):
    detail = "You are not in this concert's queue: join it with POST first."
