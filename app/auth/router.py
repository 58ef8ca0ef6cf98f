from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, Response, status

from app.api import API_PREFIX
from app.auth.errors import (
    EmailAlreadyVerified,
    EmailTaken,
    InvalidCredentials,
    InvalidVerificationToken,
)
from app.auth.limits import LoginEmailLimit, TokenUsernameLimit, limit_password_check
from app.auth.schemas import (
    AccessToken,
    AuthResult,
    EmailVerified,
    LoginRequest,
    LogoutRequest,
    PasswordChange,
    RefreshRequest,
    SignupRequest,
    TokenPair,
    UserRead,
    VerificationSent,
    VerifyEmailRequest,
)
from app.deps import AccountsDep, ContainerDep, CurrentUser, SessionsDep
from app.errors import NotAuthenticated, error_responses
from app.platform.ratelimit import RateLimited, route_limits

router = APIRouter(prefix=f"{API_PREFIX}/auth", tags=["auth"])
# Sign-in counts in a stricter window per address instead of the general one.
SIGN_IN_LIMITS = route_limits(ip="auth")


async def _no_store(response: Response) -> None:
    """Answers that carry tokens are never stored by a browser or a proxy (RFC 6749, 5.1)."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"


NoStore = Depends(_no_store)

# OpenAPI links (documentation only): what a client, or Schemathesis' stateful phase, does next
# with the tokens a response carries.
_BEARER = "Bearer {$response.body#/access_token}"
_TOKEN_LINKS = {
    "GetMe": {
        "operationId": "me_api_v1_auth_me_get",
        "parameters": {"header.Authorization": _BEARER},
        "description": "The account the access token belongs to.",
    },
    "Refresh": {
        "operationId": "refresh_api_v1_auth_refresh_post",
        "requestBody": {"refresh_token": "$response.body#/refresh_token"},
        "description": "Trade the refresh token for a new pair (once: it rotates).",
    },
    "MyOrders": {
        "operationId": "my_orders_api_v1_me_orders_get",
        "parameters": {"header.Authorization": _BEARER},
        "description": "The account's booking history.",
    },
}


@router.post(
    "/signup",
    openapi_extra=SIGN_IN_LIMITS,
    response_model=AuthResult,
    status_code=status.HTTP_201_CREATED,
    responses={
        201: {"description": "Signed up and logged in", "links": _TOKEN_LINKS},
        **error_responses(EmailTaken, RateLimited),
    },
    dependencies=[LoginEmailLimit, NoStore],
)
async def signup(body: SignupRequest, sessions: SessionsDep) -> AuthResult:
    """Create an account and log it in. Safe to retry: the same email and password again
    within minutes log that account in (201) instead of 409 EmailTaken."""
    return await sessions.signup(body.email, body.password, body.name)


@router.post(
    "/login",
    openapi_extra=SIGN_IN_LIMITS,
    response_model=AuthResult,
    responses={
        200: {"description": "Logged in", "links": _TOKEN_LINKS},
        **error_responses(InvalidCredentials, RateLimited),
    },
    dependencies=[LoginEmailLimit, NoStore],
)
async def login(body: LoginRequest, sessions: SessionsDep) -> AuthResult:
    """Log in with email and password."""
    return await sessions.login(body.email, body.password)


@router.post(
    "/token",
    openapi_extra=SIGN_IN_LIMITS,
    response_model=AccessToken,
    responses=error_responses(InvalidCredentials, RateLimited),
    dependencies=[TokenUsernameLimit, NoStore],
)
async def token(
    username: Annotated[str, Form(max_length=254)],
    password: Annotated[str, Form(max_length=128)],
    sessions: SessionsDep,
) -> AccessToken:
    """OAuth2 password flow (the Swagger UI "Authorize" button); `username` is the email."""
    return await sessions.password_grant(username, password)


@router.post(
    "/refresh",
    openapi_extra=SIGN_IN_LIMITS,
    response_model=TokenPair,
    responses={
        200: {"description": "A new token pair", "links": _TOKEN_LINKS},
        **error_responses(NotAuthenticated, RateLimited),
    },
    dependencies=[NoStore],
)
async def refresh(body: RefreshRequest, sessions: SessionsDep) -> TokenPair:
    """Trade a refresh token for a new pair; the old refresh token stops working."""
    return await sessions.refresh(body.refresh_token)


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(NotAuthenticated, RateLimited),
)
async def logout(body: LogoutRequest, sessions: SessionsDep) -> Response:
    """Log out: the refresh token's login ends (every token rotated from it). Send any
    refresh token of the login, even a used or expired one; access tokens already issued
    work until they expire (15 minutes by default)."""
    await sessions.logout(body.refresh_token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/password",
    openapi_extra=SIGN_IN_LIMITS,
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(NotAuthenticated, InvalidCredentials, RateLimited),
)
async def change_password(
    body: PasswordChange,
    user: CurrentUser,
    request: Request,
    accounts: AccountsDep,
) -> Response:
    """Change your password. Every login of the account ends (its refresh tokens stop
    working): log in again with the new password. A wrong current password counts in the
    account's login window, like a failed login."""
    account = await accounts.account(user.id)
    await limit_password_check(request, account.email)
    await accounts.change_password(account, body.current_password, body.new_password)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/me", response_model=UserRead, responses=error_responses(NotAuthenticated))
async def me(user: CurrentUser, accounts: AccountsDep) -> UserRead:
    """The logged-in account."""
    return await accounts.me(user.id)


@router.post(
    "/verify-email",
    openapi_extra=SIGN_IN_LIMITS,
    response_model=EmailVerified,
    responses=error_responses(InvalidVerificationToken, RateLimited),
)
async def verify_email(body: VerifyEmailRequest, c: ContainerDep) -> EmailVerified:
    """Verify the account's email address with the `token` of the link mailed to it (no login
    needed: the link may be opened on another device). Idempotent: the same link again answers
    200 with the first verification's time. 400 InvalidVerificationToken when the link is
    changed, expired (EMAIL_VERIFICATION_TTL_SECONDS, 48 h by default) or was sent to an
    address the account no longer uses."""
    user = await c.verification.verify(body.token)
    assert user.email_verified_at is not None  # verify() answers verified accounts only
    return EmailVerified(email=user.email, email_verified_at=user.email_verified_at)


@router.post(
    "/verify-email/resend",
    # Its own windows: RATE_LIMIT_VERIFY_RESEND_PER_USER and _PER_IP (3 and 20 an hour).
    openapi_extra=route_limits(ip="verify_resend_ip", user="verify_resend"),
    status_code=status.HTTP_202_ACCEPTED,
    response_model=VerificationSent,
    responses=error_responses(NotAuthenticated, EmailAlreadyVerified, RateLimited),
)
async def resend_verification(user: CurrentUser, c: ContainerDep) -> VerificationSent:
    """Mail a new verification link to the logged-in account's address (it arrives within a
    minute or so; earlier links keep working until they expire). 409 EmailAlreadyVerified when
    there is nothing to verify; 429 when asked too often."""
    account = await c.verification.resend(user.id)
    hours = int(c.verification.tokens.ttl.total_seconds() // 3600)
    return VerificationSent(email=account.email, valid_hours=hours)
