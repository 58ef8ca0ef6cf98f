"""The sign-in routes' own limits: password guesses count per account (the email) as well as
per address, so guesses spread over many addresses still get a few tries per account. They are
dependencies, as they need the parsed body; the windows are the rate limiter's
(app/platform/ratelimit.py, scope `login`, RATE_LIMIT_LOGIN_PER_EMAIL)."""

from __future__ import annotations

import hashlib

from fastapi import Depends, Request

from app.auth.emails import normalize_email
from app.platform.ratelimit import Hit, RateLimiter

__all__ = [
    "LoginEmailLimit",
    "TokenUsernameLimit",
    "limit_login_by_email",
    "limit_password_check",
    "limit_token_by_username",
]


def _email_subject(email: str) -> str:
    """A hash, so login emails do not sit in Redis key names; of the normalised address, so
    look-alike spellings of one account share its window (app/auth/emails.py)."""
    return hashlib.sha256(normalize_email(email).encode()).hexdigest()[:32]


async def _limit_login(request: Request, email: object) -> None:
    limiter: RateLimiter | None = getattr(request.app.state, "rate_limiter", None)
    if limiter is None or not isinstance(email, str) or not email.strip():
        return  # limits off, or a body the route will refuse with 422
    refusal = await limiter.check(Hit("login", _email_subject(email)))
    if refusal is not None:
        raise refusal


async def limit_login_by_email(request: Request) -> None:
    """POST /auth/login: the JSON body's `email` (FastAPI has read the body already)."""
    try:
        body = await request.json()
    except ValueError:
        return  # not JSON: the route refuses it with 422
    await _limit_login(request, body.get("email") if isinstance(body, dict) else None)


async def limit_password_check(request: Request, email: str) -> None:
    """A password checked outside a login (POST /auth/password) counts in the account's login
    window: a stolen access token gets no more guesses than a login form."""
    await _limit_login(request, email)


async def limit_token_by_username(request: Request) -> None:
    """POST /auth/token: the form's `username`, which is the email."""
    form = await request.form()
    await _limit_login(request, form.get("username"))


LoginEmailLimit = Depends(limit_login_by_email)
TokenUsernameLimit = Depends(limit_token_by_username)
