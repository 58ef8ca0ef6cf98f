"""Admission passes: bound to a concert and a user, short-lived, and unforgeable."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest

from app.checkout.tickets import TicketSigner
from app.waiting_room.passes import InvalidPass, PassSigner

SECRET = "s" * 48
signer = PassSigner(SECRET, "encore")


def _later(seconds: float = 60) -> int:
    return int((time.time() + seconds) * 1000)


def test_a_genuine_pass_is_accepted() -> None:
    token = signer.sign("u1", "c1", _later())
    claims = signer.verify(token, user_id="u1", concert_id="c1")
    assert (claims.user_id, claims.concert_id) == ("u1", "c1")


@pytest.mark.parametrize(
    ("user", "concert", "reason"),
    [("u1", "c2", "another concert"), ("u2", "c1", "another account")],
)
def test_a_pass_for_another_concert_or_user_is_refused(
    user: str, concert: str, reason: str
) -> None:
    token = signer.sign("u1", "c1", _later())
    with pytest.raises(InvalidPass, match=reason):
        signer.verify(token, user_id=user, concert_id=concert)


def test_an_expired_pass_is_refused() -> None:
    token = signer.sign("u1", "c1", _later(-5))
    with pytest.raises(InvalidPass, match="expired"):
        signer.verify(token, user_id="u1", concert_id="c1")


def _unsigned(claims: dict[str, object]) -> str:
    """An `alg: none` token: header and claims, no signature."""

    def part(value: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def _forged() -> list[str]:
    claims = {
        "typ": "queue_pass",
        "iss": "encore",
        "sub": "u1",
        "cid": "c1",
        "exp": int(time.time()) + 60,
    }
    return [
        jwt.encode(claims, "another-secret-of-enough-length-000000", algorithm="HS256"),
        jwt.encode(claims, SECRET, algorithm="HS256"),  # the JWT key itself is not the pass key
        _unsigned(claims),
        jwt.encode({**claims, "typ": "access"}, signer._key, algorithm="HS256"),
        TicketSigner(SECRET, "encore").sign("t", "o", "c1", "s"),
        "not-a-token",
        "",
    ]


@pytest.mark.parametrize("token", _forged())
def test_forged_passes_are_refused(token: str) -> None:
    with pytest.raises(InvalidPass):
        signer.verify(token, user_id="u1", concert_id="c1")


def test_no_pass_is_refused() -> None:
    with pytest.raises(InvalidPass, match="no X-Queue-Pass"):
        signer.verify(None, user_id="u1", concert_id="c1")
