from __future__ import annotations

from app.errors import AppError, Conflict


class EmailTaken(Conflict):
    detail = "An account with this email already exists; log in instead."


class InvalidCredentials(AppError):
    status_code = 401
    detail = "Email or password is wrong."
    headers = {"WWW-Authenticate": "Bearer"}


class InvalidVerificationToken(AppError):
    status_code = 400
    detail = (
        "This verification link is not valid (it may be cut short or changed). Open the link "
        "from the newest mail, or log in and ask for a new one on your account page."
    )


class EmailAlreadyVerified(Conflict):
    detail = "Your email address is already verified: there is nothing more to do."
