from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import EmailStr, Field, computed_field

from app.schemas import RequestBody, ResponseBody

# The rules of a new password, at signup and at a password change (argon2 never sees more).
NewPassword = Annotated[str, Field(min_length=8, max_length=128)]


class SignupRequest(RequestBody):
    email: EmailStr = Field(max_length=254)
    password: NewPassword
    name: str = Field(min_length=1, max_length=100)


class LoginRequest(RequestBody):
    email: str = Field(min_length=1, max_length=254)
    password: str = Field(min_length=1, max_length=128)


class RefreshRequest(RequestBody):
    refresh_token: str = Field(min_length=1, max_length=4096)


class LogoutRequest(RequestBody):
    refresh_token: str = Field(
        min_length=1, max_length=4096, description="Any refresh token of the login to end."
    )


class PasswordChange(RequestBody):
    current_password: str = Field(min_length=1, max_length=128)
    new_password: NewPassword


class UserRead(ResponseBody):
    id: str
    email: str
    name: str
    role: Literal["user", "admin"]
    email_verified_at: datetime | None = Field(
        default=None, description="When the address was verified (null: not yet)."
    )

    @computed_field  # type: ignore[prop-decorator]  # pydantic's documented use
    @property
    def email_verified(self) -> bool:
        """Whether the address was verified (the link mailed at signup, or sent again with
        POST /auth/verify-email/resend)."""
        return self.email_verified_at is not None


class VerifyEmailRequest(RequestBody):
    token: str = Field(min_length=1, max_length=4096, description="The `token` of the link.")


class EmailVerified(ResponseBody):
    email: str
    email_verified: Literal[True] = True
    email_verified_at: datetime


class VerificationSent(ResponseBody):
    email: str = Field(description="Where the link goes.")
    valid_hours: int = Field(description="How long the link works.")


class TokenPair(ResponseBody):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds until the access token expires.")


class AuthResult(TokenPair):
    user: UserRead


class AccessToken(ResponseBody):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
