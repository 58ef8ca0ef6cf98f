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


class QueueChallengeOff(Conflict):
    detail = "This concert's waiting room asks for no challenge: join it without one."


class ChallengeRequired(Forbidden):
    detail = (
        "This waiting room first checks that your device did a small puzzle: let the page "
        "finish the check, then join again."
    )


class ChallengeFailed(Forbidden):
    detail = (
        "The check your device did is not valid here (it expired, was already used, or was "
        "made for another concert): reload the page to do a new one, then join again."
    )
