from __future__ import annotations

from app.errors import AppError, Conflict


class EmailTaken(Conflict):
    detail = "An account with this email already exists; log in instead."


class InvalidCredentials(AppError):
    status_code = 401
    detail = "Email or password is wrong."
    headers = {"WWW-Authenticate": "Bearer"}
