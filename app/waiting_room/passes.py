"""Admission passes: short-lived JWTs with their own key and `typ`, bound to a concert and a user.

The key is derived from the JWT secret with HMAC and a fixed label, so a pass can never pass for
an access token (or a ticket), and vice versa, and there is no extra secret to manage. Checking
the signature is pure CPU; whether the holder is still an active shopper is asked of Redis
afterwards (WaitingRoom.require_pass), with the queue state's epoch the pass carries (`qep`).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Annotated

import jwt
from fastapi import Header

PASS_TYP = "queue_pass"

MAX_PASS_LENGTH = 2048

QueuePassHeader = Annotated[
    str | None,
    Header(
        alias="X-Queue-Pass",
        max_length=MAX_PASS_LENGTH,
        description="Your admission pass, when the concert's waiting room is on.",
    ),
]
_ALGORITHM = "HS256"
EXPIRED = "the pass has expired; join the queue again"


@dataclass(frozen=True, slots=True)
class PassClaims:
    user_id: str
    concert_id: str
    expires_at_ms: int
    epoch: str = ""  # the queue state that issued it ('' for a pass from before epochs)


class InvalidPass(Exception):
    """Missing, forged, expired, for another concert or user, or its slot was freed; the
    message says which, in the buyer's words, and `code` names it for metrics."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


class PassSigner:
    def __init__(self, jwt_secret: str, issuer: str) -> None:
        self._key = hmac.new(jwt_secret.encode(), b"encore queue pass v1", hashlib.sha256).digest()
        self._issuer = issuer

    def sign(self, user_id: str, concert_id: str, expires_at_ms: int, epoch: str = "") -> str:
        claims = {
            "typ": PASS_TYP,
            "iss": self._issuer,
            "sub": user_id,
            "cid": concert_id,
            "exp": expires_at_ms // 1000,
            "xms": expires_at_ms,
            "qep": epoch,
        }
        return jwt.encode(claims, self._key, algorithm=_ALGORITHM)

    def verify(self, token: str | None, *, user_id: str, concert_id: str) -> PassClaims:
        if not token:
            raise InvalidPass("no X-Queue-Pass header", "missing")
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[_ALGORITHM],
                issuer=self._issuer,
                options={"require": ["typ", "iss", "sub", "cid", "exp"]},
            )
        except jwt.ExpiredSignatureError:
            raise InvalidPass(EXPIRED, "expired") from None
        except jwt.PyJWTError:
            raise InvalidPass("the pass is not genuine", "invalid") from None
        if claims["typ"] != PASS_TYP:
            raise InvalidPass("not a queue pass", "invalid")
        if claims["cid"] != concert_id:
            raise InvalidPass("the pass is for another concert", "another_concert")
        if claims["sub"] != user_id:
            raise InvalidPass("the pass belongs to another account", "another_account")
        epoch = claims.get("qep", "")
        return PassClaims(
            user_id=claims["sub"],
            concert_id=claims["cid"],
            expires_at_ms=int(claims.get("xms", claims["exp"] * 1000)),
            epoch=epoch if isinstance(epoch, str) else "",
        )
